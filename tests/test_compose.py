"""What compose_email writes is what the email package would write, part for part, whatever
the text holds: its own body writer and its boundaries change the speed, never the bytes a
client reads."""

from __future__ import annotations

import email
import email.message
import io
import re
from datetime import UTC, datetime
from email import encoders, policy
from email.generator import BytesGenerator
from email.mime.base import MIMEBase
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.handoff.model import Person
from mailer.mail import compose
from mailer.mail.compose import CalendarPart, Envelope, OutgoingAttachment, compose_email
from mailer.mail.render import RenderedEmail

NOW = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rendered text ends its lines with LF; a value pasted from Windows may bring CRLF.
TEXT = st.lists(st.sampled_from([
    *"aZé =-._\t", "\r\n", "\n", "=_", "--", "=3D", "From ", ".", "Grüße ", "=\r\n",
    "--=_0123456789abcdef_0", "x" * 90]), max_size=60).map("".join)


def _envelope(attach: bool) -> Envelope:
    return Envelope(
        from_name="Transitions assistant", to=[Person("Sam Okafor", "sam@example.com")],
        message_id="<0123456789abcdef0123456789abcdef@example.com>",
        references=["<a@example.com>"], in_reply_to="<a@example.com>",
        attachments=[OutgoingAttachment("Acme.xlsx", "application/octet-stream",
                                        b"PK\x03\x04" * 50)] if attach else (),
        calendar=CalendarPart("REQUEST", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        if attach else None)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, html=TEXT, subject=TEXT, attach=st.booleans())
def test_the_bytes_are_the_email_packages_and_every_part_reads_back(
        text: str, html: str, subject: str, attach: bool) -> None:
    rendered = RenderedEmail(subject=subject, text=text, html=html, body_html=html)
    mail = compose_email(rendered, envelope=_envelope(attach), assistant="transitions@x.test",
                         now=NOW)
    with patch.object(compose, "_flatten", lambda msg: msg.as_bytes(policy=compose.SMTP_COMPAT)):
        stock = compose_email(rendered, envelope=_envelope(attach),
                              assistant="transitions@x.test", now=NOW)
    assert mail.raw == stock.raw
    message = email.message_from_bytes(mail.raw, policy=policy.default)
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert _lines(plain.get_content()) == _lines(text)
    assert _lines(rich.get_content()) == _lines(html)
    assert len(list(message.iter_attachments())) == (2 if attach else 0)


def _lines(text: str) -> list[str]:
    return re.split(r"\r?\n", text.rstrip("\r\n"))


HEADER_VALUE = st.lists(st.sampled_from([*"aZ09<>@.,;:=?\"()[]-_ ", "  ", "\t", "=?utf-8?q?x?=",
                                         "x" * 30]), max_size=40).map("".join)


@settings(max_examples=1000, deadline=None)
@given(name=st.sampled_from(["To", "Subject", "Message-ID", "X-Mailer-Loop", "References"]),
       value=HEADER_VALUE)
def test_a_header_written_at_once_is_what_folding_writes(name: str, value: str) -> None:
    """Short plain headers skip the policy's folding; any header it would change does not."""
    message = email.message.Message()
    message[name] = value
    fast, stock = io.BytesIO(), io.BytesIO()
    compose._BlockWriter(fast, policy=compose.SMTP_COMPAT).flatten(message)
    BytesGenerator(stock, policy=compose.SMTP_COMPAT).flatten(message)
    assert fast.getvalue() == stock.getvalue()


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=3000) | st.sampled_from([b"", b"\n", b"PK\x03\x04\n" * 40]),
       calendar=st.booleans())
def test_an_attachment_is_what_the_email_packages_base64_encoder_writes(
        payload: bytes, calendar: bool) -> None:
    """The attachment and calendar parts are base64-encoded from the bytes at hand, not by
    `email.encoders` (which goes through surrogate-escaped text): same bytes, same reading."""
    if calendar:
        ours = compose._calendar_part(CalendarPart("REQUEST", payload))
        stock = MIMEBase("text", "calendar", method="REQUEST", charset="UTF-8")
    else:
        ours = compose._attachment_part(OutgoingAttachment("Acme.xlsx", XLSX, payload))
        stock = MIMEBase(*XLSX.split("/"))
    stock.set_payload(payload)
    encoders.encode_base64(stock)
    if not calendar:
        stock.add_header("Content-Disposition", "attachment", filename="Acme.xlsx")
    assert ours.as_bytes(policy=compose.SMTP_COMPAT) == stock.as_bytes(policy=compose.SMTP_COMPAT)
    assert ours.get_payload(decode=True) == payload
