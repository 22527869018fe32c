"""Real mailboxes speak TLS: the assistant upgrades with STARTTLS when the server offers it,
speaks implicit TLS on imaps://, and refuses a certificate it cannot trust."""

from __future__ import annotations

import pytest
from assistant import ADDRESS, Assistant
from letters import REQUEST, plain

from mailer.errors import MailerError


@pytest.fixture
def tls(mail):
    if mail.certificate is None:
        pytest.skip("openssl is needed to make the test certificate")
    return mail


def _env(mail, imap: str, smtp: str, trust: bool = True) -> dict[str, str]:
    env = {"MAILER_IMAP_URL": imap, "MAILER_SMTP_URL": smtp, "MAILER_WATCHDOG_MINUTES": "0"}
    if trust:
        env["SSL_CERT_FILE"] = str(mail.certificate.cert_path)
    return env


def _request(mail) -> None:
    mail.append(ADDRESS, plain(sender="dana@example.com", to=ADDRESS, subject="Transition",
                               body=REQUEST))


@pytest.mark.parametrize("kind", ["starttls", "implicit"])
def test_a_request_is_answered_over_tls(tls, tmp_path, monkeypatch, kind):
    user = "transitions%40example.com"
    imap = (f"imap://{user}@localhost:{tls.imap_port}/INBOX" if kind == "starttls"
            else f"imaps://{user}@localhost:{tls.imaps_port}/INBOX")
    env = _env(tls, imap, f"smtp://localhost:{tls.smtp_port}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # ssl reads SSL_CERT_FILE from the environment
    assistant = Assistant(tmp_path, tls, extra_env=env)
    _request(tls)
    report = assistant.run_once()
    assert report.outcomes == {"processed": 1}
    assert tls.wait_for_messages("dana@example.com", 1)


def test_an_untrusted_certificate_is_refused_and_nothing_is_read(tls, tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    user = "transitions%40example.com"
    env = _env(tls, f"imaps://{user}@localhost:{tls.imaps_port}/INBOX",
               f"smtp://localhost:{tls.smtp_port}", trust=False)
    assistant = Assistant(tmp_path, tls, extra_env=env)
    _request(tls)
    with pytest.raises((MailerError, OSError)) as caught:
        assistant.run_once()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(
        caught.value).lower()
    with tls.imap(ADDRESS) as imap:
        imap.select_folder("INBOX")
        assert len(imap.search(["ALL"])) == 1
