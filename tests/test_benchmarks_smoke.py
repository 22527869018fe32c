"""Issue 7's benchmarks, in miniature: every one of them runs against the real servers and
leaves a complete, well-formed row in the table and in the JSON results. Timings are never
asserted here; `python -m benchmarks.run` is where they are read."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.cases import BENCHMARKS, QUICK
from benchmarks.run import machine, main, results, run, table

BENCHMARK_NAMES = {"latency": "latency", "latency-during-pass": "latency during a pass",
                   "latency-while-due": "latency while a book falls due",
                   "latency-during-backlog": "latency in a backlog",
                   "request-backlog": "request backlog",
                   "reply-backlog": "reply backlog", "memory": "memory",
                   "scheduling": "scheduling", "workbook": "workbook"}


@pytest.fixture(scope="module")
def quick_run(mail_servers):
    """Every benchmark once, at the smoke test's sizes, on the session's servers."""
    mail_servers.reset()
    rows, _work = run(list(BENCHMARKS), QUICK, servers=mail_servers)
    return rows


def test_every_benchmark_produces_rows(quick_run) -> None:
    assert set(BENCHMARKS) == set(BENCHMARK_NAMES)
    assert {row.benchmark for row in quick_run} == set(BENCHMARK_NAMES.values())


def test_each_row_has_a_figure_a_target_and_a_verdict(quick_run) -> None:
    for row in quick_run:
        assert math.isfinite(row.product), row
        assert row.unit and row.target and row.measure
        assert row.met in (True, False) or (row.target == "-" and row.met is None), row
        if row.floor is not None:
            assert row.floor > 0, row
            assert row.ratio == pytest.approx(row.product / row.floor)


def test_mail_moving_rows_are_measured_against_their_floor(quick_run) -> None:
    with_floor = {row.benchmark for row in quick_run if row.floor is not None}
    assert {"latency", "latency in a backlog", "request backlog", "reply backlog",
            "scheduling", "workbook"} <= with_floor
    latency = [row for row in quick_run if row.benchmark == "latency"]
    assert [len(row.details["product_ms"]) for row in latency] == [QUICK.latency_requests] * 2


def test_backlog_rows_say_where_the_cpu_and_memory_went(quick_run) -> None:
    """Each side's best run: CPU by group of processes (the service, its child processes,
    Dovecot, the relay) until its last mail was accepted, and the service's own peak RSS."""
    backlogs = [row for row in quick_run if row.benchmark in ("request backlog", "reply backlog")]
    assert len(backlogs) == 2
    for row in backlogs:
        assert "CPU on" in row.note and "peak RSS service" in row.note, row.note
        product = row.details["usage"]["product"]
        floor = row.details["usage"]["floor"]
        assert len(product) == len(floor) == len(row.details["product_seconds"])
        groups = {"Dovecot", "relay and harness", "other processes"}
        for used in product:
            # A few mails at these sizes: Dovecot's share can round to no clock tick at all.
            assert groups | {"service", "service's child processes"} == set(used["cpu_seconds"])
            assert used["cpu_seconds"]["service"] > 0
            assert used["cpu_seconds"]["service's child processes"] > 0  # the courier at least
            assert 20 < used["peak_rss_mb"]["service"] < 1000
        for used in floor:
            assert groups | {"floor", "floor's child processes"} == set(used["cpu_seconds"])
        # The floor moves a few mails here in a few clock ticks: one run may round to none.
        assert sum(used["cpu_seconds"]["floor"] for used in floor) > 0


def test_the_table_names_the_machine_and_every_row(quick_run) -> None:
    about = machine()
    printed = table(quick_run, about)
    assert f"{about['cores']} cores, Python {about['python']}" in printed
    assert "product/floor" in printed
    for row in quick_run:
        assert row.measure in printed


def test_the_results_file_is_json_with_every_row(quick_run, tmp_path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results(quick_run, machine(), quick=True)))
    saved = json.loads(path.read_text())
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["python"]
    assert len(saved["rows"]) == len(quick_run)
    for row in saved["rows"]:
        assert {"benchmark", "measure", "unit", "product", "floor", "ratio", "target",
                "met"} <= set(row)


def test_the_documented_command_writes_its_results(tmp_path, capsys) -> None:
    output = tmp_path / "results.json"
    assert main(["--quick", "--only", "workbook", "--output", str(output)]) == 0
    assert "workbook" in capsys.readouterr().out
    assert [row["benchmark"] for row in json.loads(output.read_text())["rows"]] == ["workbook"]
