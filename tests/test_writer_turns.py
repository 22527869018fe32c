"""Writers take turns: a process that writes back to back never keeps another waiting long.

The service writes one transaction per message during a backlog; a workbook worker or the
courier that wants to write in between must get in between two of them, not sleep through
gap after gap as SQLite's own waiting does (its naps grow to 100 ms).
"""

from __future__ import annotations

import multiprocessing
import stat
import time
from pathlib import Path

from mailer.state.store import Store


def _busy_writer(database: Path, stop, done, started) -> None:  # noqa: ANN001 - mp objects
    """The service handling a backlog, in a process of its own: transactions back to back,
    each holding the lock for 3 ms (a reply read and answered), a tenth of a millisecond
    apart (the next message's bookkeeping)."""
    store = Store(database)
    started.set()
    try:
        while not stop.is_set():
            with store.transaction():
                store.set_meta("busy", str(done.value))
                time.sleep(0.003)
            done.value += 1
            time.sleep(0.0001)
    finally:
        store.close()


def test_a_worker_writes_between_the_services_back_to_back_transactions(tmp_path: Path) -> None:
    """Twenty workbook mails queued while the service handles a backlog each go in after a
    few of its messages (39 to 105 in all, in six runs), not after dozens or hundreds, as
    when each waited in SQLite's way (1,721 to 16,099 in all, in six runs)."""
    database = tmp_path / "mailer.sqlite3"
    Store(database).close()  # the schema, before two processes race to make it
    context = multiprocessing.get_context("spawn")
    stop, started, done = context.Event(), context.Event(), context.Value("i", 0)
    service = context.Process(target=_busy_writer, args=(database, stop, done, started))
    service.start()
    worker = Store(database)
    try:
        assert started.wait(60)
        time.sleep(0.05)  # the backlog is under way
        waited = []  # how many of the service's transactions each write waited through
        for n in range(20):
            time.sleep(0.02)  # the next workbook is built
            before = done.value
            with worker.transaction():
                worker.set_meta(f"worker-{n}", "queued")
            waited.append(done.value - before)
    finally:
        stop.set()
        service.join(30)
        worker.close()
    assert sum(waited) < 500


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
