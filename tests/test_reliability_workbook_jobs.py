"""Workbooks are built by a worker process from a job recorded with the reply that asked for
one. Sam's complete answers arrive; the service is killed at the worst moments: after the job
is recorded but before anything was built, and after the file was built but before its mail
was queued. When the service comes back, Rita gets exactly one workbook mail, and the file is
kept once. On the embedded default (maildir inbox, mail waiting in the outbox)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from assistant import (
    ADDRESS,
    Assistant,
    every_descendant,
    parse,
    process_alive,
    spawned_children,
    wait_until,
)
from letters import ANSWERS, REQUEST, plain

from mailer import pipeline
from mailer.child_processes import child_process_context
from mailer.flows.workbook_delivery import build_workbook_file, waiting_jobs
from mailer.mail.sources import MaildirSource
from mailer.runtime import build_runtime
from mailer.worker import WORKER_NICENESS, Workers, worker_count


def db(assistant: Assistant) -> sqlite3.Connection:
    return sqlite3.connect(assistant.home / "var" / "mailer.sqlite3", timeout=30)


def count(assistant: Assistant, sql: str) -> int:
    with db(assistant) as connection:
        return connection.execute(sql).fetchone()[0]


def answers_waiting(tmp_path: Path) -> Assistant:
    """Dana's request is handled; Sam's complete answers wait in the inbox."""
    assistant = Assistant(tmp_path / "assistant")
    box = MaildirSource(assistant.settings.maildir_path)
    box.deliver(plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                      subject="Handover Acme", body=REQUEST))
    assistant.run_once()
    # No SMTP server here: the questionnaire waits in the outbox; Sam replies to its address.
    [questionnaire] = (assistant.home / "outbox").glob("*-questionnaire.eml")
    reply_to = str(parse(questionnaire.read_bytes())["Reply-To"])
    box.deliver(plain(sender="Sam Jones <sam@example.com>", to=reply_to,
                      subject="Re: handoff questions", body=ANSWERS))
    return assistant


def rebuilds_asked(rt, count: int) -> None:  # noqa: ANN001 - a Runtime
    """`count` jobs recorded to build Acme's first workbook again, without mail."""
    with rt.store.transaction():
        for _ in range(count):
            rt.store.run("INSERT INTO jobs(kind, transition_id, version, mail, created_at) "
                         "VALUES('workbook', 'TR-0001', 1, 0, '2026-12-03T09:00:00+00:00')")


def workbook_files(assistant: Assistant) -> list[str]:
    return sorted(p.name for p in (assistant.home / "var").rglob("*.xlsx"))


