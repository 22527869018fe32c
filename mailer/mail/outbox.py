"""The outbound spool: one `.eml` file per message under `outbox/`.

Rows are queued in the same transaction as the state change that caused them; the files
are written from committed rows (atomically: temp file, fsync, rename), so a crash leaves
neither an orphan file nor a lost message. Sent mail moves to `outbox/sent/`, permanent
failures to `outbox/failed/` with a `.reason.txt` beside them.

A queued row holds the mail's reply token until the mail leaves; once it is sent, failed or
withdrawn, the database keeps the mail without it (`redact_mail`): nobody needs the token's
value after that, and a copied database file must not let anyone answer as its owner. The
spool's files are the mail as sent, readable by the service's user only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailer.mail.compose import ComposedEmail
from mailer.state.store import Store, iso
from mailer.state.token_secrecy import redact_mail

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=20)
RETRY_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class QueuedMail:
    row_id: int
    message_id: str
    transition_id: str | None
    kind: str
    envelope_from: str
    recipients: tuple[str, ...]
    subject: str
    attempts: int
    path: Path


@dataclass(frozen=True)
class Conversation:
    """Where a message sits among the others: its thread (a name such as `questionnaire` or
    `step:customer_intro`, per transition), the References it carried and its Thread-Index."""

    thread: str = ""
    references: tuple[str, ...] = ()
    thread_index: str = ""


def queue_mail(store: Store, mail: ComposedEmail, *, transition_id: str | None, kind: str,
               now: datetime, send_at: datetime | None = None, holdable: bool = False,
               conversation: Conversation = Conversation(), template: str = "") -> int:
    """Record an outbound message; call inside the transaction that caused it.

    `holdable` mail (playbook steps) waits while its transition is paused and is dropped
    when it is cancelled; answers to people always go."""
    cursor = store.run(
        "INSERT INTO outbound(message_id, transition_id, kind, envelope_from, recipients_json,"
        " subject, raw, created_at, next_attempt_at, holdable, thread, refs, thread_index,"
        " template) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        mail.message_id, transition_id, kind, mail.envelope_from,
        json.dumps(list(mail.recipients)), mail.subject, mail.raw, iso(now),
        iso(max(send_at, now) if send_at else now), int(holdable), conversation.thread,
        " ".join(conversation.references), conversation.thread_index, template)
    log.debug("queued %s mail (%s) for %s: %r", kind, transition_id or "no transition",
              ", ".join(mail.recipients), mail.subject)
    return int(cursor.lastrowid or 0)


def thread_of(store: Store, message_ids: Sequence[str | None]) -> str:
    """The thread of the first of these Message-IDs that is one of ours ('' when none is)."""
    for message_id in message_ids:
        if not message_id:
            continue
        row = store.one("SELECT thread FROM outbound WHERE message_id=?", message_id)
        if row is not None and row["thread"]:
            return str(row["thread"])
    return ""


def last_in_thread(store: Store, transition_ids: Sequence[str],
                   thread: str) -> sqlite3.Row | None:
    """The latest message of a transition's thread (or of a shared mail's transitions'), to
    answer when following it up."""
    marks = ",".join("?" * len(transition_ids))
    return store.one("SELECT message_id, subject, refs, thread_index FROM outbound "
                     f"WHERE transition_id IN ({marks}) AND thread=? ORDER BY id DESC LIMIT 1",
                     *transition_ids, thread)


def thread_index_in(store: Store, transition_ids: Sequence[str], thread: str) -> str:
    """The latest Outlook conversation index of a thread: a reply from a client that sends
    none (Gmail, Apple Mail) must not end Outlook's conversation."""
    marks = ",".join("?" * len(transition_ids))
    row = store.one("SELECT thread_index FROM outbound WHERE thread_index != '' AND "
                    f"transition_id IN ({marks}) AND thread=? ORDER BY id DESC LIMIT 1",
                    *transition_ids, thread)
    return str(row["thread_index"]) if row else ""


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sent_dir = directory / "sent"
        self.failed_dir = directory / "failed"
        self.cancelled_dir = directory / "cancelled"
        for folder in (directory, self.sent_dir, self.failed_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(OSError):  # a folder we do not own stays as it is
                os.chmod(folder, 0o700)

    def filename(self, row: sqlite3.Row) -> str:
        tag = (row["transition_id"] or "mail").replace("/", "-")
        return f"{row['id']:06d}-{tag}-{row['kind']}.eml"

    def spool(self, store: Store) -> int:
        """Write a file for every queued row that has none yet; returns how many. The mails
        are read one at a time: the step mails a pass queues for every due transition at once
        are never all in memory together."""
        self._tidy(store)
        written = 0
        sent_before_a_crash: list[int] = []
        for row in store.all("SELECT id, transition_id, kind FROM outbound "
                             "WHERE status='queued' ORDER BY id"):
            path = self.directory / self.filename(row)
            if (self.sent_dir / path.name).exists():
                sent_before_a_crash.append(row["id"])  # see set_aside_sent
            elif not path.exists():
                _atomic_write(path, _raw(store, row["id"]))
                written += 1
        if sent_before_a_crash:
            log.info("%d mail(s) were sent before a stop but not yet recorded; recorded now, "
                     "not sent again", len(sent_before_a_crash))
            self._record_sent(store, sent_before_a_crash, datetime.now(UTC))
        return written

    def _tidy(self, store: Store) -> None:
        """A crash between recording a mail as sent (or failed) and moving its file leaves
        the file behind: put it where its committed status says."""
        for path in self.directory.glob("*.eml"):
            try:
                row_id = int(path.name.split("-", 1)[0])
            except ValueError:
                continue
            row = store.one("SELECT status FROM outbound WHERE id=?", row_id)
            target = {"sent": self.sent_dir, "failed": self.failed_dir,
                      "cancelled": self.cancelled_dir}.get(row["status"]) if row else None
            if target is not None:
                target.mkdir(exist_ok=True)
                _move(path, target / path.name)
        for temp in self.directory.glob(".*.tmp"):
            temp.unlink(missing_ok=True)  # a write cut short; the row rewrites it

    def ready(self, store: Store, now: datetime, *, limit: int = 500,
              set_aside: Collection[int] = ()) -> list[QueuedMail]:
        """Mail due now, oldest first, but answers first: a reply to something a person did
        (the answer to a request, a receipt) goes ahead of playbook mail queued before it, so
        a manager is answered at once even while a whole book's steps are going out. Each
        person still receives their own mail in the order it was written: an answer never
        passes earlier mail to any of its recipients, and a message waiting for a retry holds
        back later mail to the same recipients. Playbook mail of a paused transition waits,
        and that of a cancelled one is withdrawn. Only the rows that say where each mail goes
        are read here, not the mails: the courier asks for 50 at a time out of however many
        wait. Rows in `set_aside` were sent and wait to be marked so: they are passed over."""
        held: set[str] = set()
        waiting_for: set[str] = set()  # recipients of earlier mail not yet chosen to go
        answers: list[sqlite3.Row] = []
        in_turn: list[sqlite3.Row] = []
        moment = iso(now) or ""
        for row in store.all(f"SELECT {_ROW_COLUMNS}, transitions.status AS transition_status "
                             "FROM outbound LEFT JOIN transitions "
                             "ON transitions.id = outbound.transition_id "
                             "WHERE outbound.status='queued' ORDER BY outbound.id"):
            if row["id"] in set_aside:
                continue
            recipients = set(json.loads(row["recipients_json"]))
            if row["holdable"] and row["transition_status"] == "cancelled":
                self.withdraw(store, row, now)
                continue
            if (row["next_attempt_at"] or "") > moment or recipients & held or (
                    row["holdable"] and row["transition_status"] == "paused"):
                held |= recipients
                continue
            if not row["holdable"] and not recipients & waiting_for:
                answers.append(row)
                if len(answers) >= limit:
                    break
            else:
                in_turn.append(row)
                waiting_for |= recipients
        return [self._queued(store, row) for row in (answers + in_turn)[:limit]]

    def withdraw(self, store: Store, row: sqlite3.Row, now: datetime) -> None:
        """A cancelled transition's pending playbook mail: kept in outbox/cancelled/."""
        raw = _raw(store, row["id"])
        with store.transaction():
            store.run("UPDATE outbound SET status='cancelled', sent_at=?, raw=? WHERE id=?",
                      iso(now), redact_mail(raw), row["id"])
        source = self.directory / self.filename(row)
        self.cancelled_dir.mkdir(exist_ok=True)
        if source.exists():
            _move(source, self.cancelled_dir / source.name)
        else:
            _atomic_write(self.cancelled_dir / source.name, raw)

    def _queued(self, store: Store, row: sqlite3.Row) -> QueuedMail:
        path = self.directory / self.filename(row)
        if not path.exists():
            _atomic_write(path, _raw(store, row["id"]))
        return QueuedMail(row_id=row["id"], message_id=row["message_id"],
                          transition_id=row["transition_id"], kind=row["kind"],
                          envelope_from=row["envelope_from"],
                          recipients=tuple(json.loads(row["recipients_json"])),
                          subject=row["subject"], attempts=row["attempts"], path=path)

    def set_aside_sent(self, mail: QueuedMail) -> None:
        """The server took the mail: its file moves to `sent/` at once, which is the record
        that survives a crash (`spool` recognises it and never sends the mail again). The row
        follows in `record_sent`, many at a time: the database's write lock is often held by
        the handling of the next inbound message, and waiting for it after every mail would
        let the outbox fall behind."""
        _move(mail.path, self.sent_dir / mail.path.name)

    def record_sent(self, store: Store, mails: Sequence[QueuedMail], now: datetime, *,
                    wait: bool = True) -> bool:
        """Mark mails set aside as sent in one transaction (their copies lose the token).
        Without `wait`, only if the database can be written this instant; returns whether
        they were marked. Their files in `sent/` already keep them from going twice."""
        if not mails:
            return True
        if wait:
            self._record_sent(store, [mail.row_id for mail in mails], now)
            return True
        with store.transaction_if_free() as free:
            if free:
                self._record_sent(store, [mail.row_id for mail in mails], now)
        return free

    def _record_sent(self, store: Store, row_ids: Sequence[int], now: datetime) -> None:
        with store.transaction():
            store.db.executemany(
                "UPDATE outbound SET status='sent', sent_at=?, attempts=attempts+1, "
                "raw=redact_mail(raw) WHERE id=? AND status='queued'",
                [(iso(now), row_id) for row_id in row_ids])

    def mark_retry(self, store: Store, mail: QueuedMail, reason: str, now: datetime) -> bool:
        """Schedule another try with backoff; False when the attempts are used up."""
        attempts = mail.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return False
        delay = min(RETRY_BASE * (2 ** min(attempts - 1, 12)), RETRY_CAP)
        with store.transaction():
            store.run("UPDATE outbound SET attempts=?, next_attempt_at=?, last_error=? "
                      "WHERE id=?", attempts, iso(now + delay), reason, mail.row_id)
        return True

    def mark_failed(self, store: Store, mail: QueuedMail, reason: str, now: datetime) -> None:
        with store.transaction():
            store.run("UPDATE outbound SET status='failed', last_error=?, attempts=attempts+1,"
                      " sent_at=?, raw=redact_mail(raw) WHERE id=?", reason, iso(now),
                      mail.row_id)
        target = self.failed_dir / mail.path.name
        _atomic_write(target.with_suffix(".reason.txt"), f"{reason}\n".encode())
        _move(mail.path, target)

    def counts(self, store: Store) -> dict[str, int]:
        return {row["status"]: row["n"] for row in store.all(
            "SELECT status, COUNT(*) AS n FROM outbound GROUP BY status")}


# What `ready` reads of each waiting mail: everything but the mail itself.
_ROW_COLUMNS = ", ".join(f"outbound.{column}" for column in (
    "id", "message_id", "transition_id", "kind", "envelope_from", "recipients_json", "subject",
    "attempts", "next_attempt_at", "holdable"))


def _raw(store: Store, row_id: int) -> bytes:
    """One mail's bytes, read when its file is written (rows are never deleted)."""
    row = store.one("SELECT raw FROM outbound WHERE id=?", row_id)
    return bytes(row["raw"]) if row is not None else b""


def _atomic_write(path: Path, data: bytes) -> None:
    # No fsync: the committed SQLite row holds the same bytes, and spool() rewrites any file
    # a crash took away. The rename still guarantees nobody reads half a file.
    temp = path.with_name(f".{path.name}.tmp")
    # Owner-only from the first byte: a queued mail carries a live reply token.
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(temp, path)


def _move(source: Path, target: Path) -> None:
    if source.exists():
        os.replace(source, target)
