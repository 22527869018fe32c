"""Real mail servers on loopback for the test suite.

Dovecot serves IMAP (plain, on a free 127.0.0.1 port) and takes deliveries over LMTP on a unix
socket; an aiosmtpd server in front of it plays the outgoing SMTP relay and hands every accepted
message to Dovecot, so what the assistant sends really lands in the recipients' mailboxes. The relay
can be told to fail on purpose (4xx/5xx answers, refused connections) for reliability tests.

Every address is a valid login and delivery target, all sharing one password; usernames are full
email addresses and `name+TOKEN@domain` is delivered to `name@domain`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ctypes
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from imapclient import IMAPClient

LOOPBACK = "127.0.0.1"
DEFAULT_PASSWORD = "secret"
DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
SHUTDOWN_GRACE = 0.3
POLL_INTERVAL = 0.02
PR_SET_PDEATHSIG = 1

# Resolved now, in the parent: the forked child should do nothing but make the call. Linux only.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def _die_with_this_process() -> None:
    """Runs in the forked child: SIGTERM the Dovecot master if the test process is killed.

    Without it, a test run ended by SIGKILL or an unhandled SIGTERM (a CI timeout) would leave
    Dovecot running forever, since no fixture teardown gets to stop it.
    """
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def find_dovecot() -> str | None:
    """The dovecot binary, looked up on PATH and in sbin (ordinary users often lack sbin)."""
    on_path = shutil.which("dovecot")
    if on_path is not None:
        return on_path
    return next((path for path in DOVECOT_CANDIDATES if os.access(path, os.X_OK)), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class AcceptedEnvelope:
    """One message the SMTP relay accepted and delivered."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: float
    mail_options: tuple[str, ...] = ()  # as given on MAIL FROM (SIZE=...)


# --------------------------------------------------------------------------------------------
# Processes


@dataclass(frozen=True)
class _ProcessInfo:
    pid: int
    parent: int
    session: int
    state: str
    name: str


def _read_process(pid: int) -> _ProcessInfo | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name sits in parentheses and may itself contain spaces or parentheses.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return _ProcessInfo(pid, int(fields[1]), int(fields[3]), fields[0], name)


