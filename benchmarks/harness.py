"""The test suite's real servers, the product as a child process, and the mail they move.

Dovecot and the aiosmtpd relay come from `tests/mailservers.py`, exactly as the tests start
them, on loopback. The product always runs as its own process (`mailer run` or `mailer run
--once`), so its CPU and memory are its own and not the relay's, which lives in this process.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mailservers import AcceptedEnvelope, MailServers, find_dovecot  # noqa: E402

import mailer  # noqa: E402
from mailer.config.settings import SHIPPED_DEFAULTS  # noqa: E402

ADDRESS = "transitions@example.com"
MANAGER = "dana@example.com"
APPEND_CHUNK = 200
POLL_SECONDS = 0.01
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]*)>", re.IGNORECASE | re.MULTILINE)


class BenchmarkError(RuntimeError):
    """A benchmark could not finish (a timeout, a crashed child); the message says which."""


class MailKinds:
    """What each of the product's mails is (`questionnaire`, `workbook`...), looked up by its
    Message-ID in the product's own outbound table: Message-IDs are opaque. A row is
    committed before its mail is sent, so a mail the relay accepted is always found."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._kinds: dict[str, str] = {}
        self._last_row = 0  # rows up to this one are read: each look reads only newer ones

    def __call__(self, envelope: AcceptedEnvelope) -> str:
        found = _MESSAGE_ID.search(envelope.data)
        if found is None:
            return ""
        message_id = f"<{found.group(1).decode(errors='replace')}>"
        if message_id not in self._kinds:
            self._refresh()
        return self._kinds.get(message_id, "")

    def _refresh(self) -> None:
        if not self.database.exists():
            return
        for _ in range(20):  # a reader can be turned away while the product checkpoints
            try:
                with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro",
                                                        uri=True, timeout=5)) as db:
                    rows = db.execute("SELECT id, message_id, kind FROM outbound WHERE id > ? "
                                      "ORDER BY id", (self._last_row,)).fetchall()
                for row_id, message_id, kind in rows:
                    self._kinds[message_id] = kind
                    self._last_row = row_id
                return
            except sqlite3.Error:
                time.sleep(0.05)


def compile_bytecode() -> None:
    """Byte-compile the product and the floor, as pip does when it installs a package. A
    checkout's editable install has no bytecode of its own, and where PYTHONDONTWRITEBYTECODE
    is set (as on the machine these figures come from) every start compiled the product's
    hundred modules from source again: 0.1 to 0.2 s more before the first message (median of
    eight starts in turn, 0.76 against 0.67 s), which is not what an installed assistant
    does. Only missing or outdated files are written."""
    for package in (Path(mailer.__file__).parent, Path(__file__).parent):
        compileall.compile_dir(package, quiet=1)


# --------------------------------------------------------------------------------------------
# Servers


@contextlib.contextmanager
def running_servers() -> Iterator[MailServers]:
    binary = find_dovecot()
    if binary is None:
        raise BenchmarkError("Dovecot is not installed: apt-get install dovecot-imapd "
                             "dovecot-lmtpd (the test suite installs it when run as root)")
    servers = MailServers(dovecot_binary=binary)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


def append_all(servers: MailServers, user: str, raws: Sequence[bytes]) -> None:
    """Plant messages in `user`'s inbox, many per IMAP command (MULTIAPPEND)."""
    with servers.imap(user) as client:
        for start in range(0, len(raws), APPEND_CHUNK):
            client.multiappend("INBOX", list(raws[start:start + APPEND_CHUNK]))


def wait_for_accepted(servers: MailServers, predicate: Callable[[AcceptedEnvelope], bool],
                      count: int, *, timeout: float,
                      alive: Callable[[], bool] = lambda: True) -> list[AcceptedEnvelope]:
    """Block until `count` accepted envelopes match; BenchmarkError on timeout."""
    deadline = time.monotonic() + timeout
    seen = 0
    matched: list[AcceptedEnvelope] = []
    while True:
        # Asked before looking: a sender that accepted its last mail and exited meanwhile
        # still has that mail counted.
        over = time.monotonic() > deadline or not alive()
        accepted = servers.accepted
        # The relay appends meanwhile: what arrives after `end` is looked at next time.
        end = len(accepted)
        matched.extend(e for e in accepted[seen:end] if predicate(e))
        seen = end
        if len(matched) >= count:
            return matched
        if over:
            raise BenchmarkError(f"only {len(matched)} of {count} messages were accepted "
                                 "by SMTP in time")
        time.sleep(POLL_SECONDS)


# --------------------------------------------------------------------------------------------
# The product


