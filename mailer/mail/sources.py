"""Where inbound mail comes from: an IMAP mailbox (with IDLE) or the embedded maildir.

Both give the same interface: `fetch_new()` yields messages not yet handled, `file()`
moves one into a folder once it is handled, `wait()` blocks until new mail may be there.
Dedupe does not rely on `\\Seen`: each message has a source key (mailbox, UIDVALIDITY, UID),
recorded by the pipeline in the same transaction as its effects.

A message over the size limit is never downloaded: its size is asked first (IMAP
`RFC822.SIZE`, a `stat` of the maildir file) and only its headers are read, which is all the
refusal needs. The message itself stays whole on the server, filed with the rejected mail.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailer.config.settings import ServerURL
from mailer.mail.oauth2 import sign_in_with_token
from mailer.state.store import Store

log = logging.getLogger(__name__)

# RFC 2177: clients should re-issue IDLE at least every 29 minutes.
IDLE_REISSUE_SECONDS = 25 * 60
FETCH_BATCH = 100
CONNECTION_ERRORS = (IMAPClientError, OSError, socket.error, ssl.SSLError, EOFError)


# One FETCH of whole messages carries at most this much (or a single message): a backlog of
# large mail is never held in memory all at once.
FETCH_BYTES = 32 * 1024 * 1024
# The headers of a message too large to read: enough to answer its sender, and no more.
MAX_HEADER_BYTES = 256 * 1024


@dataclass(frozen=True)
class FetchedMessage:
    source_key: str
    raw: bytes  # the whole message, or only its headers when `full_size` is set
    full_size: int | None = None  # set when the message was too large to download

    @property
    def size(self) -> int:
        return self.full_size if self.full_size is not None else len(self.raw)


class MailSource(Protocol):
    def fetch_new(self) -> Iterator[FetchedMessage]: ...
    def file(self, message: FetchedMessage, folder: str) -> None: ...
    def wait(self, timeout: float, stopping: threading.Event | None = None) -> bool: ...
    def close(self) -> None: ...


class MaildirSource:
    """The embedded default: a local Maildir under the data directory."""

    def __init__(self, path: Path, *, max_message_bytes: int | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        for sub in ("", "new", "cur", "tmp"):
            (path / sub).mkdir(exist_ok=True)
        self.path = path
        self.box = mailbox.Maildir(str(path), create=True)
        self._fetched: frozenset[str] = frozenset()  # the inbox as the last fetch found it

    def deliver(self, raw: bytes) -> str:
        """Drop a message into the inbox, as a mail server would: its bytes, unparsed (a
        message nested hundreds deep would exhaust the email package's recursion)."""
        return self.box.add(bytes(raw))

    def fetch_new(self) -> Iterator[FetchedMessage]:
        self.box = mailbox.Maildir(str(self.path), create=True)
        self._fetched = self._snapshot()
        keys = sorted(self.box.keys(), key=self._arrival)
        log.debug("%d message(s) waiting in the maildir inbox %s", len(keys), self.path)
        for key in keys:
            try:
                fetched = self._read(key)
            except (KeyError, FileNotFoundError):
                continue
            yield fetched

    def _read(self, key: str) -> FetchedMessage:
        """The message file, or for one over the limit (by `stat`) only its headers."""
        path = os.path.join(self.path, self.box._lookup(key))
        size = os.stat(path).st_size
        if self.max_message_bytes is None or size <= self.max_message_bytes:
            with open(path, "rb") as file:
                return FetchedMessage(source_key=f"maildir:{key}", raw=file.read())
        with open(path, "rb") as file:
            return FetchedMessage(source_key=f"maildir:{key}", raw=_header_block(file),
                                  full_size=size)

    def _arrival(self, key: str) -> tuple[float, str]:
        try:
            return (os.path.getmtime(os.path.join(self.path, self.box._lookup(key))), key)
        except (KeyError, OSError):
            return (0.0, key)

    def file(self, message: FetchedMessage, folder: str) -> None:
        """Move a handled message into `folder` (a rename: the file is not read, however
        large); an empty folder name deletes it."""
        key = message.source_key.removeprefix("maildir:")
        if not folder:
            self.box.discard(key)
            return
        try:
            where = self.box._lookup(key)  # "new/<name>" or "cur/<name>:2,S"
        except KeyError:
            return
        target = self.box.add_folder(folder) if folder not in self.box.list_folders() \
            else self.box.get_folder(folder)
        os.replace(os.path.join(self.path, where), os.path.join(target._path, where))
        self.box = mailbox.Maildir(str(self.path), create=True)  # it cached the old place

    def folder_messages(self, folder: str) -> list[bytes]:
        if folder not in self.box.list_folders():
            return []
        box = self.box.get_folder(folder)
        return [box.get_bytes(k) for k in box.iterkeys()]

    def wait(self, timeout: float, stopping: threading.Event | None = None) -> bool:
        # Mail delivered while the last batch was being handled is here already, and no
        # change would announce it: it used to wait for the next delivery or the timeout.
        if self._snapshot() - self._fetched:
            return True
        deadline = time.monotonic() + timeout
        before = self._snapshot()
        while time.monotonic() < deadline and not (stopping and stopping.is_set()):
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            if self._snapshot() != before:
                return True
        return False

    def _snapshot(self) -> frozenset[str]:
        """The inbox's message files (handled ones are moved out into folders)."""
        return frozenset(f"{sub}/{name}" for sub in ("new", "cur")
                         for name in os.listdir(self.path / sub))

    def close(self) -> None:
        return None


class ImapSource:
    """An IMAP mailbox, watched with IDLE, re-scanned by UID after every (re)connect."""

    def __init__(self, url: ServerURL, *, password: str | None, store: Store,
                 oauth2_command: str | None = None, timeout: float = 30,
                 max_message_bytes: int | None = None) -> None:
        self.url = url
        self.max_message_bytes = max_message_bytes
        self.password = password
        self.oauth2_command = oauth2_command
        self.store = store
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self._folders_made: set[str] = set()
        self._moves: dict[str, list[int]] = {}
        self._backoff = 0.5

    # -- connection ---------------------------------------------------------------------

    def connect(self) -> IMAPClient:
        if self.client is not None:
            return self.client
        client = IMAPClient(self.url.host, port=self.url.port, ssl=self.url.implicit_tls,
                            timeout=self.timeout)
        try:
            if not self.url.implicit_tls and self.url.starttls != "off" \
                    and b"STARTTLS" in client.capabilities():
                client.starttls(ssl.create_default_context())
            if self.oauth2_command:
                sign_in_with_token(
                    self.oauth2_command,
                    lambda token: client.oauth2_login(self.url.username, token),
                    refused=(LoginError,), server=f"IMAP {self.url.redacted()}",
                    user=self.url.username)
            else:
                client.login(self.url.username, self.password or "")
            status = client.select_folder(self.url.path)
        except BaseException:
            _quietly_logout(client)
            raise
        self.uidvalidity = int(status[b"UIDVALIDITY"])
        self.client = client
        self._folders_made = set()
        self._check_uidvalidity()
        self._backoff = 0.5
        log.info("IMAP connected to %s", self.url.redacted())
        return client

    def _check_uidvalidity(self) -> None:
        row = self.store.one("SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox=?",
                             self.url.path)
        if row is not None and row["uidvalidity"] != self.uidvalidity:
            log.warning("IMAP UIDVALIDITY of %s changed (%s -> %s): rescanning the whole "
                        "mailbox; Message-ID dedupe keeps handled mail from repeating",
                        self.url.path, row["uidvalidity"], self.uidvalidity)
        if row is None or row["uidvalidity"] != self.uidvalidity:
            with self.store.transaction():
                self.store.run("INSERT INTO mailbox_state(mailbox, uidvalidity, last_uid) "
                               "VALUES(?,?,0) ON CONFLICT(mailbox) DO UPDATE SET "
                               "uidvalidity=excluded.uidvalidity, last_uid=0",
                               self.url.path, self.uidvalidity)

    def disconnect(self) -> None:
        self._moves = {}
        if self.client is not None:
            _quietly_logout(self.client)
        self.client = None

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(*CONNECTION_ERRORS):
                self.flush_moves()
        self.disconnect()

    def reconnect_pause(self) -> float:
        """Sleep before the next connection attempt, doubling up to 30 s."""
        pause = self._backoff
        self._backoff = min(self._backoff * 2, 30.0)
        return pause

    # -- reading ------------------------------------------------------------------------

    def _last_uid(self) -> int:
        row = self.store.one("SELECT last_uid FROM mailbox_state WHERE mailbox=?",
                             self.url.path)
        return int(row["last_uid"]) if row else 0

    def _remember_uid(self, uid: int) -> None:
        with self.store.transaction():
            self.store.run("UPDATE mailbox_state SET last_uid=MAX(last_uid, ?) WHERE mailbox=?",
                           uid, self.url.path)

    def fetch_new(self) -> Iterator[FetchedMessage]:
        client = self.connect()
        last = self._last_uid()
        client.noop()  # let the server tell this session about mail that arrived meanwhile
        # Everything still in the inbox is unhandled (handled mail is moved out), but a
        # failed move leaves some behind: those are skipped by the source-key dedupe.
        uids = sorted(u for u in client.search(["ALL"]) if u > 0)
        pending = [u for u in uids if u > last] + [u for u in uids if u <= last]
        log.debug("%d message(s) waiting in %s", len(pending), self.url.path)
        for start in range(0, len(pending), FETCH_BATCH):
            batch = pending[start:start + FETCH_BATCH]
            # Sizes first: what is over the limit is never downloaded, and what is fetched
            # whole comes in FETCHes of bounded size.
            sizes = {uid: int(data.get(b"RFC822.SIZE", 0))
                     for uid, data in client.fetch(batch, ["RFC822.SIZE"]).items()}
            for part in self._portions([uid for uid in batch if uid in sizes], sizes):
                for uid, message in self._fetch_portion(client, part, sizes):
                    yield message
                    if uid > last:
                        self._remember_uid(uid)
            self.flush_moves()

    def _too_large(self, size: int) -> bool:
        return self.max_message_bytes is not None and size > self.max_message_bytes

    def _portions(self, uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
        """The UIDs in arrival order, grouped so one FETCH carries at most FETCH_BYTES."""
        portion: list[int] = []
        total = 0
        for uid in uids:
            size = 0 if self._too_large(sizes[uid]) else sizes[uid]
            if portion and total + size > FETCH_BYTES:
                yield portion
                portion, total = [], 0
            portion.append(uid)
            total += size
        if portion:
            yield portion

    def _fetch_portion(self, client: IMAPClient, uids: list[int],
                       sizes: dict[int, int]) -> Iterator[tuple[int, FetchedMessage]]:
        large = [uid for uid in uids if self._too_large(sizes[uid])]
        whole = [uid for uid in uids if uid not in large]
        fetched = client.fetch(whole, ["BODY.PEEK[]"]) if whole else {}
        # A partial fetch: even a header block as large as the message stops at the cap.
        headers = client.fetch(large, [f"BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>"]) \
            if large else {}
        for uid in uids:
            if uid in large:
                data = headers.get(uid) or {}
                header = data.get(b"BODY[HEADER]<0>", data.get(b"BODY[HEADER]"))
                if header is not None:
                    log.info("message %s is %d bytes, over the limit: only its headers were "
                             "read", uid, sizes[uid])
                    yield uid, FetchedMessage(source_key=self.source_key(uid),
                                              raw=bytes(header), full_size=sizes[uid])
                continue
            data = fetched.get(uid) or {}
            if b"BODY[]" in data:
                yield uid, FetchedMessage(source_key=self.source_key(uid), raw=data[b"BODY[]"])

    def source_key(self, uid: int) -> str:
        return f"imap:{self.url.path}:{self.uidvalidity}:{uid}"

    def file(self, message: FetchedMessage, folder: str) -> None:
        """Note where a handled message goes; moves are sent in batches (`flush_moves`)."""
        _, _, uidvalidity, uid = message.source_key.rsplit(":", 3)
        if int(uidvalidity) == self.uidvalidity:
            self._moves.setdefault(folder, []).append(int(uid))

    def flush_moves(self) -> None:
        """Move handled mail out of the inbox, one command per folder. Best effort: a move
        that is lost (crash, dropped connection) only means a harmless re-fetch, since the
        source-key dedupe recognises the message."""
        moves, self._moves = self._moves, {}
        if self.client is None:
            return
        client = self.client
        for folder, uids in moves.items():
            try:
                if not folder:
                    client.delete_messages(uids)
                    self._expunge(uids)
                    continue
                if folder not in self._folders_made:
                    if not client.folder_exists(folder):
                        client.create_folder(folder)
                    self._folders_made.add(folder)
                if client.has_capability("MOVE"):
                    client.move(uids, folder)
                else:
                    client.copy(uids, folder)
                    client.delete_messages(uids)
                    self._expunge(uids)
            except IMAPClientError as exc:
                log.warning("could not move %d message(s) to %s: %s", len(uids), folder, exc)
        _forget_unsolicited(client)

    def _expunge(self, uids: list[int]) -> None:
        assert self.client is not None
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def wait(self, timeout: float, stopping: threading.Event | None = None) -> bool:
        """IDLE until the server reports new mail, `timeout` passes or we are stopping."""
        client = self.connect()
        if not client.has_capability("IDLE"):
            (stopping or threading.Event()).wait(min(timeout, 5))
            client.noop()
            return True
        self.flush_moves()
        # Mail that arrived while we were busy sends no IDLE notice: look before idling.
        client.noop()
        if any(uid > self._last_uid() for uid in client.search(["ALL"])):
            return True
        deadline = time.monotonic() + min(timeout, IDLE_REISSUE_SECONDS)
        client.idle()
        try:
            # Short checks keep a stop request (SIGTERM) answered within a second.
            while time.monotonic() < deadline and not (stopping and stopping.is_set()):
                slice_seconds = max(0.01, min(1.0, deadline - time.monotonic()))
                started = time.monotonic()
                responses = client.idle_check(timeout=slice_seconds)
                if any(_announces_mail(r) for r in responses):
                    return True
                if any(_says_goodbye(r) for r in responses) or (
                        not responses and time.monotonic() - started < slice_seconds / 2):
                    # imapclient swallows EOF: an early empty answer means the server left.
                    raise ConnectionError("the IMAP server closed the connection")
            return False
        finally:
            client.idle_done()
            _forget_unsolicited(client)


def _header_block(file: BinaryIO) -> bytes:
    """A message file's headers, up to the blank line that ends them (at most
    MAX_HEADER_BYTES), read line by line so the body is never read."""
    lines: list[bytes] = []
    read = 0
    while read < MAX_HEADER_BYTES:
        line = file.readline(MAX_HEADER_BYTES - read)
        if line in (b"", b"\r\n", b"\n"):
            break
        lines.append(line)
        read += len(line)
    return b"".join(lines)


def _forget_unsolicited(client: IMAPClient) -> None:
    """Drop the untagged responses imaplib keeps for the connection's whole life: an EXPUNGE
    for every message moved out of the inbox, EXISTS after each NOOP and IDLE. Nothing reads
    them (new mail is found by UID SEARCH), and a service that stays connected for weeks
    would hold one for every message it ever filed."""
    # imapclient has no call for this. Its methods that use the dict (SELECT, CAPABILITY,
    # QUOTA) read it right after their own command, so nothing is lost between commands.
    client._imap.untagged_responses.clear()


def _announces_mail(response: object) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (
        b"EXISTS", b"RECENT")


def _says_goodbye(response: object) -> bool:
    return isinstance(response, tuple) and len(response) >= 1 and response[0] == b"BYE"


def _quietly_logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (*CONNECTION_ERRORS, Exception):  # noqa: BLE001 - the connection is going anyway
        with contextlib.suppress(Exception):
            client.shutdown()