def _live_processes() -> list[_ProcessInfo]:
    found = (_read_process(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [info for info in found if info is not None and info.state not in ("Z", "X")]


def _family_of(leader: int) -> list[_ProcessInfo]:
    """Live processes descending from `leader` or still in the session it leads.

    The session catches children that were orphaned (re-parented to init) when the master died.
    """
    processes = _live_processes()
    children: dict[int, list[_ProcessInfo]] = {}
    for info in processes:
        children.setdefault(info.parent, []).append(info)
    family = {info.pid: info for info in processes if info.session == leader}
    pending = [leader]
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in family:
                family[child.pid] = child
                pending.append(child.pid)
    family.pop(leader, None)
    return list(family.values())


def _is_alive(pid: int) -> bool:
    info = _read_process(pid)
    return info is not None and info.state not in ("Z", "X")


def _end_processes(pids: Iterable[int], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM each pid, then SIGKILL whatever is still alive after `timeout`."""
    remaining = set(pids)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while remaining and time.monotonic() < deadline:
            remaining = {pid for pid in remaining if _is_alive(pid)}
            if remaining:
                time.sleep(POLL_INTERVAL)
        if not remaining:
            return
    raise RuntimeError(f"processes {sorted(remaining)} survived SIGKILL")


# --------------------------------------------------------------------------------------------
# Dovecot


@dataclass(frozen=True)
class _Identities:
    """Which accounts Dovecot's processes run as; root and ordinary users need different ones."""

    internal_user: str
    internal_group: str
    login_user: str
    mail_uid: int
    mail_gid: int
    can_chroot: bool

    @classmethod
    def for_current_user(cls) -> _Identities:
        if os.geteuid() == 0:
            # Dovecot refuses to touch mail as root, so mail belongs to an unprivileged account.
            mail_owner = _first_account("nobody", "dovecot")
            return cls("dovecot", "dovecot", "dovenull", mail_owner.pw_uid, mail_owner.pw_gid, True)
        me = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(os.getegid()).gr_name
        return cls(me.pw_name, group, me.pw_name, me.pw_uid, os.getegid(), False)


def _first_account(*names: str) -> pwd.struct_passwd:
    for name in names:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"none of the accounts {names} exists to own the test mail")


_DOVECOT_CONF = Template("""\
# Written by tests/mailservers.py for one test run; not a production configuration.
base_dir = $root/run
state_dir = $root/state
instance_name = $instance
log_path = $root/dovecot.log
hostname = mail.example.com
postmaster_address = postmaster@example.com

protocols = imap lmtp
listen = $host
ssl = $ssl
$ssl_files
disable_plaintext_auth = no
auth_mechanisms = plain login$oauth2_mechanisms
login_trusted_networks = 127.0.0.0/8

default_internal_user = $internal_user
default_internal_group = $internal_group
default_login_user = $login_user
first_valid_uid = 0
first_valid_gid = 0
mail_uid = $mail_uid
mail_gid = $mail_gid

mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = 1000
recipient_delimiter = +
lmtp_hdr_delivery_address = final

namespace inbox {
  inbox = yes
  separator = /
}

# A wrong password must not slow down the next login: no failure delay, and "nodelay" also
# keeps the failure out of the per-IP penalty that would throttle every later test.
auth_failure_delay = 0
passdb {
  driver = static
  args = password=$password nodelay=yes
  $password_mechanisms
}
$oauth2_passdb
userdb {
  driver = static
  # Every address exists: delivery need not ask a passdb (the oauth2 one cannot answer).
  args = home=$root/mail/%u allow_all_users=yes
}

service imap-login {
  $login_chroot
  inet_listener imap {
    address = $host
    port = $imap_port
  }
  $imaps_listener
}
service anvil {
  $anvil_chroot
  $anvil_penalty
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
""")


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for localhost and 127.0.0.1, for the TLS tests."""

    cert_path: Path
    key_path: Path

    @classmethod
    def make(cls, folder: Path) -> Certificate | None:
        openssl = shutil.which("openssl")
        if openssl is None:
            return None
        cert, key = folder / "tls-cert.pem", folder / "tls-key.pem"
        done = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            return None
        key.chmod(0o644)  # Dovecot's config process reads it as another user under root
        return cls(cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


class DovecotServer:
    """One Dovecot instance (IMAP + LMTP) living entirely under `root`."""

    def __init__(self, root: Path, *, binary: str, imap_port: int, password: str,
                 imaps_port: int | None = None, certificate: Certificate | None = None,
                 introspection_url: str | None = None) -> None:
        self.root = root
        self.introspection_url = introspection_url
        self.binary = binary
        self.imap_port = imap_port
        self.imaps_port = imaps_port
        self.certificate = certificate
        self.password = password
        self.identities = _Identities.for_current_user()
        self.config_path = root / "dovecot.conf"
        self.log_path = root / "dovecot.log"
        self.mail_root = root / "mail"
        self.lmtp_socket = root / "run" / "lmtp"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self._prepare_directories()
        self.config_path.write_text(self._render_config())
        stderr = (self.root / "dovecot.stderr").open("ab")
        with stderr:
            # Foreground mode keeps the master our child; its own session lets stop() find
            # every process it spawned, even ones orphaned by a crash.
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
                # The death signal follows the *thread* that forked, so only the main thread,
                # which lives as long as the process, may ask for it.
                preexec_fn=_die_with_this_process if _on_main_thread() else None,
            )
        self._wait_until_ready()

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        family = {info.pid for info in _family_of(process.pid)}
        if process.poll() is None:
            # A graceful shutdown says BYE to IMAP clients, but the master then lingers for up
            # to a second or more waiting on its helpers; after a short grace it is killed.
            process.terminate()
            try:
                process.wait(SHUTDOWN_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Children, imap sessions included, are ended by pid, whoever their parent is now.
        _end_processes(family | {info.pid for info in _family_of(process.pid)})
        # A killed master leaves its pid file; a recycled pid would then block the next start.
        (self.root / "run" / "master.pid").unlink(missing_ok=True)

    def pids(self) -> list[int]:
        """The master and every live process it spawned."""
        if self._process is None:
            return []
        master = [self._process.pid] if _is_alive(self._process.pid) else []
        return master + sorted(info.pid for info in _family_of(self._process.pid))

    def end_imap_sessions(self) -> None:
        """Disconnect every IMAP client, as a server restart would."""
        if self._process is None:
            return
        sessions = [info.pid for info in _family_of(self._process.pid) if info.name == "imap"]
        _end_processes(sessions)

    def delete_all_mail(self) -> None:
        self.end_imap_sessions()
        if not self.mail_root.exists():
            return
        for home in self.mail_root.iterdir():
            shutil.rmtree(home, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.root / "dovecot.stderr", self.log_path):
            if path.exists():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts)

    def _prepare_directories(self) -> None:
        for directory in (self.root / "run", self.root / "state", self.mail_root):
            directory.mkdir(parents=True, exist_ok=True)
        # Unprivileged Dovecot processes must reach their sockets and the mail homes.
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            os.chown(self.mail_root, self.identities.mail_uid, self.identities.mail_gid)

    def _render_config(self) -> str:
        ids = self.identities
        no_chroot = "" if ids.can_chroot else "chroot ="
        return _DOVECOT_CONF.substitute(
            root=self.root,
            instance=f"mailer-test-{self.imap_port}",
            host=LOOPBACK,
            imap_port=self.imap_port,
            password=self.password,
            internal_user=ids.internal_user,
            internal_group=ids.internal_group,
            login_user=ids.login_user,
            mail_uid=ids.mail_uid,
            mail_gid=ids.mail_gid,
            login_chroot=no_chroot,
            anvil_chroot=no_chroot,
            **self._tls_settings(),
            **self._oauth2_settings(),
        )

    def _oauth2_settings(self) -> dict[str, str]:
        """XOAUTH2 and OAUTHBEARER sign-in, each token checked with the introspection server
        (RFC 7662), as Dovecot does in front of Google's or Microsoft's."""
        if self.introspection_url is None:
            return {"oauth2_mechanisms": "", "oauth2_passdb": "", "anvil_penalty": "",
                    "password_mechanisms": ""}
        settings = self.root / "dovecot-oauth2.conf.ext"
        settings.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.introspection_url}\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
            "timeout_msecs = 5000\n")
        settings.chmod(0o644)  # read by Dovecot's auth process, another user under root
        return {"oauth2_mechanisms": " xoauth2 oauthbearer",
                "password_mechanisms": "mechanisms = plain login",
                # A refused token must not slow the next sign-in (the retry under test):
                # no per-IP penalty, as "nodelay" does for the password logins.
                "anvil_penalty": "unix_listener anvil-auth-penalty {\n    mode = 0\n  }",
                "oauth2_passdb": ("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 "
                                  f"oauthbearer\n  args = {settings}\n}}")}

    def _tls_settings(self) -> dict[str, str]:
        """STARTTLS on the plain port and implicit TLS on imaps_port, when a certificate
        could be made; plain-text logins stay allowed for the tests that use `?tls=off`."""
        cert = self.certificate
        if cert is None or self.imaps_port is None:
            return {"ssl": "no", "ssl_files": "", "imaps_listener": ""}
        return {"ssl": "yes",
                "ssl_files": f"ssl_cert = <{cert.cert_path}\nssl_key = <{cert.key_path}",
                "imaps_listener": (f"inet_listener imaps {{\n    address = {LOOPBACK}\n"
                                   f"    port = {self.imaps_port}\n    ssl = yes\n  }}")}

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"Dovecot exited during start-up:\n{self.log_tail()}")
            imap_ready = self._greets(
                socket.AF_INET, (LOOPBACK, self.imap_port), b"* OK", b"a LOGOUT\r\n"
            )
            if imap_ready and self._greets(
                socket.AF_UNIX, str(self.lmtp_socket), b"220", b"QUIT\r\n"
            ):
                return
            time.sleep(POLL_INTERVAL)
        self.stop()
        raise RuntimeError(f"Dovecot did not answer within {START_TIMEOUT}s:\n{self.log_tail()}")

    @staticmethod
    def _greets(family: int, address: object, greeting: bytes, goodbye: bytes) -> bool:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                probe.connect(address)
                if not probe.recv(64).startswith(greeting):
                    return False
                probe.sendall(goodbye)  # a polite exit keeps "connection reset" out of the log
                probe.recv(256)
                return True
        except OSError:
            return False


# --------------------------------------------------------------------------------------------
# OAuth2: the token authority that Dovecot and the SMTP relay ask about bearer tokens


class TokenAuthority:
    """A token-introspection endpoint (RFC 7662) on loopback, standing in for Google's or
    Microsoft's: it knows which access tokens it issued, to whom, and which have expired.

    Dovecot's oauth2 passdb POSTs `token=...` to it; the XOAUTH2 SMTP relay asks it directly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, bool]] = {}  # token -> (user, still active)
        self._refresh: dict[str, tuple[str, str, bool]] = {}  # -> (user, client, rotates)
        self.asked: list[str] = []  # every token a server asked about, in order
        authority = self

        class Introspection(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[-1] for key, values in parse_qs(
                    self.rfile.read(length).decode("ascii", "replace")).items()}
                if self.path == "/token":
                    status, answer = authority.refresh(form)
                else:
                    user = authority.user_of(form.get("token", ""))
                    status = 200
                    answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return None  # keep the test output for the tests

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Introspection)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_port}/introspect"

    @property
    def token_url(self) -> str:
        """The token endpoint, where a refresh token buys an access token (RFC 6749, 6)."""
        return f"http://{LOOPBACK}:{self._server.server_port}/token"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                            name="token-introspection")
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        self._server.server_close()

    def issue(self, user: str) -> str:
        """A new access token for `user`, valid until expire()."""
        token = f"ya29.{secrets.token_urlsafe(32)}"  # shaped like Google's, for realism
        with self._lock:
            self._tokens[token] = (user.lower(), True)
        return token

    def grant(self, user: str, client_id: str, *, rotate: bool = False) -> str:
        """A refresh token for `user`, as a first sign-in in the browser gives; with `rotate`,
        each use hands out a new one and retires the old (Microsoft's way)."""
        refresh = f"1//{secrets.token_urlsafe(32)}"
        with self._lock:
            self._refresh[refresh] = (user.lower(), client_id, rotate)
        return refresh

    def refresh(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        """The token endpoint's answer to grant_type=refresh_token."""
        with self._lock:
            user, client_id, rotate = self._refresh.get(form.get("refresh_token", ""),
                                                        ("", "", False))
        if form.get("grant_type") != "refresh_token" or not user or \
                form.get("client_id") != client_id:
            return 400, {"error": "invalid_grant",
                         "error_description": "Token has been expired or revoked."}
        answer: dict[str, object] = {"access_token": self.issue(user), "token_type": "Bearer",
                                     "expires_in": 3599}
        if rotate:
            with self._lock:
                del self._refresh[form["refresh_token"]]
            answer["refresh_token"] = self.grant(user, client_id, rotate=True)
        return 200, answer

    def expire(self, token: str) -> None:
        with self._lock:
            user, _ = self._tokens[token]
            self._tokens[token] = (user, False)

    def user_of(self, token: str) -> str | None:
        """The user an active token belongs to; None for an expired or unknown one."""
        with self._lock:
            self.asked.append(token)
            user, active = self._tokens.get(token, ("", False))
        return user if active else None


def _xoauth2_parts(blob: bytes) -> tuple[str, str]:
    """('user', 'token') from the XOAUTH2 initial response: user=U^Aauth=Bearer T^A^A."""
    fields = dict(part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01")
                  if "=" in part)
    return fields.get("user", "").lower(), fields.get("auth", "").removeprefix("Bearer ")


# --------------------------------------------------------------------------------------------
# SMTP relay


def _reply(code: int, text: str | None) -> str:
    if text is not None:
        return f"{code} {text}"
    enhanced = "4.3.0" if code < 500 else "5.7.1"
    return f"{code} {enhanced} Failure injected by the test"


class FaultPlan:
    """Failures the SMTP relay should produce on purpose; safe to change from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._message_faults: list[str] = []
        self._recipient_faults: dict[str, str] = {}

    def fail_next_messages(self, code: int, count: int = 1, text: str | None = None) -> None:
        with self._lock:
            self._message_faults.extend([_reply(code, text)] * count)

    def fail_recipient(self, address: str, code: int, text: str | None = None) -> None:
        with self._lock:
            self._recipient_faults[address.lower()] = _reply(code, text)

    def clear(self) -> None:
        with self._lock:
            self._message_faults.clear()
            self._recipient_faults.clear()

    def take_message_fault(self) -> str | None:
        with self._lock:
            return self._message_faults.pop(0) if self._message_faults else None

    def recipient_fault(self, address: str) -> str | None:
        with self._lock:
            return self._recipient_faults.get(address.lower())


class LmtpRelayHandler:
    """aiosmtpd handler: each accepted message goes into Dovecot over LMTP, one RCPT at a time."""

    def __init__(self, lmtp_socket: Path, faults: FaultPlan) -> None:
        self.lmtp_socket = lmtp_socket
        self.faults = faults
        self.accepted: list[AcceptedEnvelope] = []
        self.delivering = 0  # messages between DATA and the reply to it, over all sessions
        self.most_at_once = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self.faults.recipient_fault(address)
        if fault is not None:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        fault = self.faults.take_message_fault()
        if fault is not None:
            if fault.startswith("421"):
                # 421 means the server is going away: answer, then drop the connection.
                transport = server.transport
                if transport is not None:
                    asyncio.get_running_loop().call_soon(transport.close)
            return fault
        data = envelope.content
        assert isinstance(data, bytes)  # decode_data is off, so aiosmtpd keeps bytes
        mail_from = envelope.mail_from or ""
        recipients = tuple(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        self.delivering += 1
        self.most_at_once = max(self.most_at_once, self.delivering)
        try:
            for recipient in recipients:
                failure = await loop.run_in_executor(None, self._deliver, mail_from, recipient,
                                                     data)
                if failure is not None:
                    return failure
        finally:
            self.delivering -= 1
        self.accepted.append(AcceptedEnvelope(mail_from, recipients, data, time.time(),
                                              tuple(envelope.mail_options)))
        return "250 2.0.0 Message accepted for delivery"

    def _deliver(self, mail_from: str, recipient: str, data: bytes) -> str | None:
        """Hand one copy to Dovecot; the SMTP reply to give when that fails, else None."""
        try:
            with smtplib.LMTP(str(self.lmtp_socket), timeout=10) as lmtp:
                lmtp.sendmail(mail_from, [recipient], data)
        except smtplib.SMTPRecipientsRefused as refused:
            code, text = refused.recipients[recipient]
            return f"{code} {text.decode(errors='replace')}"
        except smtplib.SMTPResponseException as error:
            return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}"
        except (OSError, smtplib.SMTPException):
            return "451 4.3.0 The mailbox server is unavailable, try again later"
        return None


class XOAuth2RelayHandler(LmtpRelayHandler):
    """The relay as Gmail's and Microsoft 365's submission servers behave: mail is taken only
    after AUTH XOAUTH2 with a token the authority vouches for, for that very user. A refused
    token gets the JSON error challenge of Google's protocol, then 535."""

    def __init__(self, lmtp_socket: Path, faults: FaultPlan, authority: TokenAuthority) -> None:
        super().__init__(lmtp_socket, faults)
        self.authority = authority

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False)
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=False)
            blob = answer
        user, token = _xoauth2_parts(blob)
        if user and self.authority.user_of(token) == user:
            return AuthResult(success=True, handled=False, auth_data=user)
        await server.challenge_auth(json.dumps(
            {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}))
        return AuthResult(success=False, handled=False)


