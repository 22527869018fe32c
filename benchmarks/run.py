"""Run the benchmarks, print the table and write `benchmarks/results.json`.

    python -m benchmarks.run                  # everything, at the default sizes (~7 min)
    python -m benchmarks.run --quick          # small counts: checks that it all works
    python -m benchmarks.run --only latency   # one benchmark (repeatable)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py` works as well as `-m`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cases import BENCHMARKS, FULL, ISSUE, NEEDS_SERVERS, QUICK, Lab, Row, Sizes
from benchmarks.harness import MailServers, compile_bytecode, running_servers, scratch_dir

RESULTS = Path(__file__).resolve().parent / "results.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description="Measure the assistant against its floor.")
    parser.add_argument("--quick", action="store_true",
                        help="small counts (the smoke test's); the figures mean little")
    parser.add_argument("--issue-sizes", action="store_true",
                        help="the issue's own counts (1,000-request backlogs, 10,000 messages); "
                        "takes well over 10 minutes at today's speed")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--scale", type=float, default=1.0, metavar="FACTOR",
                        help="multiply every count by FACTOR, e.g. 0.2 for a fifth of the run")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where to write the JSON results (default: %(default)s)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record every product process with pyinstrument (pip install "
                        "pyinstrument) into DIR; open one with `pyinstrument --load FILE`")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (product logs, data) for inspection")
    return parser


def machine() -> dict[str, object]:
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(terse=True)}


def choose_sizes(*, quick: bool, issue_sizes: bool, scale: float) -> Sizes:
    sizes = QUICK if quick else ISSUE if issue_sizes else FULL
    return sizes.scaled(scale) if scale != 1.0 else sizes


def run(names: Sequence[str], sizes: Sizes, *, keep: bool = False,
        profile_dir: Path | None = None,
        servers: MailServers | None = None) -> tuple[list[Row], Path]:
    """Run the named benchmarks in order; the servers are started here unless given."""
    work = scratch_dir()
    rows: list[Row] = []
    mail_names = [name for name in names if name in NEEDS_SERVERS]
    try:
        with contextlib.ExitStack() as stack:
            if mail_names and servers is None:
                servers = stack.enter_context(running_servers())
            lab = Lab(servers=servers, work=work, sizes=sizes, log=_log,
                      profile_dir=profile_dir)
            rows += _each(lab, mail_names)
            rows += _each(lab, [name for name in names if name not in NEEDS_SERVERS])
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return rows, work


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _each(lab: Lab, names: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        lab.log(f"{name} ...")
        started = time.monotonic()
        rows += BENCHMARKS[name](lab)
        lab.log(f"{name}: {time.monotonic() - started:.0f} s")
    return rows


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def table(rows: Sequence[Row], about: dict[str, object]) -> str:
    header = ("benchmark", "measure", "product", "floor", "product/floor", "target", "met")
    lines = [(r.benchmark, r.measure, _figure(r.product, r.unit), _figure(r.floor, r.unit),
              "-" if r.ratio is None else f"{r.ratio:.2f}", r.target,
              {True: "yes", False: "NO", None: "-"}[r.met]) for r in rows]
    widths = [max(len(str(line[i])) for line in [header, *lines]) for i in range(len(header))]
    out = [f"{about['cores']} cores, Python {about['python']} ({about['platform']})", ""]
    for line in [header, tuple("-" * w for w in widths), *lines]:
        cells = zip(line, widths, strict=True)
        out.append("  ".join(str(cell).ljust(width) for cell, width in cells).rstrip())
    notes = [f"- {r.benchmark}, {r.measure}: {r.note}" for r in rows if r.note]
    return "\n".join([*out, "", *notes]) if notes else "\n".join(out)


def results(rows: Sequence[Row], about: dict[str, object], *, quick: bool) -> dict[str, object]:
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": about, "quick": quick,
            "rows": [{"benchmark": r.benchmark, "measure": r.measure, "unit": r.unit,
                      "product": r.product, "floor": r.floor, "ratio": r.ratio,
                      "higher_is_better": r.higher_is_better, "target": r.target, "met": r.met,
                      "note": r.note, "details": r.details} for r in rows]}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    about = machine()
    profile_dir = args.profile.resolve() if args.profile else None
    sizes = choose_sizes(quick=args.quick, issue_sizes=args.issue_sizes, scale=args.scale)
    compile_bytecode()
    rows, work = run(names, sizes, keep=args.keep, profile_dir=profile_dir)
    print(table(rows, about))
    args.output.write_text(json.dumps(results(rows, about, quick=args.quick), indent=2) + "\n")
    print(f"\nresults written to {args.output}"
          + (f"; scratch kept in {work}" if args.keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
