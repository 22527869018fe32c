"""An operator connects the assistant to a mailbox that only takes OAuth2 tokens, as Microsoft
365 does (and Gmail recommends): no password anywhere, a command that prints an access token.

The servers are real: Dovecot with its oauth2 passdb and an SMTP relay that takes AUTH XOAUTH2,
both asking a token-introspection server on loopback whether a token is good."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from letters import plain
from mailservers import FaultPlan, LmtpRelayHandler, MailServers, free_port

ADDRESS = "transitions@example.com"
REQUEST = """Account: Acme Corp
Outgoing CSM: Sam Okafor <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Type: soft
Customer contacts: Pat Lee <pat@acme.example>
"""

# A token command as an operator writes one: it prints the next token it was given. (A real
# one trades a refresh token for an access token; see the README.) Each run is counted.
TOKEN_SCRIPT = """\
import pathlib, sys
queue = pathlib.Path(sys.argv[1])
with queue.with_suffix(".runs").open("a") as runs:
    runs.write("ran\\n")
tokens = queue.read_text().split()
if not tokens:
    print("invalid_grant: the refresh token was revoked", file=sys.stderr)
    sys.exit(1)
queue.write_text("\\n".join(tokens[1:]))
print(tokens[0])
"""


class TokenCommand:
    """MAILER_OAUTH2_TOKEN_COMMAND for the test: hands out the given tokens, one per run."""

    def __init__(self, folder: Path, tokens: list[str]) -> None:
        (folder / "bin").mkdir()
        self.script = folder / "bin" / "get_token.py"
        self.script.write_text(TOKEN_SCRIPT)
        self.queue = folder / "tokens.txt"
        self.queue.write_text("\n".join(tokens))
        self.command = f"{sys.executable} {self.script} {self.queue}"

    @property
    def runs(self) -> int:
        runs = self.queue.with_suffix(".runs")
        return len(runs.read_text().splitlines()) if runs.exists() else 0


@pytest.fixture
def oauth(oauth_mail: MailServers) -> MailServers:
    oauth_mail.wipe()
    return oauth_mail


def mailer(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd),
                   "PYTHONPATH": os.environ["PYTHONPATH"], "MAILER_WATCHDOG_MINUTES": "0",
                   **env}
    return subprocess.run([sys.executable, "-m", "mailer", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def a_request_waits(servers: MailServers) -> None:
    servers.send(plain(sender="Dana Reyes <dana@example.com>", to=ADDRESS,
                       subject="Transition request: Acme Corp", body=REQUEST),
                 mail_from="dana@example.com", rcpt_to=[ADDRESS])
    servers.wait_for_messages(ADDRESS, 1)


def test_a_valid_token_signs_in_to_imap_and_smtp(oauth, tmp_path):
    assert oauth.tokens is not None
    tokens = TokenCommand(tmp_path, [oauth.tokens.issue(ADDRESS), oauth.tokens.issue(ADDRESS)])
    a_request_waits(oauth)
    env = oauth.oauth2_environment(ADDRESS, tokens.command)
    assert not any("PASSWORD" in name for name in env)

    done = mailer("-v", "run", "--once", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    assert "handled 1 message(s)" in done.stdout and "0 failed" in done.stdout
    answer = oauth.wait_for_messages("dana@example.com", 1)
    assert b"TR-0001 started: Acme Corp" in answer[0]
    assert tokens.runs == 2  # one token for IMAP, one for SMTP
    for token in tokens.queue.read_text().split() + oauth.tokens.asked:
        assert token not in done.stderr + done.stdout


def test_an_expired_token_makes_it_ask_the_command_again_once(oauth, tmp_path):
    assert oauth.tokens is not None
    stale_imap, stale_smtp = oauth.tokens.issue(ADDRESS), oauth.tokens.issue(ADDRESS)
    oauth.tokens.expire(stale_imap)
    oauth.tokens.expire(stale_smtp)
    tokens = TokenCommand(tmp_path, [stale_imap, oauth.tokens.issue(ADDRESS),
                                     stale_smtp, oauth.tokens.issue(ADDRESS)])
    a_request_waits(oauth)

    done = mailer("run", "--once", cwd=tmp_path, env=oauth.oauth2_environment(ADDRESS,
                                                                             tokens.command))

    assert done.returncode == 0, done.stderr
    assert tokens.runs == 4
    assert b"TR-0001 started" in oauth.wait_for_messages("dana@example.com", 1)[0]
    refusals = [line for line in done.stderr.splitlines() if "refused the access token" in line]
    assert len(refusals) == 2, done.stderr
    assert "IMAP imap://transitions@example.com@127.0.0.1" in refusals[0]
    assert "SMTP smtp://transitions@example.com@127.0.0.1" in refusals[1]
    assert all("running MAILER_OAUTH2_TOKEN_COMMAND (python get_token.py) again" in line
               for line in refusals), refusals


def test_a_refused_token_is_one_clear_error_naming_the_command(oauth, tmp_path):
    assert oauth.tokens is not None
    # Tokens for another mailbox: the authority knows them, but not for this user.
    tokens = TokenCommand(tmp_path, [oauth.tokens.issue("dana@example.com") for _ in range(3)])
    a_request_waits(oauth)

    done = mailer("run", "--once", cwd=tmp_path, env=oauth.oauth2_environment(ADDRESS,
                                                                             tokens.command))

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("mailer:")]
    assert line == (
        f"mailer: IMAP imap://transitions@example.com@127.0.0.1:{oauth.imap_port}/INBOX "
        "refused the access token from MAILER_OAUTH2_TOKEN_COMMAND (python get_token.py) for "
        "transitions@example.com, also after running it again ([AUTHENTICATIONFAILED] "
        "Authentication failed.); check that it prints a current token for that mailbox with "
        "the mail scope (Gmail: https://mail.google.com/; Microsoft 365: "
        "IMAP.AccessAsUser.All and SMTP.Send)")
    assert tokens.runs == 2  # the first try and exactly one retry
    assert len(oauth.messages(ADDRESS)) == 1  # the request waits, untouched


def test_smtp_refusing_the_token_leaves_the_mail_queued(oauth, tmp_path):
    assert oauth.tokens is not None
    tokens = TokenCommand(tmp_path, [oauth.tokens.issue(ADDRESS), "not-a-token", "nor-this"])
    a_request_waits(oauth)

    done = mailer("run", "--once", cwd=tmp_path, env=oauth.oauth2_environment(ADDRESS,
                                                                             tokens.command))

    # The request is handled; its answer waits for a token SMTP accepts, and the log says why.
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (f" WARNING mailer.mail.smtp: SMTP smtp://transitions@example.com@127.0.0.1:"
            f"{oauth.oauth_smtp.port} refused the access token from MAILER_OAUTH2_TOKEN_COMMAND "
            "(python get_token.py) for transitions@example.com, also after running it again "
            "(535 5.7.8 Authentication credentials invalid); check that it prints a current "
            "token for that mailbox with the mail scope (Gmail: https://mail.google.com/; "
            "Microsoft 365: IMAP.AccessAsUser.All and SMTP.Send); the mail waits and is tried "
            "again") in done.stderr
    assert oauth.messages("dana@example.com") == []
    assert "failed" not in done.stdout.split("outbox:")[1].replace("0 failed", "")
    queued = sorted(path.name for path in (tmp_path / "outbox").glob("*.eml"))
    assert any(name.endswith("request_accepted.eml") for name in queued), queued


def test_a_wrong_smtp_password_keeps_the_mail_waiting_instead_of_failing_it(oauth, tmp_path):
    """A 535 at sign-in is about the password, not the mail: nothing is marked undeliverable
    and no manager is told their mail bounced."""
    handler = LmtpRelayHandler(oauth.dovecot.lmtp_socket, FaultPlan())
    relay = Controller(handler, hostname="127.0.0.1", port=free_port(), auth_required=True,
                       auth_require_tls=False, server_hostname="smtp.example.com")
    relay.start()  # PLAIN and LOGIN offered; every password refused with 535
    try:
        a_request_waits(oauth)
        env = {**oauth.mailer_environment(ADDRESS),
               "MAILER_SMTP_URL": f"smtp://transitions%40example.com@127.0.0.1:{relay.port}"
                                  "?tls=off", "MAILER_SMTP_PASSWORD": "not-the-password"}
        done = mailer("run", "--once", cwd=tmp_path, env=env)
    finally:
        relay.stop()
    assert done.returncode == 0, done.stderr
    assert "0 failed" in done.stdout, done.stdout
    assert (f"SMTP smtp://transitions@example.com@127.0.0.1:{relay.port} refused the sign-in "
            "(535 5.7.8 Authentication credentials invalid); check the user in MAILER_SMTP_URL "
            "and MAILER_SMTP_PASSWORD; the mail waits and is tried again") in done.stderr
    assert "not-the-password" not in done.stderr
    assert not list((tmp_path / "outbox" / "failed").glob("*.eml"))


def test_mailer_check_signs_in_and_names_a_failing_command(oauth, tmp_path):
    assert oauth.tokens is not None
    tokens = TokenCommand(tmp_path, [oauth.tokens.issue(ADDRESS), oauth.tokens.issue(ADDRESS)])
    env = oauth.oauth2_environment(ADDRESS, tokens.command)
    good = mailer("check", cwd=tmp_path, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "configuration OK" in good.stdout and tokens.runs == 2

    broken = mailer("check", cwd=tmp_path, env=env)  # no token left: the command fails
    assert broken.returncode == 1
    assert (f"IMAP imap://transitions@example.com@127.0.0.1:{oauth.imap_port}/INBOX: "
            "MAILER_OAUTH2_TOKEN_COMMAND (python get_token.py) failed with exit status 1: "
            "invalid_grant: the refresh token was revoked") in broken.stdout.splitlines()
    assert "Traceback" not in broken.stdout + broken.stderr

    missing = mailer("check", cwd=tmp_path, env={
        **env, "MAILER_OAUTH2_TOKEN_COMMAND": "/nowhere/get-token --secret s3cr3t"})
    assert "MAILER_OAUTH2_TOKEN_COMMAND (get-token) could not be run: No such file or " \
           "directory" in missing.stdout
    assert "s3cr3t" not in missing.stdout + missing.stderr


# --- the token command shipped in deploy/ ----------------------------------------------------

SHIPPED_TOKEN_COMMAND = Path(__file__).resolve().parents[1] / "deploy" / "oauth2_token.py"


def test_the_shipped_token_command_refreshes_and_keeps_the_rotated_refresh_token(oauth,
                                                                                   tmp_path):
    assert oauth.tokens is not None
    stored = tmp_path / "refresh-token"
    first = oauth.tokens.grant(ADDRESS, "mailer-client", rotate=True)  # Microsoft rotates them
    stored.write_text(first + "\n")
    env = {**oauth.oauth2_environment(
               ADDRESS, f"{sys.executable} {SHIPPED_TOKEN_COMMAND}"),
           "OAUTH2_TOKEN_URL": oauth.tokens.token_url, "OAUTH2_CLIENT_ID": "mailer-client",
           "OAUTH2_REFRESH_TOKEN_FILE": str(stored)}
    a_request_waits(oauth)

    done = mailer("run", "--once", cwd=tmp_path, env=env)

    assert done.returncode == 0, done.stderr
    assert b"TR-0001 started" in oauth.wait_for_messages("dana@example.com", 1)[0]
    kept = stored.read_text().strip()
    assert kept and kept != first  # the rotated refresh token replaced the used one
    assert stored.stat().st_mode & 0o077 == 0

    stored.write_text("1//revoked\n")  # a refresh token the provider no longer honours
    refused = mailer("check", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert (f"IMAP imap://transitions@example.com@127.0.0.1:{oauth.imap_port}/INBOX: "
            "MAILER_OAUTH2_TOKEN_COMMAND (python oauth2_token.py) failed with exit status 1: "
            "oauth2_token: the token endpoint refused: invalid_grant: Token has been expired or "
            "revoked.") in refused.stdout.splitlines()