@dataclass
class ProductHome:
    """One assistant instance: its own data directory, outbox and environment."""

    home: Path
    env: dict[str, str]
    profile_dir: Path | None = None  # when set, each run is recorded by pyinstrument

    @classmethod
    def create(cls, parent: Path, name: str, servers: MailServers | None) -> ProductHome:
        home = parent / name
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "MAILER_ADDRESS": ADDRESS,
            "MAILER_DATA_DIR": str(home / "var"),
            "MAILER_OUTBOX": str(home / "outbox"),
            "MAILER_RULES": str(SHIPPED_DEFAULTS / "inbox_rules.yaml"),
            "MAILER_PLAYBOOKS": str(SHIPPED_DEFAULTS / "playbooks"),
            "MAILER_TEMPLATES": str(SHIPPED_DEFAULTS / "templates"),
            "MAILER_TIMEZONE": "UTC",
        }
        if servers is not None:
            env |= servers.mailer_environment(ADDRESS)
        return cls(home=home, env=env)

    @property
    def database(self) -> Path:
        return self.home / "var" / "mailer.sqlite3"

    def spawn(self, *args: str) -> Child:
        log = open(self.home / "product.log", "ab")  # noqa: SIM115 - closed by Child.finish
        process = subprocess.Popen(
            [*self._interpreter(), "-m", "mailer", *args], cwd=self.home,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT)
        return Child(process=process, log_file=log, log_path=self.home / "product.log")

    def _interpreter(self) -> list[str]:
        if self.profile_dir is None:
            return [sys.executable]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        runs = len(list(self.profile_dir.glob(f"{self.home.name}-*.pyisession")))
        target = self.profile_dir / f"{self.home.name}-{runs + 1}.pyisession"
        return [sys.executable, "-m", "pyinstrument", "--interval", "0.002", "-r", "session",
                "-o", str(target)]

    def log_text(self) -> str:
        path = self.home / "product.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Child:
    """A product process; `finish()` reaps it."""

    process: subprocess.Popen[bytes]
    log_file: object
    log_path: Path
    returncode: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.returncode is None and _proc_status(self.pid).get("State", "Z")[:1] not in (
            "Z", "X", "")

    def rss_kib(self) -> tuple[int, int]:
        """(current RSS, peak RSS so far) in KiB, from /proc."""
        status = _proc_status(self.pid)
        return _kib(status.get("VmRSS", "0 kB")), _kib(status.get("VmHWM", "0 kB"))

    def cpu_ticks(self) -> int:
        """User plus system CPU time used so far, in clock ticks (from /proc)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])

    def wait_until_idle(self, *, quiet: float = 0.25, timeout: float = 120) -> None:
        """Block until the process has used no CPU for `quiet` seconds (it sits in IDLE)."""
        deadline = time.monotonic() + timeout
        ticks, since = self.cpu_ticks(), time.monotonic()
        while time.monotonic() - since < quiet:
            if time.monotonic() > deadline or not self.alive():
                raise BenchmarkError("the service never went idle")
            time.sleep(POLL_SECONDS * 5)
            now_ticks = self.cpu_ticks()
            if now_ticks != ticks:
                ticks, since = now_ticks, time.monotonic()

    def finish(self, *, timeout: float, stop_signal: int | None = None) -> int:
        """Wait for the process (signalling it first if asked); its exit code."""
        if stop_signal is not None and self.returncode is None:
            self.process.send_signal(stop_signal)
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self.process.returncode = self.returncode  # reaped here, not by Popen
                break
            if time.monotonic() > deadline:
                self.process.kill()
                deadline = time.monotonic() + 10
            time.sleep(POLL_SECONDS)
        self.log_file.close()  # type: ignore[attr-defined]
        return self.returncode


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _kib(value: str) -> int:
    return int(value.split()[0]) if value.strip() else 0


# --------------------------------------------------------------------------------------------
# The floor: the same servers moving the same messages with no product logic


@dataclass
class FloorJob:
    """What `python -m benchmarks.floor` does, written to a JSON file for the child."""

    mode: str  # "backlog" | "stream" | "idle"
    imap_host: str
    imap_port: int
    user: str
    password: str
    smtp_host: str
    smtp_port: int
    replies_dir: str  # prepared replies: NNNNNN.eml and NNNNNN.json (envelope)
    per_message: list[int] = field(default_factory=list)  # replies to send per message

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.__dict__))
        return path


def prepare_replies(envelopes: Sequence[AcceptedEnvelope], directory: Path) -> Path:
    """Keep the product's own outgoing mail so the floor sends exactly the same bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, envelope in enumerate(envelopes):
        (directory / f"{number:06d}.eml").write_bytes(envelope.data)
        (directory / f"{number:06d}.json").write_text(json.dumps(
            {"from": envelope.mail_from, "to": list(envelope.rcpt_tos)}))
    return directory


def spread(total: int, parts: int) -> list[int]:
    """`total` replies shared as evenly as possible over `parts` messages."""
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def floor_job(servers: MailServers, mode: str, user: str, replies: Path,
              per_message: list[int]) -> FloorJob:
    return FloorJob(mode=mode, imap_host=servers.imap_host, imap_port=servers.imap_port,
                    user=user, password=servers.password, smtp_host=servers.smtp_host,
                    smtp_port=servers.smtp_port, replies_dir=str(replies),
                    per_message=per_message)


def spawn_floor(job: FloorJob, workdir: Path) -> subprocess.Popen[bytes]:
    path = job.write(workdir / f"floor-{job.mode}.json")
    log = open(workdir / f"floor-{job.mode}.log", "ab")  # noqa: SIM115 - child keeps it
    with log:
        return subprocess.Popen([sys.executable, "-m", "benchmarks.floor", str(path)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mailer-bench-"))
