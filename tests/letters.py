"""Mail as people's clients write it: the raw bytes the stories send.

Each function returns bytes shaped like a real client's message (headers, MIME structure,
quoting style), written for this project.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from email.utils import format_datetime

_counter = itertools.count(1)


def _date() -> str:
    return format_datetime(datetime.now(UTC))


def plain(*, sender: str, to: str, subject: str, body: str, message_id: str | None = None,
          in_reply_to: str | None = None, extra: str = "") -> bytes:
    """A plain-text mail as Thunderbird or Apple Mail sends it."""
    n = next(_counter)
    mid = message_id or f"<plain-{n}-{datetime.now().timestamp()}@mail.example.com>"
    threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" \
        if in_reply_to else ""
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {_date()}\r\n"
            f"Message-ID: {mid}\r\n{threading}{extra}MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode() + body.replace("\n", "\r\n").encode("utf-8")


def gmail(*, sender: str, to: str, subject: str, text: str, html: str,
          in_reply_to: str | None = None, attachment: tuple[str, bytes] | None = None) -> bytes:
    """Gmail's multipart/alternative (and multipart/mixed with an attachment)."""
    n = next(_counter)
    mid = f"<CAGm{n}x{int(datetime.now().timestamp() * 1000)}@mail.gmail.com>"
    threading = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" \
        if in_reply_to else ""
    alt = (f"--alt{n}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           f"{_qp(text)}\r\n--alt{n}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
           f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_qp(html)}\r\n--alt{n}--\r\n")
    head = (f"MIME-Version: 1.0\r\nDate: {_date()}\r\nMessage-ID: {mid}\r\n{threading}"
            f"Subject: {subject}\r\nFrom: {sender}\r\nTo: {to}\r\n")
    if attachment is None:
        return (head + f"Content-Type: multipart/alternative; boundary=\"alt{n}\"\r\n\r\n"
                + alt).encode()
    name, payload = attachment
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (head + f"Content-Type: multipart/mixed; boundary=\"mix{n}\"\r\n\r\n"
            f"--mix{n}\r\nContent-Type: multipart/alternative; boundary=\"alt{n}\"\r\n\r\n"
            f"{alt}\r\n--mix{n}\r\nContent-Type: application/vnd.openxmlformats-"
            f"officedocument.spreadsheetml.sheet; name=\"{name}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--mix{n}--\r\n").encode()


def _qp(text: str) -> str:
    import quopri

    return quopri.encodestring(text.replace("\n", "\r\n").encode("utf-8")).decode("ascii")


REQUEST = """Hi there,

Please start the handover below.

Account: Acme Corp
Outgoing CSM: Sam Jones <sam@example.com>
Incoming CSM: Rita Patel <rita@example.com>
Customer contacts: Pat Lee <pat@acme.com>, Jo Park <jo@acme.com>
Type: soft
Effective date: 15 Dec 2026
Renewal date: 2027-03-31
Reason: Sam is moving to the enterprise team
Share reason: yes

Thanks!
Dana
"""

# Sam's answers to the questionnaire: every section a workbook needs, in a plain reply.
ANSWERS = """1. Contacts
Pat Lee, VP Operations, pat@acme.com, champion - likes dashboards
2. Sentiment
Happy, renewing.
4. Red flags
- Slow exports: open
6. Goals
Faster month-end reporting.
8. Contract
Renewal: 2027-06-30, three-year term.
9. Renewal risk
Low.
"""
