"""A rendered email into an RFC 5322 message with every header we promise.

Answers carry `Auto-Submitted: auto-replied`, scheduled mail `auto-generated`; all carry
`X-Auto-Response-Suppress: All`, our loop header, threading headers, and a per-message
envelope sender so a bounce can be matched to the message that bounced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailer.model import Person
from mailer.render import RenderedEmail

LOOP_HEADER = "X-Mailer-Loop"


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str  # "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, as headers and as the SMTP envelope."""

    from_name: str
    to: Sequence[Person]
    cc: Sequence[Person] = ()
    reply_to: Sequence[str] = ()
    message_id: str = ""
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-replied"
    attachments: Sequence[OutgoingAttachment] = field(default_factory=tuple)
    extra_headers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class ComposedEmail:
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes


def compose_email(rendered: RenderedEmail, /, *, envelope: Envelope, assistant: str,
                  now: datetime) -> ComposedEmail:
    msg = EmailMessage()
    local, domain = assistant.split("@", 1)
    msg["From"] = Address(display_name=envelope.from_name, addr_spec=assistant)
    msg["To"] = [_address(p) for p in envelope.to]
    if envelope.cc:
        msg["Cc"] = [_address(p) for p in envelope.cc]
    if envelope.reply_to:
        msg["Reply-To"] = list(envelope.reply_to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = envelope.message_id
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    references = [r for r in envelope.references if r]
    if envelope.in_reply_to and envelope.in_reply_to not in references:
        references.append(envelope.in_reply_to)
    if references:
        msg["References"] = " ".join(references[-20:])
    msg["Auto-Submitted"] = envelope.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = assistant
    for name, value in envelope.extra_headers:
        msg[name] = value
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for attachment in envelope.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.payload, maintype=maintype, subtype=subtype,
                           filename=attachment.filename)
    recipients = tuple(dict.fromkeys(p.email for p in [*envelope.to, *envelope.cc]))
    # VERP-style envelope sender: a bounce names the message it is about.
    bounce_key = envelope.message_id.strip("<>").split("@", 1)[0].rsplit(".", 1)[-1]
    return ComposedEmail(message_id=envelope.message_id,
                         envelope_from=f"{local}+bounce-{bounce_key}@{domain}",
                         recipients=recipients, subject=rendered.subject,
                         raw=msg.as_bytes(policy=SMTP))


def _address(person: Person) -> Address:
    return Address(display_name=person.name, addr_spec=person.email)
