"""The second core: handoff workbooks are built in a worker process.

The event that asks for a workbook records a job in its own transaction
(`flows.workbook_delivery.deliver_workbook`). The service hands the job's number to a worker
process, which has its own runtime and SQLite connection: it builds the file, then queues the
workbook mail and marks the job done in one transaction. The service goes on with the next
message meanwhile. After a crash, jobs not marked done are handed out again at start-up; a
job finished twice (an orphaned worker racing a new one) queues its mail only once.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType

from mailer.child_processes import LogSetup, child_process_context, die_with_service
from mailer.config.settings import Settings
from mailer.flows.workbook_delivery import run_workbook_job, waiting_jobs
from mailer.runtime import build_runtime
from mailer.state.store import Store

log = logging.getLogger(__name__)

STOP = -1  # the job number that tells a worker to finish

# Workbooks are background work: a worker yields the CPU to the service reading mail and to
# the courier sending it, so during a backlog of complete replies the answers and the mail
# already built keep going out, and the workbooks fill the time the cores have left. Ten is
# the usual step for batch work; the workers still get about a tenth of a busy core.
WORKER_NICENESS = 10


def worker_count() -> int:
    """One worker per core but one, at least one and at most four. The core left over is the
    service's, the courier's and (often, on the same machine) the mail servers': their mail
    is what a backlog waits for. On 2 cores, one worker drained 300 complete replies as fast
    as two or faster (10 drains in turn on disk: 5.1 to 5.6 s against 4.6 to 6.2 s, never
    slower by more than 0.02 s; 10 in memory: 4.09 to 4.34 s against 4.13 to 4.40 s): one
    worker builds a workbook in about 5 ms, faster than the mail server takes them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    return max(1, min(4, cores - 1))


def work(settings: Settings, jobs: multiprocessing.Queue, done: multiprocessing.Queue,
         parent_pid: int, logs: LogSetup, stopping: EventType) -> None:
    """The worker process: carry out job numbers until told to stop. It ends with the
    service, however the service ends: waiting on the job queue's lock, an orphan would
    otherwise wait forever (a killed service left two idle workers behind each time)."""
    if not die_with_service(parent_pid):
        return
    logs.apply()
    with contextlib.suppress(OSError):  # a system that refuses keeps the worker as it is
        os.nice(WORKER_NICENESS)
    rt = build_runtime(settings)
    # What the worker keeps for its life (modules, runtime) stays out of the cycle
    # collector's walks: a job makes a few thousand objects, against fifty thousand kept.
    gc.freeze()
    try:
        while True:
            try:
                job_id = jobs.get()
            except (EOFError, OSError):
                return  # the service is gone
            if job_id == STOP or stopping.is_set():
                return  # jobs still queued stay recorded: the next start hands them out
            try:
                run_workbook_job(rt, job_id)
                done.put((job_id, ""))
            except Exception as exc:  # noqa: BLE001 - the job stays recorded; retried later
                log.exception("workbook job %d failed; it is tried again later", job_id)
                done.put((job_id, f"{exc.__class__.__name__}: {exc}"))
    finally:
        rt.store.close()