class SmtpRelay:
    """The aiosmtpd listener; can be stopped and started again on the same port."""

    def __init__(self, handler: LmtpRelayHandler, port: int,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.port = port
        self.tls_context = tls_context  # offers STARTTLS, never requires it
        self._controller: Controller | None = None
        # A relay that takes XOAUTH2 requires it, and offers nothing else.
        self._auth = {"auth_required": True, "auth_require_tls": False,
                      "auth_exclude_mechanism": ["LOGIN", "PLAIN"]} \
            if isinstance(handler, XOAuth2RelayHandler) else {}

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            self.handler,
            hostname=LOOPBACK,
            port=self.port,
            server_hostname="smtp.example.com",  # avoids a slow getfqdn() per connection
            ready_timeout=START_TIMEOUT,
            tls_context=self.tls_context,
            **self._auth,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


# --------------------------------------------------------------------------------------------
# The fixture object


class MailServers:
    """Dovecot and the SMTP relay together, with client-side helpers for tests."""

    def __init__(self, *, dovecot_binary: str, password: str = DEFAULT_PASSWORD,
                 oauth2: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mailer-servers-"))
        # With oauth2, Dovecot also signs people in with XOAUTH2 / OAUTHBEARER tokens, and a
        # second SMTP relay takes mail only after AUTH XOAUTH2, both vouched for by `tokens`.
        self.tokens = TokenAuthority() if oauth2 else None
        self.password = password
        self.imap_host = LOOPBACK
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.certificate = Certificate.make(self.root)
        self.smtp_host = LOOPBACK
        self.smtp_port = free_port()
        self.dovecot = DovecotServer(
            self.root, binary=dovecot_binary, imap_port=self.imap_port, password=password,
            imaps_port=self.imaps_port, certificate=self.certificate,
            introspection_url=self.tokens.url if self.tokens else None,
        )
        self.faults = FaultPlan()
        self.handler = LmtpRelayHandler(self.dovecot.lmtp_socket, self.faults)
        self.smtp = SmtpRelay(self.handler, self.smtp_port,
                              self.certificate.server_context() if self.certificate else None)
        self.oauth_smtp = SmtpRelay(XOAuth2RelayHandler(
            self.dovecot.lmtp_socket, self.faults, self.tokens), free_port()) \
            if self.tokens else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.tokens is not None:
            self.tokens.start()
        self.dovecot.start()
        self.smtp.start()
        if self.oauth_smtp is not None:
            self.oauth_smtp.start()

    def stop(self) -> None:
        try:
            self.smtp.stop()
            if self.oauth_smtp is not None:
                self.oauth_smtp.stop()
            self.dovecot.stop()
            if self.tokens is not None:
                self.tokens.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart_dovecot(self) -> None:
        self.dovecot.stop()
        self.dovecot.start()

    def stop_dovecot(self) -> None:
        self.dovecot.stop()

    def start_dovecot(self) -> None:
        self.dovecot.start()

    def stop_smtp(self) -> None:
        """Close the SMTP listener: connections are refused until start_smtp()."""
        self.smtp.stop()

    def start_smtp(self) -> None:
        self.smtp.start()

    @contextlib.contextmanager
    def smtp_refusing_connections(self) -> Iterator[None]:
        self.stop_smtp()
        try:
            yield
        finally:
            self.start_smtp()

    def dovecot_pids(self) -> list[int]:
        return self.dovecot.pids()

    def reset(self) -> None:
        """A clean slate for the next test: servers up, no faults, no mail, nothing recorded."""
        self.faults.clear()
        self.start_dovecot()
        self.start_smtp()
        self.wipe()

    def wipe(self) -> None:
        """Delete every message and folder of every user, and forget the accepted envelopes."""
        self.dovecot.delete_all_mail()
        self.handler.accepted.clear()
        self.handler.most_at_once = 0

    # -- fault injection ---------------------------------------------------------------------

    def fail_next_messages(self, code: int, count: int = 1, text: str | None = None) -> None:
        """Answer the end of DATA of the next `count` messages with `code` (421 also hangs up)."""
        self.faults.fail_next_messages(code, count, text)

    def fail_recipient(self, address: str, code: int, text: str | None = None) -> None:
        """Answer RCPT TO:<address> with `code` until clear_faults()."""
        self.faults.fail_recipient(address, code, text)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def accepted(self) -> list[AcceptedEnvelope]:
        return self.handler.accepted

    # -- addresses ---------------------------------------------------------------------------

    def imap_url(self, user: str) -> str:
        return f"imap://{quote(user, safe='')}@{self.imap_host}:{self.imap_port}/INBOX?tls=off"

    def smtp_url(self) -> str:
        return f"smtp://{self.smtp_host}:{self.smtp_port}?tls=off"

    def oauth2_environment(self, address: str, token_command: str) -> dict[str, str]:
        """The MAILER_* variables for signing in to IMAP and SMTP with XOAUTH2 as `address`,
        with a token printed by `token_command`; no password anywhere."""
        assert self.oauth_smtp is not None, "start the servers with oauth2=True"
        user = quote(address, safe="")
        return {
            "MAILER_ADDRESS": address,
            "MAILER_IMAP_URL": self.imap_url(address),
            "MAILER_SMTP_URL": f"smtp://{user}@{self.smtp_host}:{self.oauth_smtp.port}?tls=off",
            "MAILER_OAUTH2_TOKEN_COMMAND": token_command,
        }

    def mailer_environment(self, address: str) -> dict[str, str]:
        """The MAILER_* variables that point the assistant at these servers as `address`."""
        return {
            "MAILER_ADDRESS": address,
            "MAILER_IMAP_URL": self.imap_url(address),
            "MAILER_IMAP_PASSWORD": self.password,
            "MAILER_SMTP_URL": self.smtp_url(),
        }

    # -- client side -------------------------------------------------------------------------

    def send(
        self, raw: bytes, *, mail_from: str, rcpt_to: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """Send as a person would, through the SMTP relay.

        Raises smtplib's errors when the message is refused; returns the recipients refused
        while others were accepted (smtplib's own convention), usually {}.
        """
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as client:
            return client.sendmail(mail_from, rcpt_to, raw)

    @contextlib.contextmanager
    def imap(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in IMAP connection as `user`."""
        client = IMAPClient(self.imap_host, self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Plant a message straight into a mailbox, creating the folder when needed."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Raw bytes of every message in the folder, oldest first; [] when it does not exist."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            fetched = client.fetch(uids, ["BODY.PEEK[]"])
            return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    def wait_for_messages(
        self, user: str, count: int, timeout: float = 10, folder: str = "INBOX"
    ) -> list[bytes]:
        """Poll until the folder holds at least `count` messages; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(user, folder)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{user} {folder}: expected {count} message(s) within {timeout}s, "
                    f"found {len(found)}"
                )
            time.sleep(0.05)

    def folders(self, user: str) -> list[str]:
        with self.imap(user) as client:
            return sorted(str(name) for _flags, _delimiter, name in client.list_folders())
