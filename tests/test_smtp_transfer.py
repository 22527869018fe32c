"""One mail over one SMTP connection, as the courier sends it: MAIL declaring the mail's size
where the server offers SIZE (RFC 1870), a RCPT for each recipient, DATA unless every one
was refused. A refusal leaves the connection clean for the next mail. Checked against the
real relay, which records what MAIL declared, and the size against aiosmtplib's own count."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib.protocol import normalize_message_line_endings
from assistant import ADDRESS, Assistant
from hypothesis import given
from hypothesis import strategies as st
from letters import REQUEST, plain
from mailservers import LOOPBACK, MailServers, free_port

from mailer.config.settings import parse_server_url
from mailer.mail.smtp import SmtpSender, transmitted_size

T0 = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)  # a Monday, inside business hours

# Mail as it may be written: lines of text, dots at the start of lines, every kind of line end.
_PIECES = st.sampled_from([b"Hello", b".", b"..", b" ", b"\r", b"\n", b"\r\n", b"\r\r\n",
                           b"\n\r", b"=\r\n", b"QUJD" * 19, "é".encode()])
_MAILS = st.one_of(st.binary(max_size=600), st.lists(_PIECES, max_size=80).map(b"".join))


@given(_MAILS)
def test_the_declared_size_is_what_data_transmits(raw: bytes) -> None:
    assert transmitted_size(raw) == len(normalize_message_line_endings(raw))


def _mail(subject: str, body: str = "Hello,\r\n.a line that starts with a dot\r\n") -> bytes:
    return (f"From: Assistant <{ADDRESS}>\r\nTo: someone@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@test>\r\n\r\n{body}").encode()


@pytest.fixture
def sender(mail: MailServers):
    smtp = SmtpSender(parse_server_url(mail.smtp_url(), variable="MAILER_SMTP_URL"),
                      password=None)
    yield smtp
    smtp.close()


def test_every_mail_the_assistant_sends_declares_the_size_the_server_receives(
        mail: MailServers, tmp_path) -> None:
    assistant = Assistant(tmp_path, mail)
    mail.append(ADDRESS, plain(sender="dana@example.com", to=ADDRESS,
                               subject="Transition: Acme Corp",
                               body=REQUEST.replace("15 Dec 2026", "15 Feb 2027")))
    assistant.run_once(now=T0)
    assert len(mail.accepted) >= 3  # Dana's answer, Sam's questionnaire, Rita's notice
    for envelope in mail.accepted:
        declared = [o.split("=", 1)[1] for o in envelope.mail_options
                    if o.upper().startswith("SIZE=")]
        assert declared == [str(len(envelope.data))]


def test_a_refused_recipient_gets_nothing_while_the_others_get_the_mail(
        mail: MailServers, sender: SmtpSender) -> None:
    mail.fail_recipient("rita@example.com", 550, "5.1.1 no such user")
    raw = _mail("two recipients")
    refused = sender.send(ADDRESS, ("sam@example.com", "rita@example.com"), raw)
    assert refused == {"rita@example.com": "550 5.1.1 no such user"}
    [envelope] = mail.accepted
    assert envelope.rcpt_tos == ("sam@example.com",)
    assert envelope.data == raw, "the dot at the start of a line arrives as written"
    assert mail.messages("rita@example.com") == []


def test_a_mail_refused_for_everyone_is_not_transferred_and_the_next_one_goes(
        mail: MailServers, sender: SmtpSender) -> None:
    mail.fail_recipient("rita@example.com", 550, "5.1.1 no such user")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        sender.send(ADDRESS, ("rita@example.com",), _mail("refused"))
    # The same connection again: a MAIL left open would get "503 nested MAIL command".
    assert sender.send(ADDRESS, ("sam@example.com",), _mail("next")) == {}
    assert [e.rcpt_tos for e in mail.accepted] == [("sam@example.com",)]
    assert b"Subject: next" in mail.accepted[0].data


def test_a_mail_refused_at_data_leaves_the_connection_ready_for_the_next(
        mail: MailServers, sender: SmtpSender) -> None:
    mail.fail_next_messages(554, text="5.7.1 message content rejected")
    with pytest.raises(aiosmtplib.SMTPDataError) as refusal:
        sender.send(ADDRESS, ("sam@example.com",), _mail("rejected"))
    assert refusal.value.code == 554
    assert sender.send(ADDRESS, ("sam@example.com",), _mail("accepted")) == {}
    assert [b"Subject: accepted" in e.data for e in mail.accepted] == [True]


class _HeloOnly(SMTP):
    """A server from before ESMTP: it does not know EHLO, so it offers no SIZE."""

    async def smtp_EHLO(self, hostname: str) -> None:  # noqa: N802 - aiosmtpd's hook name
        await self.push("502 5.5.2 Error: command not recognized")


class _HeloOnlyServer(Controller):
    def factory(self) -> SMTP:
        return _HeloOnly(self.handler, hostname="old.example.com")


class _Kept:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 OK"


def test_a_server_that_knows_only_helo_gets_the_mail_without_a_declared_size() -> None:
    kept, port = _Kept(), free_port()
    server = _HeloOnlyServer(kept, hostname=LOOPBACK, port=port)
    server.start()
    try:
        old = SmtpSender(parse_server_url(f"smtp://{LOOPBACK}:{port}?tls=off",
                                          variable="MAILER_SMTP_URL"), password=None)
        try:
            assert old.send(ADDRESS, ("sam@example.com",), _mail("old server")) == {}
            assert old.send(ADDRESS, ("sam@example.com",), _mail("again")) == {}
        finally:
            old.close()
    finally:
        server.stop()
    assert [e.mail_options for e in kept.envelopes] == [[], []]
    assert kept.envelopes[0].content == _mail("old server")
