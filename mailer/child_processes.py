"""What every process the service starts (the courier, the workbook workers) shares with it:
its logging, and its lifetime.

Processes are spawned, not forked (the service has threads), so a child starts with Python's
default logging; `LogSetup` carries the operator's choice (the format, JSON lines or text, and
-v) across. `die_with_parent` makes a child end with the service even when the service is
killed with SIGKILL, so an orphan can never send a mail the restarted service sends again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1  # linux/prctl.h


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


def die_with_parent(parent_pid: int) -> bool:
    """Ask Linux to kill this process when the process that started it ends, however it
    ends; False if the parent is already gone. Off Linux there is no such request: the
    courier still ends when its pipe to the service closes, an idle workbook worker does not."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        prctl = None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() == parent_pid
