"""A rendered email into an RFC 5322 message with every header we promise.

Answers carry `Auto-Submitted: auto-replied`, scheduled mail `auto-generated`, both with
`X-Auto-Response-Suppress: All` (a person-approved mail in a person's name has neither); all
carry our loop header, threading headers, and a per-message
envelope sender so a bounce can be matched to the message that bounced.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr

from mailer.handoff.model import Person
from mailer.mail.render import RenderedEmail

LOOP_HEADER = "X-Mailer-Loop"
SMTP_COMPAT = compat32.clone(linesep="\r\n")


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
    auto_submitted: str | None = "auto-replied"  # None: a person approved it; not automatic
    attachments: Sequence[OutgoingAttachment] = field(default_factory=tuple)
    extra_headers: Sequence[tuple[str, str]] = ()
    calendar: CalendarPart | None = None


@dataclass(frozen=True)
class CalendarPart:
    """An iTIP message (RFC 6047): the third alternative of the body, so that mail apps show
    a meeting with Accept and Decline, and the same as an `invite.ics` file."""

    method: str  # REQUEST or CANCEL
    data: bytes


@dataclass(frozen=True)
class ComposedEmail:
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes


def compose_email(rendered: RenderedEmail, /, *, envelope: Envelope, assistant: str,
                  now: datetime) -> ComposedEmail:
    """Build the message with the classic `email.mime` classes: the modern header registry
    costs 15-20 ms a message, which is most of the time of a busy backlog."""
    local, domain = assistant.split("@", 1)
    boundaries = _boundaries(envelope.message_id)
    alternative = MIMEMultipart("alternative", boundary=next(boundaries))
    alternative.attach(_text_part(rendered.text, "plain"))
    alternative.attach(_text_part(rendered.html, "html"))
    attachments = list(envelope.attachments)
    if envelope.calendar is not None:
        alternative.attach(_calendar_part(envelope.calendar))
        attachments.insert(0, OutgoingAttachment("invite.ics", "application/ics",
                                                 envelope.calendar.data))
    msg: MIMEMultipart = alternative
    if attachments:
        msg = MIMEMultipart("mixed", boundary=next(boundaries))
        msg.attach(alternative)
        for attachment in attachments:
            msg.attach(_attachment_part(attachment))
    msg["From"] = _address(envelope.from_name, assistant)
    msg["To"] = ", ".join(_address(p.name, p.email) for p in envelope.to)
    if envelope.cc:
        msg["Cc"] = ", ".join(_address(p.name, p.email) for p in envelope.cc)
    if envelope.reply_to:
        msg["Reply-To"] = ", ".join(envelope.reply_to)
    msg["Subject"] = _header_text(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = envelope.message_id
    if envelope.in_reply_to:
        msg["In-Reply-To"] = envelope.in_reply_to
    references = [r for r in envelope.references if r]
    if envelope.in_reply_to and envelope.in_reply_to not in references:
        references.append(envelope.in_reply_to)
    if references:
        msg["References"] = " ".join(references[-20:])
    if envelope.auto_submitted is not None:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = assistant
    for name, value in envelope.extra_headers:
        msg[name] = _header_text(value)
    recipients = tuple(dict.fromkeys(p.email for p in [*envelope.to, *envelope.cc]))
    # VERP-style envelope sender: a bounce names the message it is about.
    bounce_key = envelope.message_id.strip("<>").split("@", 1)[0].rsplit(".", 1)[-1]
    return ComposedEmail(message_id=envelope.message_id,
                         envelope_from=f"{local}+bounce-{bounce_key}@{domain}",
                         recipients=recipients, subject=rendered.subject,
                         raw=_flatten(msg))


class _BlockWriter(BytesGenerator):
    """The email package's generator, writing a part's body in one piece.

    The stock generator writes a body line by line (two writes a line, each encoded on its
    own), which was a third of composing a questionnaire. Its `_write_lines` is an internal
    method: should a future Python drop it, this override is simply never called and the
    output is the same."""

    def _write_lines(self, lines: str) -> None:
        if not lines:
            return
        # Our parts end their lines with \n alone; str.replace is ten times the regex's speed
        # and writes the same text when there is no \r to take care of.
        if "\r" in lines:
            self.write(_LINE_END.sub(self._NL, lines))
        else:
            self.write(lines.replace("\n", self._NL))

    def _write_headers(self, msg: Message) -> None:
        """Most headers are short plain ASCII, which folding leaves as it is: those are
        written at once. The policy's folding (a Header object per header) was a seventh of
        handling a request."""
        for name, value in msg.raw_items():
            if isinstance(value, str) and len(name) + len(value) <= _FITS and \
                    _PLAIN_HEADER.fullmatch(value):
                self._fp.write(f"{name}: {value}{self._NL}".encode("ascii"))
            else:
                self._fp.write(self.policy.fold_binary(name, value))
        self.write(self._NL)


_LINE_END = re.compile(r"\r\n|\r|\n")  # as the generator's own NLCRE
# Printable ASCII, single spaces between words, nothing at either end: what folding keeps.
_PLAIN_HEADER = re.compile(r"[!-~]+(?: [!-~]+)*")
_FITS = 78 - 2  # a line of at most 78 characters with the ": " after the name


def _flatten(msg: MIMEMultipart) -> bytes:
    buffer = io.BytesIO()
    _BlockWriter(buffer, mangle_from_=False, policy=SMTP_COMPAT).flatten(msg, unixfrom=False)
    return buffer.getvalue()


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A UTF-8 text part in quoted-printable, which keeps the .eml files in the outbox
    readable as they are. Encoded by binascii (C): the email package's own encoder, in
    Python, was a third of the cost of composing a questionnaire."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


def _boundaries(message_id: str) -> Iterator[str]:
    """Unique MIME boundaries that cannot occur in any part. Every part is quoted-printable
    or base64, where `=_` never appears (a `=` starts a hex pair or ends a line), so the
    generator need not search the whole message for a boundary of its own."""
    tag = message_id.strip("<>").split("@", 1)[0][-16:] or "mailer"
    return (f"=_{tag}_{level}" for level in itertools.count())


def _calendar_part(calendar: CalendarPart) -> MIMEBase:
    part = MIMEBase("text", "calendar", method=calendar.method, charset="UTF-8")
    _set_base64_payload(part, calendar.data)
    return part


def _attachment_part(attachment: OutgoingAttachment) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    part = MIMEBase(maintype, subtype)
    _set_base64_payload(part, attachment.payload)
    safe = safe_attachment_name(attachment.filename)
    filename: str | tuple[str, str, str] = safe
    if not safe.isascii():
        filename = ("utf-8", "", safe)  # RFC 2231
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _set_base64_payload(part: MIMEBase, data: bytes) -> None:
    """What `email.encoders.encode_base64` writes, from the bytes at hand: given bytes,
    `set_payload` keeps them as surrogate-escaped text and the encoder turns them back into
    bytes, two passes that were a sixth of writing a workbook's mail."""
    part.set_payload(base64.encodebytes(data).decode("ascii"))
    part["Content-Transfer-Encoding"] = "base64"


# Line breaks and other controls would end the header and start one of the sender's choosing;
# `=?...?=` left in a name or subject is decoded again by the reader's mail client.
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\x85]+")
_ENCODED_WORD_START = re.compile(r"=\?")
_UNSAFE_IN_FILENAME = re.compile(r'[/\\:*?"<>|]')


def header_safe(text: str) -> str:
    """One line of plain text fit for any header: names and subjects typed by people."""
    return " ".join(_ENCODED_WORD_START.sub("= ?", _HEADER_CONTROLS.sub(" ", text)).split())


def safe_attachment_name(name: str) -> str:
    """A file name with no path, control character, encoded word or leading dot."""
    cleaned = header_safe(_UNSAFE_IN_FILENAME.sub(" ", name)).lstrip(". ").rstrip(". ")
    return " ".join(cleaned.split())[:120] or "attachment"


def _address(name: str, email: str) -> str:
    return formataddr((header_safe(name), email), charset="utf-8")


def _header_text(text: str) -> str | Header:
    text = header_safe(text)
    return text if text.isascii() else Header(text, "utf-8")
