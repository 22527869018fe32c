"""Running the assistant in tests: in-process passes, or the real `mailer run` process."""

from __future__ import annotations

import email
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

from mailer.app import PassReport, Service, build_source
from mailer.config.settings import SHIPPED_DEFAULTS, Settings, load_settings
from mailer.flows.runtime import system_clock
from mailer.mail.smtp import sender_for
from mailer.runtime import build_runtime

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = "transitions@example.com"


# The assistants of the running test, newest first: what one of their mails is can be looked up
# by its (opaque) Message-ID.
_RECENT: list[Assistant] = []


def kind_of_mail(msg: EmailMessage) -> str:
    """What one of our emails is (`questionnaire`, `customer_intro`...), as the assistant that
    sent it recorded it; '' for mail no recent assistant sent. Message-IDs are opaque."""
    message_id = str(msg["Message-ID"]).strip()
    for assistant in _RECENT:
        kind = assistant.record_by_id(message_id).get("kind", "")
        if kind:
            return kind
    return ""


class Assistant:
    """One assistant instance: its own data directory, outbox and environment."""

    def __init__(self, home: Path, servers: object | None = None, *,
                 extra_env: dict[str, str] | None = None) -> None:
        _RECENT.insert(0, self)
        del _RECENT[4:]
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "MAILER_ADDRESS": ADDRESS,
            "MAILER_DATA_DIR": str(home / "var"),
            "MAILER_OUTBOX": str(home / "outbox"),
            "MAILER_RULES": str(SHIPPED_DEFAULTS / "inbox_rules.yaml"),
            "MAILER_PLAYBOOKS": str(SHIPPED_DEFAULTS / "playbooks"),
            "MAILER_TEMPLATES": str(SHIPPED_DEFAULTS / "templates"),
            "MAILER_TIMEZONE": "UTC",
        }
        if servers is not None:
            self.env |= servers.mailer_environment(ADDRESS)  # type: ignore[attr-defined]
        self.env |= extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> Settings:
        return load_settings(self.env, cwd=self.home)

    def service(self, *, clock: Callable[[], datetime] = system_clock,
                dry_run: bool = False) -> Service:
        rt = build_runtime(self.settings, clock=clock)
        return Service(rt=rt, source=build_source(rt), sender=sender_for(rt.settings),
                       dry_run=dry_run)

    def run_once(self, *, now: datetime | None = None) -> PassReport:
        service = self.service(clock=(lambda: now) if now else system_clock)
        try:
            return service.run_once()
        finally:
            service.close()

    def kind_of(self, raw: bytes) -> str:
        """What one of our emails is, as the assistant recorded it when it queued it
        (`questionnaire_receipt`, `customer_intro`, ...); '' for mail that is not ours."""
        return self.record_of(raw).get("kind", "")

    def record_of(self, raw: bytes) -> dict[str, str]:
        """The outbound row of one of our emails: kind, template, thread, transition."""
        return self.record_by_id(str(parse(raw)["Message-ID"]).strip())

    def record_by_id(self, message_id: str) -> dict[str, str]:
        database = Path(self.env["MAILER_DATA_DIR"]) / "mailer.sqlite3"
        if not database.exists():
            return {}
        with closing(sqlite3.connect(database)) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT kind, template, thread, transition_id FROM outbound "
                             "WHERE message_id=?", (message_id,)).fetchone()
        return dict(zip(row.keys(), (value or "" for value in row), strict=True)) if row else {}

    # -- the real service process ----------------------------------------------------------

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = open(self.home / "service.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "mailer", "run"], cwd=self.home,
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
        self._log = log

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=15)
        finally:
            self._log.close()
        self.process = None
        return code

    def log_text(self) -> str:
        path = self.home / "service.log"
        return path.read_text(errors="replace") if path.exists() else ""


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def text_of(raw: bytes) -> str:
    part = parse(raw).get_body(("plain",))
    return part.get_content() if part is not None else ""


def html_of(raw: bytes) -> str:
    part = parse(raw).get_body(("html",))
    return part.get_content() if part is not None else ""


def wait_until(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class SimulatedTime:
    """One assistant service kept up while the test moves its clock forward.

    Like `Assistant.run_once(now=...)` called again and again, but without rebuilding the
    service for every pass, so weeks of half-hour passes take seconds. `skip_to` moves the
    clock with no pass at all: the service was down.
    """

    def __init__(self, assistant: Assistant, start: datetime) -> None:
        self.now = start
        self.service = assistant.service(clock=lambda: self.now)

    def at(self, moment: datetime) -> PassReport:
        """One pass at `moment` (never earlier than the last one)."""
        assert moment >= self.now, f"time only moves forward: {moment} < {self.now}"
        self.now = moment
        client = getattr(self.service.source, "client", None)
        if client is not None:
            client.noop()  # an open IMAP session sees new mail after a sync, as IDLE gives one
        return self.service.run_once()

    def run_until(self, end: datetime, *, every: timedelta = timedelta(minutes=30)) -> None:
        """A pass at every `every` after the current time, up to and including `end`."""
        moment = self.now + every
        while moment <= end:
            self.at(moment)
            moment += every
        if self.now < end:
            self.at(end)

    def skip_to(self, moment: datetime) -> None:
        assert moment >= self.now
        self.now = moment

    def close(self) -> None:
        self.service.close()


def spawned_children(pid: int) -> list[int]:
    """The processes `pid` started with multiprocessing (its courier, its workbook workers):
    its fork server's children, or where it spawns them, its children that were spawned; not
    the fork server itself nor multiprocessing's resource tracker. Read from /proc."""
    parents = _processes_by_parent()
    children = parents.get(pid, [])
    servers = [child for child, cmdline in children if b"multiprocessing.forkserver" in cmdline]
    return sorted([child for server in servers for child, _ in parents.get(server, [])]
                  + [child for child, cmdline in children if b"spawn_main" in cmdline])


def every_descendant(pid: int) -> list[int]:
    """Every process below `pid`: its children, theirs, and so on."""
    parents = _processes_by_parent()
    found: list[int] = []
    below = [child for child, _ in parents.get(pid, [])]
    while below:
        found.extend(below)
        below = [child for parent in below for child, _ in parents.get(parent, [])]
    return sorted(found)


def _processes_by_parent() -> dict[int, list[tuple[int, bytes]]]:
    found: dict[int, list[tuple[int, bytes]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] == "Z":
                continue  # ended, waiting for its parent to read its exit
            found.setdefault(int(stat[1]), []).append(
                (int(entry.name), (entry / "cmdline").read_bytes()))
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
    return found


def process_alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent to read its exit."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
