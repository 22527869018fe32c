"""SQLite state: schema, migrations and transactions.

One file under the data directory. Every inbound message is handled in one transaction:
the state change, the outbound mail rows and the "done" mark commit together, so a crash
either leaves nothing or everything (the outbox files are written from committed rows).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from mailer.state.token_secrecy import redact_addresses, redact_mail, token_hash
from mailer.state.writer_turns import WriterTurns

T = TypeVar("T")

# How long a write waits for another connection's transaction (the courier, a workbook worker).
BUSY_TIMEOUT_MS = 30_000

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE inbound (
        id INTEGER PRIMARY KEY,
        source_key TEXT NOT NULL UNIQUE,
        message_id TEXT NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        received_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        folder TEXT NOT NULL DEFAULT '',
        transition_id TEXT,
        archive_path TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX inbound_message_id ON inbound(message_id);
    CREATE TABLE mailbox_state (
        mailbox TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL
    );
    CREATE TABLE transitions (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        account TEXT NOT NULL,
        manager_name TEXT NOT NULL, manager_email TEXT NOT NULL,
        outgoing_name TEXT NOT NULL, outgoing_email TEXT NOT NULL,
        incoming_name TEXT NOT NULL, incoming_email TEXT NOT NULL,
        contacts_json TEXT NOT NULL,
        type TEXT NOT NULL,
        effective_date TEXT, last_day TEXT, renewal_date TEXT,
        reason TEXT NOT NULL DEFAULT '', share_reason INTEGER NOT NULL DEFAULT 0,
        playbook TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'active',
        thread_root TEXT NOT NULL DEFAULT '',
        request_received TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        intro_text TEXT NOT NULL DEFAULT '',
        call_notes TEXT NOT NULL DEFAULT '',
        debrief_text TEXT NOT NULL DEFAULT '',
        form_contacts_json TEXT NOT NULL DEFAULT '[]',
        workbook_version INTEGER NOT NULL DEFAULT 0,
        workbook_path TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE tokens (
        token TEXT PRIMARY KEY,
        transition_id TEXT,
        person_email TEXT NOT NULL,
        purpose TEXT NOT NULL,
        step_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE pending_requests (
        token TEXT PRIMARY KEY,
        manager_email TEXT NOT NULL,
        fields_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        transition_id TEXT
    );
    CREATE TABLE steps (
        transition_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        status TEXT NOT NULL,
        completed_at TEXT,
        not_before TEXT,
        draft TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (transition_id, step_id)
    );
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        transition_id TEXT NOT NULL,
        section INTEGER NOT NULL,
        text TEXT NOT NULL,
        received_at TEXT NOT NULL,
        message_id TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE current_answers (
        transition_id TEXT NOT NULL,
        section INTEGER NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (transition_id, section)
    );
    CREATE TABLE outbound (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        transition_id TEXT,
        kind TEXT NOT NULL,
        envelope_from TEXT NOT NULL,
        recipients_json TEXT NOT NULL,
        subject TEXT NOT NULL,
        raw BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX outbound_status ON outbound(status);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        transition_id TEXT NOT NULL,
        at TEXT NOT NULL,
        direction TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX history_transition ON history(transition_id);
    CREATE TABLE rejections (
        sender TEXT NOT NULL,
        reason TEXT NOT NULL,
        day TEXT NOT NULL,
        PRIMARY KEY (sender, reason, day)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: every workbook version, with what changed
    """
    CREATE TABLE workbook_versions (
        transition_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        at TEXT NOT NULL,
        summary TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (transition_id, version)
    );
    """,
    # 3: books of business (one request, many accounts), grouped mails, the weekly digest
    """
    CREATE TABLE books (
        id INTEGER PRIMARY KEY,
        manager_email TEXT NOT NULL,
        message_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    CREATE TABLE book_rows (
        book_id INTEGER NOT NULL,
        row_number INTEGER NOT NULL,
        account TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL,
        transition_id TEXT,
        PRIMARY KEY (book_id, row_number)
    );
    CREATE INDEX book_rows_transition ON book_rows(transition_id);
    CREATE TABLE token_groups (
        token TEXT NOT NULL,
        transition_id TEXT NOT NULL,
        PRIMARY KEY (token, transition_id)
    );
    CREATE TABLE digests (
        week TEXT PRIMARY KEY,
        sent_at TEXT NOT NULL,
        recipients TEXT NOT NULL
    );
    """,
    # 4: playbook mail can be held while its transition is paused; an index of what is due
    """
    ALTER TABLE outbound ADD COLUMN holdable INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE transitions ADD COLUMN next_due_at TEXT;
    CREATE INDEX transitions_next_due ON transitions(status, next_due_at);
    """,
    # 5: the title of the step behind next_due_at, for `mailer status`
    """
    ALTER TABLE transitions ADD COLUMN next_step TEXT NOT NULL DEFAULT '';
    """,
    # 6: a transition whose data broke the scheduler: recorded, its manager told once
    """
    CREATE TABLE transition_problems (
        transition_id TEXT PRIMARY KEY,
        problem TEXT NOT NULL,
        first_at TEXT NOT NULL,
        last_at TEXT NOT NULL,
        told INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 7: conversations: the thread each mail belongs to and the References it carried, so a
    # reminder continues the conversation it follows up; the template it was written from
    """
    ALTER TABLE outbound ADD COLUMN thread TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound ADD COLUMN refs TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound ADD COLUMN thread_index TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbound ADD COLUMN template TEXT NOT NULL DEFAULT '';
    CREATE INDEX outbound_thread ON outbound(transition_id, thread);
    """,
    # 8: reply tokens kept only as hashes; token addresses removed from kept text and from
    # the copy of every mail already sent. A token's `family` is the hash of the first token
    # of its conversation: a receipt gets a fresh token of the same family, so the pending
    # request, the accounts of a shared mail and the loop guard still find their thread.
    # (The loop guard's rows of the day named the token itself: they are dropped.)
    """
    ALTER TABLE tokens RENAME COLUMN token TO token_hash;
    UPDATE tokens SET token_hash = sha256_token(token_hash);
    ALTER TABLE tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
    UPDATE tokens SET family = token_hash;
    CREATE INDEX tokens_family ON tokens(family);
    ALTER TABLE pending_requests RENAME COLUMN token TO token_hash;
    UPDATE pending_requests SET token_hash = sha256_token(token_hash);
    ALTER TABLE token_groups RENAME COLUMN token TO token_hash;
    UPDATE token_groups SET token_hash = sha256_token(token_hash);
    DELETE FROM rejections WHERE reason LIKE 'text sha256:%';
    UPDATE outbound SET raw = redact_mail(raw) WHERE status != 'queued';
    UPDATE history SET recipients = redact_addresses(recipients),
        subject = redact_addresses(subject);
    UPDATE inbound SET subject = redact_addresses(subject);
    """,
    # 9: work for the worker process (building a workbook), recorded in the transaction of
    # the event that asked for it and marked done in the one that queues its mail
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        transition_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        mail INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs(done_at);
    """,
    # 10: automatic answers per correspondent and conversation, for the hourly and daily
    # limits; the people a draft named, so silence never sends it to anyone else
    """
    CREATE TABLE auto_answers (
        address TEXT NOT NULL,
        scope TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX auto_answers_key ON auto_answers(address, scope, at);
    ALTER TABLE steps ADD COLUMN draft_recipients TEXT NOT NULL DEFAULT '';
    """,
    # 11: every meeting invitation sent (so a date change updates it and a cancel calls it
    # off, with the same UID and a higher SEQUENCE), and the attendees' answers to it
    """
    CREATE TABLE invitations (
        transition_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        uid TEXT NOT NULL UNIQUE,
        sequence INTEGER NOT NULL,
        title TEXT NOT NULL,
        start TEXT NOT NULL,
        end TEXT NOT NULL,
        location TEXT NOT NULL DEFAULT '',
        organizer_json TEXT NOT NULL,
        attendees_json TEXT NOT NULL,
        chair TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'invited',
        message_id TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (transition_id, step_id)
    );
    CREATE TABLE invitation_answers (
        uid TEXT NOT NULL,
        attendee TEXT NOT NULL,
        answer TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (uid, attendee)
    );
    """,
    # 12: where a transition's meetings take place (a request's `Meeting link:`)
    """
    ALTER TABLE transitions ADD COLUMN meeting_link TEXT NOT NULL DEFAULT '';
    """,
    # 13: one transition's answers and reply addresses found by index: every workbook build
    # read the answers of every transition ever run, and a close or a replacement read every
    # reply address
    """
    CREATE INDEX answers_transition ON answers(transition_id, section);
    CREATE INDEX tokens_transition ON tokens(transition_id, person_email);
    CREATE INDEX token_groups_transition ON token_groups(transition_id);
    """,
)


def iso(moment: datetime | None) -> str | None:
    """Store instants as UTC ISO-8601 text so they sort and compare as strings."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _owner_only(path: Path) -> None:
    """The database file (made 0600 before SQLite opens it) and its folder, 0700."""
    if not path.exists():
        path.touch(mode=0o600)
    for target, mode in ((path, 0o600), (path.parent, 0o700)):
        with contextlib.suppress(OSError):  # a folder we do not own stays as it is
            os.chmod(target, mode)


class Store:
    """The SQLite database. Use `transaction()` for every write."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        _owner_only(path)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # What is deleted or overwritten (a sent mail's reply address) is zeroed on disk, not
        # left in a free page for whoever copies the file.
        self.db.execute("PRAGMA secure_delete=ON")
        for name, function in (("sha256_token", token_hash), ("redact_mail", redact_mail),
                               ("redact_addresses", redact_addresses)):
            self.db.create_function(name, 1, function, deterministic=True)
        self._depth = 0
        self._turns = WriterTurns(path)
        self.migrate()

    def close(self) -> None:
        self.db.close()
        self._turns.close()

    def migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        took_turn = self._turns.take(within=BUSY_TIMEOUT_MS / 1000)
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield from self._until_commit(self.db)
        finally:
            if took_turn:
                self._turns.give_back()

    @contextmanager
    def transaction_if_free(self) -> Iterator[bool]:
        """A transaction if the database's write lock is free this instant, else none: yields
        whether it began. For work that can as well be done a little later, by a connection
        that must not stand still behind another's long transaction."""
        if self._depth:
            with self.transaction():
                yield True
            return
        took_turn = self._turns.take_if_free()
        try:
            self.db.execute("PRAGMA busy_timeout=0")
            try:
                self.db.execute("BEGIN IMMEDIATE")
                began = True
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                began = False
            finally:
                self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if began:
                yield from self._until_commit(True)
            else:
                yield False
        finally:
            if took_turn:
                self._turns.give_back()

    def _until_commit(self, value: T) -> Iterator[T]:
        """The body of a transaction begun: COMMIT after it, ROLLBACK if it raises."""
        self._depth = 1
        try:
            yield value
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    def one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        return self.db.execute(sql, params).fetchone()

    def all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self.db.execute(sql, params).fetchall()

    def run(self, sql: str, *params: Any) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    # -- small typed accessors used in several places -------------------------------------

    def meta(self, key: str, default: str = "") -> str:
        row = self.one("SELECT value FROM meta WHERE key=?", key)
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.run("INSERT INTO meta(key, value) VALUES(?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value=excluded.value", key, value)

    def next_transition_seq(self) -> int:
        row = self.one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM transitions")
        return int(row["n"]) if row else 1

    def add_history(self, transition_id: str, *, at: datetime, direction: str, sender: str,
                    recipients: list[str], subject: str, note: str = "",
                    message_id: str = "") -> None:
        # Replies arrive addressed to a reply token: the history keeps the plain address.
        self.run("INSERT INTO history(transition_id, at, direction, sender, recipients, subject,"
                 " note, message_id) VALUES(?,?,?,?,?,?,?,?)",
                 transition_id, iso(at), direction, sender,
                 redact_addresses(json.dumps(recipients)), redact_addresses(subject),
                 redact_addresses(note), message_id)
