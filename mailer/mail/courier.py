"""The courier: a thread that writes the outbox files and sends them while the service goes on.

The pipeline commits a message's outbound rows and pokes the courier; the courier spools the
committed rows to `outbox/` and drains them through SMTP on its own SQLite connection, so the
round trips to the mail server overlap the handling of the next message instead of following
it. What makes a crash harmless is unchanged: a row is committed before its file is written and
before it is sent, and it is marked sent only after the server said 250.

The courier sends over up to `MAILER_SMTP_CONNECTIONS` connections at once, oldest first,
never two mails with a recipient in common at once, so each recipient still receives their
mail in order (`mailer.mail.smtp.send_in_order`). Permanent failures and a spool that
cannot be written are handed back to the service (`take_failures`, `raise_problem`), which
tells the manager or stops taking mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mailer.mail.outbox import Outbox, QueuedMail
from mailer.mail.smtp import DeliveryFailure, SmtpSender, drain
from mailer.state.store import Store

log = logging.getLogger(__name__)

# Retries fall due with time, not with a poke: look again at least this often.
IDLE_LOOK_SECONDS = 5.0


@dataclass
class Round:
    """What (part of) a round of the courier did: mails accepted, permanent failures, and the
    error that kept it from writing the spool (the service stops taking mail until fixed).
    Also what the courier did since the service last asked (guarded by the courier's lock)."""

    sent: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)
    problem: OSError | None = None

    def add(self, done: Round) -> None:
        self.sent += done.sent
        self.failures.extend(done.failures)
        self.problem = done.problem or self.problem


class CourierNews:
    """The service's side of a courier, wherever it runs: pokes are numbered, and a round
    serves every poke made before it began, so `flush` waits for a round that began after its
    own poke; what the rounds did waits here until the service takes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tally = Round()
        self._asked = 0
        self._served = 0

    def take_sent(self) -> int:
        with self._lock:
            sent, self._tally.sent = self._tally.sent, 0
        return sent

    def take_failures(self) -> list[DeliveryFailure]:
        with self._lock:
            failures, self._tally.failures = self._tally.failures, []
        return failures

    def raise_problem(self) -> None:
        """Re-raise, in the service's thread, a spool the courier could not write."""
        with self._lock:
            problem, self._tally.problem = self._tally.problem, None
        if problem is not None:
            raise problem

    def _number_poke(self) -> int:
        with self._lock:
            self._asked += 1
            return self._asked

    def _tell(self, done: Round) -> None:
        with self._lock:
            self._tally.add(done)

    def _serve(self, served: int) -> None:
        with self._changed:
            self._served = max(self._served, served)
            self._changed.notify_all()

    def _wait_served(self, asked: int, gone: Callable[[], bool], timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._served >= asked or gone(), timeout)


class Courier(CourierNews):
    """The courier as a thread of the service's own process (the tests' simulated clocks
    reach it; the service proper runs `mailer.courier_process` instead)."""

    def __init__(self, database: Path, outbox: Outbox, sender: SmtpSender | None, *,
                 now: Callable[[], datetime], send: bool = True) -> None:
        super().__init__()
        self.database = database
        self.outbox = outbox
        self._smtp = sender
        self.sender = sender if send else None
        self.now = now
        self._poked = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the service's side ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="courier", daemon=True)
            self._thread.start()

    def poke(self) -> int:
        """Committed mail is waiting: spool and send it soon. Returns the poke's number."""
        self.start()
        asked = self._number_poke()
        self._poked.set()
        return asked

    def flush(self, timeout: float = 600) -> None:
        """Poke, then wait until everything that can go now has gone (or failed for now)."""
        self._wait_served(self.poke(), lambda: self._thread is None, timeout)

    def close(self) -> None:
        self._stopping.set()
        self._poked.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        elif self._smtp is not None:
            self._smtp.close()

    # -- the courier's thread -------------------------------------------------------------

    def _run(self) -> None:
        store = Store(self.database)
        try:
            while not self._stopping.is_set():
                self._poked.wait(IDLE_LOOK_SECONDS)
                self._poked.clear()
                if self._stopping.is_set():
                    break
                with self._lock:
                    serving = self._asked
                send_round(store, self.outbox, self.sender, now=self.now,
                           stopping=self._stopping.is_set, tell=self._tell)
                self._serve(serving)
        finally:
            if self._smtp is not None:
                self._smtp.close()
            store.close()
            self._serve(self._asked)


def send_round(store: Store, outbox: Outbox, sender: SmtpSender | None, *,
               now: Callable[[], datetime], stopping: Callable[[], bool],
               tell: Callable[[Round], None]) -> None:
    """Spool every committed row, then send what can go now, oldest first, until nothing
    more can (or the server is unwell: retried later), telling what went batch by batch, so
    that a manager hears of a failure while a long backlog is still going out. Never raises
    for one bad mail."""
    unrecorded: list[QueuedMail] = []  # sent, set aside, to be marked when the lock is free
    try:
        outbox.spool(store)
        if sender is None:
            return
        while not stopping():
            result = drain(store, outbox, sender, now=now, limit=50, unrecorded=unrecorded)
            if result.sent or result.failures:
                tell(Round(result.sent, result.failures))
            if result.failures:
                outbox.spool(store)
            if result.sent + len(result.failures) == 0:
                return
    except OSError as exc:
        log.error("the outbox cannot be written: %s", exc)
        tell(Round(problem=exc))
    except Exception:  # noqa: BLE001 - the courier must outlive one bad mail
        log.exception("the courier stopped a round; it tries again shortly")
    finally:
        _mark_sent(store, outbox, unrecorded, now)


def _mark_sent(store: Store, outbox: Outbox, mails: list[QueuedMail],
               now: Callable[[], datetime]) -> None:
    """The round's last sent mails, marked before it ends (their files are in `sent/`, so a
    crash before this loses nothing: the next start marks them)."""
    try:
        outbox.record_sent(store, mails, now())
    except Exception:  # noqa: BLE001 - spool() marks them at the next round
        log.exception("sent mail could not be marked sent yet; it will be at the next round")