def killed_once_the_job_is_recorded(assistant: Assistant) -> bool:
    """Start the service and kill it as soon as the reply's job is recorded; whether the
    job was still waiting then (a stalled machine can let the worker finish it first)."""
    assistant.start()
    deadline = time.monotonic() + 60
    # The worker process is started with the first job, so the moment right after the
    # reply's commit is wide enough to be caught.
    while not (assistant.home / "var" / "mailer.sqlite3").exists() or count(
            assistant, "SELECT COUNT(*) FROM jobs") == 0:
        assert time.monotonic() < deadline, assistant.log_text()[-3000:]
        time.sleep(0.002)
    assistant.stop(signal.SIGKILL)
    return count(assistant, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 1


def test_killed_after_the_job_was_recorded_the_workbook_goes_out_once(tmp_path):
    for attempt in range(5):
        assistant = answers_waiting(tmp_path / f"attempt-{attempt}")
        if killed_once_the_job_is_recorded(assistant):
            break
    else:
        pytest.fail("the worker finished the job before the service was killed, five times")
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 0

    assistant.run_once()  # the service is back
    assert count(assistant, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 0
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1
    assert count(assistant, "SELECT COUNT(*) FROM inbound") == 2, "the reply handled once"
    assert workbook_files(assistant) == ["Acme Corp handoff TR-0001.xlsx"]
    assistant.run_once()
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1


def test_a_killed_service_leaves_no_worker_behind(tmp_path):
    """Workers wait on their job queue's lock, where an orphan would wait forever. Nor does
    the fork server stay: it lives as long as any process it forked does."""
    assistant = answers_waiting(tmp_path)
    assistant.start()
    assert assistant.process is not None
    service = assistant.process.pid
    wait_until(lambda: len(spawned_children(service)) >= 2, timeout=30)  # courier, worker(s)
    children = every_descendant(service)  # and the fork server, the resource tracker
    assert len(children) > len(spawned_children(service))
    assistant.stop(signal.SIGKILL)
    wait_until(lambda: not any(process_alive(pid) for pid in children), timeout=10)


def test_workbook_workers_give_way_to_the_service_and_the_courier(tmp_path):
    """During a backlog of complete replies the service keeps reading mail and the courier
    keeps sending it: the workbook workers run at a lower priority than both."""
    assistant = answers_waiting(tmp_path)
    assistant.start()
    assert assistant.process is not None
    service = assistant.process.pid
    base = os.getpriority(os.PRIO_PROCESS, service)

    def niceness() -> list[int]:
        found = []
        for pid in spawned_children(service):
            with contextlib.suppress(ProcessLookupError):
                found.append(os.getpriority(os.PRIO_PROCESS, pid) - base)
        return sorted(found)

    try:
        # The courier, then the workers, which lower their own priority once started.
        wait_until(lambda: niceness() == [0] + [WORKER_NICENESS] * worker_count(),
                   timeout=60)
        assert os.getpriority(os.PRIO_PROCESS, service) == base
    finally:
        assistant.stop(signal.SIGTERM)


def test_killed_after_the_file_was_built_the_mail_is_queued_once(tmp_path):
    assistant = answers_waiting(tmp_path)
    # The reply is handled (its job recorded) and the worker builds the file; then the
    # process dies before the mail is queued.
    rt = build_runtime(assistant.settings)
    try:
        [reply] = list(MaildirSource(assistant.settings.maildir_path).fetch_new())
        outcome = pipeline.handle(rt, reply.raw, source_key=reply.source_key)
        assert outcome.outcome == "processed"
        [job] = waiting_jobs(rt.store)
        built = build_workbook_file(rt, job)
        assert built is not None and built.path.exists()
    finally:
        rt.store.close()
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 0

    report = assistant.run_once()  # the service is back
    assert set(report.outcomes) <= {"duplicate"}
    assert count(assistant, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 0
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1
    assert workbook_files(assistant) == ["Acme Corp handoff TR-0001.xlsx"]
    outbox = assistant.home / "outbox"
    assert len(list(outbox.glob("*-workbook.eml"))) == 1  # waiting: no SMTP server here


def test_where_no_worker_process_can_start_the_service_builds_the_workbook_itself(
        tmp_path, monkeypatch, caplog):
    """A container without /dev/shm refuses the worker's queues: the workbook still goes."""

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(child_process_context()), "Queue", refused)
    assistant = answers_waiting(tmp_path)
    assistant.run_once()
    assert "no worker process can be started" in caplog.text
    assert count(assistant, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 0
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1
    assert workbook_files(assistant) == ["Acme Corp handoff TR-0001.xlsx"]


def test_a_worker_killed_among_several_loses_no_job_and_doubles_none(tmp_path):
    """Three accounts' answers wait, and two workers build their workbooks. One worker is
    killed with SIGKILL as soon as it is running: every job is handed out again to fresh
    workers, and each account gets exactly one workbook mail."""
    assistant = Assistant(tmp_path / "assistant")
    box = MaildirSource(assistant.settings.maildir_path)
    for account in ("Acme Corp", "Globex", "Initech"):
        box.deliver(plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                          subject=f"Handover {account}",
                          body=REQUEST.replace("Acme Corp", account)))
    assistant.run_once()
    for questionnaire in sorted((assistant.home / "outbox").glob("*-questionnaire.eml")):
        box.deliver(plain(sender="Sam Jones <sam@example.com>",
                          to=str(parse(questionnaire.read_bytes())["Reply-To"]),
                          subject="Re: handoff questions", body=ANSWERS))
    rt = build_runtime(assistant.settings)
    done: list[int] = []
    workers = Workers(assistant.settings, on_done=lambda: done.append(1),
                      inline=lambda job_id: False, count=2)
    try:
        for reply in MaildirSource(assistant.settings.maildir_path).fetch_new():
            assert pipeline.handle(rt, reply.raw, source_key=reply.source_key).outcome \
                == "processed"
        assert len(waiting_jobs(rt.store)) == 3
        assert workers.hand_out(rt.store) == 3
        victim = workers._processes[0]  # noqa: SLF001 - the test plays the kernel's OOM killer
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        workers.wait(timeout=120)
        workers.wait(timeout=120)  # after a restart, until the jobs handed out again are done
        assert waiting_jobs(rt.store) == []
    finally:
        workers.close()
        rt.store.close()
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 3
    assert count(assistant, "SELECT COUNT(DISTINCT transition_id) FROM outbound "
                            "WHERE kind='workbook'") == 3
    assert len(workbook_files(assistant)) == 3


class WorkersNeverDone:
    """Workers with hundreds of workbooks still to build: they take jobs and finish none."""

    def __init__(self) -> None:
        self.handed_out: set[int] = set()
        self.waited = False

    def hand_out(self, store) -> int:  # noqa: ANN001 - the service's Store
        fresh = {job_id for job_id in waiting_jobs(store)} - self.handed_out
        self.handed_out |= fresh
        return len(fresh)

    def wait(self, timeout: float = 600) -> None:
        self.waited = True  # and for as long as the timeout: nothing is ever done
        time.sleep(timeout)

    def close(self) -> None:
        pass


def test_a_request_behind_a_workbook_backlog_is_answered_while_the_workbooks_wait(tmp_path):
    """Sam's answers ask for a workbook that is not built yet; Dana's new request arrives
    meanwhile and is answered by the running service without waiting for the workbook."""
    assistant = answers_waiting(tmp_path)
    service = assistant.service()
    workers = WorkersNeverDone()
    service.workers.close()
    service.workers = workers  # type: ignore[assignment]
    loop = threading.Thread(target=service.run_forever, daemon=True)
    loop.start()
    try:
        wait_until(lambda: workers.handed_out, timeout=30)
        MaildirSource(assistant.settings.maildir_path).deliver(
            plain(sender="Dana Whitfield <dana@example.com>", to=ADDRESS,
                  subject="Handover Globex", body=REQUEST.replace("Acme Corp", "Globex")))
        wait_until(lambda: count(assistant, "SELECT COUNT(*) FROM outbound WHERE "
                                            "kind='request_accepted'") == 2, timeout=30)
        assert loop.is_alive()
        assert count(assistant, "SELECT COUNT(*) FROM jobs WHERE done_at IS NULL") == 1
    finally:
        service.stopping.set()
        loop.join(30)
        service.close()
    assert not workers.waited, "the service waited for the workbooks to be built"


def test_a_stop_leaves_queued_workbooks_for_the_next_start(tmp_path):
    """Hundreds of workbooks wait for the two workers when the service is asked to stop: each
    worker finishes the workbook in hand and takes no other, so the stop comes at once; the
    rest stay recorded, and the next start builds every one of them."""
    assistant = answers_waiting(tmp_path)
    assistant.run_once()
    rt = build_runtime(assistant.settings)
    try:
        rebuilds_asked(rt, 300)
        workers = Workers(assistant.settings, on_done=lambda: None,
                          inline=lambda job_id: False, count=2)
        assert workers.hand_out(rt.store) == 300
        wait_until(lambda: len(waiting_jobs(rt.store)) < 300, timeout=60)
        workers.close()
        left = len(waiting_jobs(rt.store))
        assert 0 < left < 300, "the stop waited for every queued workbook"

        workers = Workers(assistant.settings, on_done=lambda: None,
                          inline=lambda job_id: False, count=2)
        assert workers.hand_out(rt.store) == left
        workers.wait(timeout=300)
        workers.close()
        assert waiting_jobs(rt.store) == []
    finally:
        rt.store.close()
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1
    assert workbook_files(assistant) == ["Acme Corp handoff TR-0001.xlsx"]


def test_jobs_a_dead_worker_took_are_handed_out_again_by_the_running_service(tmp_path):
    """The running service never waits for its workers; it hands out jobs on each turn of its
    loop. A worker killed there (the kernel's OOM killer) loses no workbook: the next turn
    gives every pending job to fresh workers."""
    assistant = answers_waiting(tmp_path)
    assistant.run_once()
    rt = build_runtime(assistant.settings)
    workers = Workers(assistant.settings, on_done=lambda: None,
                      inline=lambda job_id: False, count=2)
    try:
        rebuilds_asked(rt, 20)
        assert workers.hand_out(rt.store) == 20
        for process in workers._processes:  # noqa: SLF001 - the test plays the OOM killer
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)

        def turn_of_the_loop() -> bool:
            workers.hand_out(rt.store)
            return not waiting_jobs(rt.store)

        wait_until(turn_of_the_loop, timeout=120, interval=0.2)
        # The results of the killed workers' queue are no longer read by a thread of its own.
        wait_until(lambda: [t.name for t in threading.enumerate()
                            if t.name == "workbook-results"] == ["workbook-results"], timeout=10)
    finally:
        workers.close()
        rt.store.close()
    assert count(assistant, "SELECT COUNT(*) FROM outbound WHERE kind='workbook'") == 1