class Workers:
    """The service's side: worker processes sharing one queue of job numbers, started when
    the first job is handed out."""

    def __init__(self, settings: Settings, *, on_done: Callable[[], None],
                 inline: Callable[[int], bool], count: int | None = None) -> None:
        self.settings = settings
        self.count = count or worker_count()
        self.on_done = on_done
        # Where no process can be started (a container without /dev/shm for the worker's
        # queues), jobs are carried out in the service's own process instead.
        self.inline = inline
        self._inline_only = False
        self._context = child_process_context()
        self._processes: list[BaseProcess] = []
        self._jobs: multiprocessing.Queue | None = None
        self._stopping: EventType | None = None
        self._done: multiprocessing.Queue | None = None
        self._reader: threading.Thread | None = None
        self._pending: set[int] = set()
        self._failed: set[int] = set()
        self._changed = threading.Condition()

    def hand_out(self, store: Store) -> int:
        """Give the workers every recorded job they do not have yet; returns how many. Jobs
        a dead worker took with it are handed out again here too: the running service calls
        this on every turn of its loop and never waits for the workers."""
        self._revive()
        fresh = [job_id for job_id in waiting_jobs(store)
                 if job_id not in self._pending and job_id not in self._failed]
        if not fresh:
            return 0
        if not self._inline_only:
            try:
                self._ensure_worker()
            except OSError as exc:
                log.warning("no worker process can be started (%s); workbooks are built in "
                            "the service's own process", exc)
                self._inline_only = True
        if self._inline_only:
            for job_id in fresh:
                self.inline(job_id)
            self.on_done()
            return len(fresh)
        assert self._jobs is not None
        with self._changed:
            self._pending.update(fresh)
        for job_id in fresh:
            self._jobs.put(job_id)
        return len(fresh)

    def wait(self, timeout: float = 600) -> None:
        """Until every handed-out job is finished (or the worker died: handed out again)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending or not self._alive(), timeout)
        self._revive()

    def close(self) -> None:
        if not self._processes:
            return
        assert self._jobs is not None and self._done is not None and self._stopping is not None
        # A worker finishes the workbook in hand and takes no other: hundreds may be queued
        # when a backlog outruns the workers, and the service must stop within seconds.
        self._stopping.set()
        for _ in self._processes:
            with contextlib.suppress(OSError, ValueError):
                self._jobs.put(STOP)
        for process in self._processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
        self._done.put(None)  # ends the reader
        if self._reader is not None:
            self._reader.join(timeout=10)
        self._processes = []

    # -- inside ------------------------------------------------------------------------------

    def _alive(self) -> bool:
        """Every worker is running (a job taken by one that died is lost with it)."""
        return bool(self._processes) and all(p.is_alive() for p in self._processes)

    def _ensure_worker(self) -> None:
        if self._alive():
            return
        # Fresh queues: a worker killed while reading one may have left it unusable.
        for process in self._processes:
            if process.is_alive():
                process.kill()
        self._jobs = self._context.Queue()
        self._done = self._context.Queue()
        self._stopping = self._context.Event()
        self._processes = [
            self._context.Process(target=work, name=f"mailer-workbooks-{number}",
                                  args=(self.settings, self._jobs, self._done, os.getpid(),
                                        LogSetup.of_this_process(), self._stopping),
                                  daemon=True)
            for number in range(1, self.count + 1)]
        for process in self._processes:
            process.start()
        self._reader = threading.Thread(target=self._read_done, args=(self._done,),
                                        name="workbook-results", daemon=True)
        self._reader.start()

    def _revive(self) -> None:
        """A worker that died (the kernel's OOM killer, a crash) took its job with it: fresh
        workers are given every job still pending."""
        if self._pending and self._processes and not self._alive():
            log.error("a workbook worker stopped; its jobs are handed out again")
            self._restart()

    def _restart(self) -> None:
        pending = sorted(self._pending)
        with self._changed:
            self._pending.clear()
        self._ensure_worker()
        assert self._jobs is not None
        with self._changed:
            self._pending.update(pending)
        for job_id in pending:
            self._jobs.put(job_id)

    def _read_done(self, done: multiprocessing.Queue) -> None:
        while True:
            try:
                item = done.get(timeout=1.0)
            except queue.Empty:
                if done is not self._done:
                    return  # the workers were restarted with a new queue and its own reader
                if not self._alive():
                    with self._changed:
                        self._changed.notify_all()
                continue
            except (EOFError, OSError):
                return
            if item is None:
                return
            job_id, problem = item
            with self._changed:
                self._pending.discard(job_id)
                if problem:
                    self._failed.add(job_id)
                self._changed.notify_all()
            self.on_done()
