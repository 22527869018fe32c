"""Shared fixtures for the test suite."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import Chromium, find_chromium, install_chromium
from every_mail import EveryMail, tell_the_story
from mailservers import MailServers, find_dovecot

# ---------------------------------------------------------------------------------------------
# Real mail servers (Dovecot IMAP/LMTP + aiosmtpd relay)

SERVER_FIXTURES = frozenset({"mail_servers", "mail", "oauth_mail"})
REPOSITORY = Path(__file__).resolve().parents[1]

# The assistant runs in child processes (`python -m mailer run`) from temporary folders; they
# must import this checkout's code, not whichever copy happens to be installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])])
DOVECOT_PACKAGES = ("dovecot-imapd", "dovecot-lmtpd")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Marks on fixtures are not inherited by tests, so tag every test that uses the servers:
    # `-m servers` selects them and `-m "not servers"` leaves them out.
    full = "generated_full" in (config.getoption("markexpr") or "")
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
        # Every seed of a generator runs only when asked for (`-m generated_full`, as .ci/run
        # does); the default run takes a sample of the same seeds.
        if not full and item.get_closest_marker("generated_full"):
            item.add_marker(pytest.mark.skip(reason="all seeds: run with -m generated_full"))


def _install_dovecot() -> str:
    """Install Dovecot from Debian's packages; what apt printed, for the skip/fail reason."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = (["apt-get", "update"], ["apt-get", "install", "-y", *DOVECOT_PACKAGES])
    output = []
    for command in commands:
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=600, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{' '.join(command)}: {error}"
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            break
    return "\n".join(output)[-2000:]


def _dovecot_binary() -> str:
    binary = find_dovecot()
    install_log = ""
    if binary is None and os.geteuid() == 0:
        install_log = _install_dovecot()
        binary = find_dovecot()
    if binary is not None:
        return binary
    reason = (
        "Dovecot is not installed, and the real-server tests need it: "
        f"apt-get install {' '.join(DOVECOT_PACKAGES)}"
    )
    if install_log:
        reason += f"\nThe automatic install failed:\n{install_log}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the real-server tests. {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """Dovecot and the SMTP relay, started once for the whole session."""
    servers = MailServers(dovecot_binary=_dovecot_binary())
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def mail(mail_servers: MailServers) -> MailServers:
    """The session's servers, running, with empty mailboxes, no faults and nothing recorded."""
    mail_servers.reset()
    return mail_servers


@pytest.fixture(scope="session")
def oauth_mail() -> Iterator[MailServers]:
    """Dovecot and relays that also sign people in with OAuth2 tokens (XOAUTH2), checked by a
    token-introspection server on loopback, as Gmail and Microsoft 365 do."""
    servers = MailServers(dovecot_binary=_dovecot_binary(), oauth2=True)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def every_mail(mail_servers: MailServers, tmp_path_factory: pytest.TempPathFactory) -> EveryMail:
    """Every kind of mail the product sends, from one story on the real servers (run once)."""
    mail_servers.reset()
    return tell_the_story(mail_servers, tmp_path_factory.mktemp("every-mail"))


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    """Headless Chromium from Debian's packages, installed here when missing (as root)."""
    binary = find_chromium()
    install_log = ""
    if binary is None and os.geteuid() == 0:
        install_log = install_chromium()
        binary = find_chromium()
    if binary is None:
        reason = ("Chromium is not installed, and the rendering tests need it: "
                  "apt-get install chromium")
        if install_log:
            reason += f"\nThe automatic install failed:\n{install_log}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the rendering tests. {reason}", pytrace=False)
        pytest.skip(reason)
    return Chromium(binary, tmp_path_factory.mktemp("chromium"))
