"""What every process the service starts (the courier, the workbook workers) shares with it:
where it comes from, its logging, and its lifetime.

On Linux the children are forked by multiprocessing's fork server: a process of its own,
started with the service, that has imported the children's modules once and has no threads
(forking the service itself would copy locks its threads hold). Elsewhere each child is
spawned, a fresh interpreter. Either way a child starts with Python's default logging;
`LogSetup` carries the operator's choice (the format, JSON lines or text, and -v) across.
`die_with_service` makes a child end with the service even when the service is killed with
SIGKILL, so an orphan can never send a mail the restarted service sends again.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PR_SET_PDEATHSIG = 1  # linux/prctl.h

# What the fork server imports once for every child: the courier's and the workers' code,
# and the workbook writer (with openpyxl), which the workers import only when they build.
CHILD_MODULES = ["mailer.courier_process", "mailer.worker", "mailer.handoff.workbook"]


def child_process_context() -> BaseContext:
    """Where the service's children come from. A spawned child spent 0.7 s of CPU starting
    an interpreter and importing the workbook code before its first job, each time; a child
    forked by the fork server starts in milliseconds with all of it imported. In a backlog of
    300 complete replies, on 2 cores, that was 15.1 to 15.7 s against 17.0 to 18.0 s."""
    if not _can_watch_processes():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(CHILD_MODULES)
    return context


@functools.cache
def _can_watch_processes() -> bool:
    """Whether a child can watch the service end (Linux 5.3's pidfd), which a child of the
    fork server needs (`die_with_service`)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def start_child_process_server() -> None:
    """Start the fork server at once, so that it imports the children's modules on the other
    core while the service imports its own: the first child waits for that import. Nothing
    to do where children are spawned; a server that cannot start shows when the first child
    is started, where the service falls back to working without one."""
    if child_process_context().get_start_method() == "forkserver":
        try:
            forkserver.ensure_running()
        except OSError as exc:
            logging.getLogger(__name__).debug("no fork server yet: %s", exc)


@dataclass(frozen=True)
class LogSetup:
    """The service's log format and levels, handed to a child it spawns."""

    formatter: logging.Formatter | None
    mailer_level: int
    root_level: int

    @classmethod
    def of_this_process(cls) -> LogSetup:
        root = logging.getLogger()
        formatter = next((handler.formatter for handler in root.handlers
                          if isinstance(handler, logging.StreamHandler)), None)
        return cls(formatter, logging.getLogger("mailer").level, root.level)

    def apply(self) -> None:
        if self.formatter is None:
            return  # the service logs nowhere but Python's last resort: so does the child
        handler = logging.StreamHandler()  # stderr, inherited from the service
        handler.setFormatter(self.formatter)
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(self.root_level)
        logging.getLogger("mailer").setLevel(self.mailer_level)


def die_with_service(service_pid: int) -> bool:
    """Make this child end with the service, however the service ends (SIGKILL too); False
    if the service is already gone.

    A spawned child asks Linux to kill it when its parent, the service, ends. A child of the
    fork server cannot rely on its parent: the fork server stays up while any child it
    forked holds its pipe, so it would outlive a killed service as long as its children do.
    Such a child watches the service itself (a pidfd, readable once the service ends) and
    kills itself when the service ends. Off Linux there is neither: the courier still ends
    when its pipe to the service closes, an idle workbook worker does not."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        prctl = None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = os.getppid()
    if parent == service_pid:
        return True
    try:
        watch = os.pidfd_open(service_pid)
    except OSError:
        return False  # ended already
    # Checked after the pidfd is open: a service gone before cannot be watched (its pid may
    # even be another process's by now), and the fork server then has another parent.
    if _parent_of(parent) != service_pid:
        os.close(watch)
        return False
    threading.Thread(target=_end_with_service, args=(watch,), name="service-watch",
                     daemon=True).start()
    return True


def _end_with_service(watch: int) -> None:
    select.select([watch], [], [])
    os.kill(os.getpid(), signal.SIGKILL)


def _parent_of(pid: int) -> int:
    """`pid`'s parent, read from Linux's /proc; 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0
