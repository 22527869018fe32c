"""Turns at writing the database, so that no process waits long for its turn.

SQLite lets one connection write at a time. One that finds the database busy sleeps, longer
after each refusal (1, 2, 5, 10 ... up to 100 ms), and tries again. During a backlog the
service writes back to back, one transaction per message, and takes the lock again within a
millisecond of giving it up; a workbook worker that wants to queue its mail then sleeps
through gap after gap. In a backlog of 300 complete replies the two workers waited 0.9 and
1.1 s in all (0.6 s at a time) and the courier 0.7 s to mark mail sent, while the mail
already built could not go.

So every write of the product's own connections first takes the writer's turn: an exclusive
`flock` on a file beside the database, tried again every fraction of a millisecond (never
less often than every millisecond) while another connection holds it. The same backlog then
kept no worker waiting longer than 50 ms. SQLite's lock still decides who writes; the turn
only keeps the waiting short. A connection that does not take turns (a person's `sqlite3`
shell) is waited for as before, by SQLite's busy timeout.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: turns are then left to SQLite alone
    fcntl = None  # type: ignore[assignment]

# How long a waiting connection sleeps between tries: short at first, never more than a
# millisecond, which is about the gap between two messages' transactions in a backlog.
FIRST_PAUSE = 0.0001
LONGEST_PAUSE = 0.001


class WriterTurns:
    """The writer's turn for one connection (an open file of its own: `flock` locks belong to
    an open file, so two connections in one process take turns with each other too)."""

    def __init__(self, database: Path) -> None:
        self._fd: int | None = None
        if fcntl is None:
            return
        path = database.with_name(database.name + ".turns")
        with contextlib.suppress(OSError):  # a folder we cannot write: SQLite alone decides
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def take(self, *, within: float) -> bool:
        """Wait for the turn, at most `within` seconds; whether it was taken. Without it the
        caller goes on all the same: SQLite's own lock still keeps writes apart."""
        if self._fd is None:
            return False
        deadline = time.monotonic() + within
        pause = FIRST_PAUSE
        while not self.take_if_free():
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
        return True

    def take_if_free(self) -> bool:
        if self._fd is None:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
