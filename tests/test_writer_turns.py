"""Writers take turns: a process that writes back to back never keeps another waiting long.

The service writes one transaction per message during a backlog; a workbook worker or the
courier that wants to write in between must get in between two of them, not sleep through
gap after gap as SQLite's own waiting does (its naps grow to 100 ms).
"""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from mailer.state.store import Store


def _busy_writer(store: Store, stop: threading.Event, done: list[int], limit: int) -> None:
    """Transactions back to back as the service's handling of a backlog writes them: each
    holds the lock for 3 ms (a reply read and answered), with a tenth of a millisecond
    between two (the next message's bookkeeping)."""
    while not stop.is_set() and done[0] < limit:
        with store.transaction():
            store.set_meta("busy", str(done[0]))
            time.sleep(0.003)
        done[0] += 1
        time.sleep(0.0001)


def test_a_worker_writes_between_the_services_back_to_back_transactions(tmp_path: Path) -> None:
    """Ten workbook mails queued while the service handles a backlog go in between its
    messages, a few dozen messages apart, not after hundreds of them as when each waited
    in SQLite's way (its naps grow to 100 ms, and the gaps are a tenth of a millisecond)."""
    database = tmp_path / "mailer.sqlite3"
    service, worker = Store(database), Store(database)
    stop, service_done = threading.Event(), [0]
    busy = threading.Thread(target=_busy_writer, args=(service, stop, service_done, 3000))
    busy.start()
    try:
        time.sleep(0.05)  # the backlog is under way
        for n in range(10):
            with worker.transaction():
                worker.set_meta(f"worker-{n}", "queued")
        service_messages_meanwhile = service_done[0]
    finally:
        stop.set()
        busy.join()
        service.close()
        worker.close()
    assert service_messages_meanwhile < 1000


def test_a_write_that_fails_gives_its_turn_back(tmp_path: Path) -> None:
    database = tmp_path / "mailer.sqlite3"
    first, second = Store(database), Store(database)
    try:
        try:
            with first.transaction():
                first.set_meta("k", "v")
                raise RuntimeError("a bug in the middle of a transaction")
        except RuntimeError:
            pass
        with second.transaction_if_free() as began:
            assert began, "the turn was given back with the rollback"
        with first.transaction(), second.transaction_if_free() as began:
            assert not began, "another connection's turn is not taken from it"
    finally:
        first.close()
        second.close()


def test_the_turns_file_is_the_owners_alone(tmp_path: Path) -> None:
    database = tmp_path / "mailer.sqlite3"
    Store(database).close()
    turns = database.with_name(database.name + ".turns")
    assert stat.S_IMODE(turns.stat().st_mode) == 0o600
