"""Raw mail, as clients really send it, becomes one typed InboundMessage."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailer.errors import MessageParseError
from mailer.mail.parsing import html_to_text, parse_message

GMAIL_REPLY = b"""\
Return-Path: <Priya.Raman@Northwind.example>
Delivered-To: transitions+k3y@example.com
X-Original-To: transitions+k3y@example.com
MIME-Version: 1.0
Date: Tue, 12 Jan 2027 09:15:02 +0100
Message-ID: <CAF=abc123@mail.gmail.com>
In-Reply-To: <tr-0042.1@example.com>
References: <tr-0001@example.com>
 <tr-0042.1@example.com>
Subject: =?UTF-8?B?UmU6IMOcYmVyZ2FiZSBmw7xyIEFjbWUg4oCTIFRSLTAwNDI=?=
From: =?UTF-8?Q?Priya_Rama=C3=B1?= <Priya.Raman@Northwind.example>
To: Transitions <Transitions+K3Y@Example.com>
Cc: "Lead, Team" <LEAD@example.com>, ops@example.com
Content-Type: multipart/alternative; boundary="000000000000a1b2"

--000000000000a1b2
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Sounds good =E2=80=93 the renewal is on 1 March.

On Mon, Jan 11, 2027 at 5:00 PM Transitions <transitions@example.com> wrote:
> Please confirm the renewal date.

--000000000000a1b2
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">Sounds good =E2=80=93 the renewal is on 1 March.</div>
<div class=3D"gmail_quote">On Mon, Jan 11, 2027 wrote:<blockquote>Please confirm.</blockqu=
ote></div>

--000000000000a1b2--
"""


def test_a_gmail_reply_becomes_decoded_lower_cased_typed_fields() -> None:
    msg = parse_message(GMAIL_REPLY)

    assert msg.subject == "Re: Übergabe für Acme – TR-0042"
    assert msg.from_name == "Priya Ramañ"
    assert msg.from_email == "priya.raman@northwind.example"
    assert msg.to == ("transitions+k3y@example.com",)
    assert msg.cc == ("lead@example.com", "ops@example.com")
    assert msg.delivered_to == ("transitions+k3y@example.com",)
    assert msg.return_path == "priya.raman@northwind.example"
    assert msg.message_id == "<CAF=abc123@mail.gmail.com>"
    assert msg.in_reply_to == "<tr-0042.1@example.com>"
    assert msg.references == ("<tr-0001@example.com>", "<tr-0042.1@example.com>")
    assert msg.date == datetime(2027, 1, 12, 8, 15, 2, tzinfo=UTC)
    assert msg.date.utcoffset() == timedelta(hours=1)
    assert msg.text.startswith("Sounds good – the renewal is on 1 March.")
    assert 'class="gmail_quote"' in msg.html
    assert msg.attachments == ()
    assert msg.content_type == "multipart/alternative"
    assert msg.size == len(GMAIL_REPLY)


def test_every_header_is_kept_in_order_with_decoded_values() -> None:
    msg = parse_message(GMAIL_REPLY)

    names = [name for name, _ in msg.headers]
    assert names[:3] == ["return-path", "delivered-to", "x-original-to"]
    assert msg.header("Subject") == "Re: Übergabe für Acme – TR-0042"
    assert msg.header("references") == "<tr-0001@example.com> <tr-0042.1@example.com>"
    assert msg.header_all("content-type") == ['multipart/alternative; boundary="000000000000a1b2"']


OUTLOOK_HTML_ONLY = b"""\
From: Marco Rossi <marco.rossi@contoso.example>
To: transitions@example.com
Subject: RE: Handoff TR-0042
Date: Wed, 13 Jan 2027 10:00:00 +0000
Message-ID: <AM0PR01MB1234@outlook.example>
MIME-Version: 1.0
Content-Type: text/html; charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

<html><head><style>p.MsoNormal {margin:0cm;}</style></head><body>
<p class=3D"MsoNormal"><b>Account</b>: Contoso =96 EMEA</p>
<p class=3D"MsoNormal">See <a href=3D"https://wiki.example/acme">the runbook</a>.</p>
<table><tr><td>Contact</td><td>Role</td></tr><tr><td>Ana</td><td>Champion</td></tr></table>
<div id=3D"divRplyFwdMsg"><b>From:</b> Transitions<br><b>Sent:</b> Tuesday</div>
</body></html>
"""


def test_html_only_outlook_mail_is_readable_text_and_keeps_its_html() -> None:
    msg = parse_message(OUTLOOK_HTML_ONLY)

    assert "Account: Contoso – EMEA" in msg.text
    assert "See the runbook (https://wiki.example/acme)." in msg.text
    assert "Contact | Role" in msg.text
    assert "Ana | Champion" in msg.text
    assert "**" not in msg.text
    assert "MsoNormal" not in msg.text
    assert msg.html.startswith("<html>")
    assert msg.content_type == "text/html"


def test_html_to_text_keeps_lines_and_drops_markdown_noise() -> None:
    html = "<h2>Plan</h2><ul><li>Intro call</li><li>Shadowing</li></ul><p>1. not a list<br>- x</p>"

    text = html_to_text(html)

    assert text.splitlines() == [
        "Plan",
        "",
        "  - Intro call",
        "  - Shadowing",
        "",
        "1. not a list",
        "- x",
    ]


def _single_part(
    charset: str, body: bytes, *, encoding: str = "8bit", subject: bytes = b""
) -> bytes:
    return (
        b"From: sender@example.com\r\nTo: transitions@example.com\r\n"
        + (subject or b"Subject: hello")
        + b"\r\nMIME-Version: 1.0\r\n"
        + f"Content-Type: text/plain; charset={charset}\r\n".encode()
        + f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        + body
    )


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        ("iso-2022-jp", "引き継ぎをお願いします".encode("iso-2022-jp"), "引き継ぎをお願いします"),
        ("koi8-r", "Передача клиента".encode("koi8-r"), "Передача клиента"),
        ("windows-1252", "“Quoted” – café".encode("cp1252"), "“Quoted” – café"),
        # Labelled Latin-1 but written by Windows: the smart quotes must survive.
        ("iso-8859-1", "“Quoted” – café".encode("cp1252"), "“Quoted” – café"),
        # A charset nobody knows: UTF-8 is tried, then windows-1252.
        ("x-made-up", "Grüße".encode(), "Grüße"),
        ("x-made-up", "Grüße".encode("cp1252"), "Grüße"),
    ],
)
def test_bodies_in_odd_charsets_are_decoded(charset: str, body: bytes, expected: str) -> None:
    assert parse_message(_single_part(charset, body)).text.strip() == expected


def test_japanese_subject_and_base64_body() -> None:
    subject = b"Subject: =?ISO-2022-JP?B?GyRCJDUkXiQ5GyhC?="
    body = base64.b64encode("すみません。".encode("iso-2022-jp"))
    msg = parse_message(_single_part("iso-2022-jp", body, encoding="base64", subject=subject))

    assert msg.subject == "さます"
    assert msg.text == "すみません。"


def test_koi8_subject_and_raw_8bit_header_are_decoded() -> None:
    encoded = base64.b64encode("Привет".encode("koi8-r")).decode()
    subject = f"Subject: =?koi8-r?B?{encoded}?= =?koi8-r?B?{encoded}?=".encode()
    msg = parse_message(_single_part("utf-8", b"hi", subject=subject))

    # Whitespace between adjacent encoded words is not part of the text (RFC 2047).
    assert msg.subject == "ПриветПривет"
    raw_utf8 = parse_message(_single_part("utf-8", b"hi", subject="Subject: Grüße".encode()))
    assert raw_utf8.subject == "Grüße"


WITH_ATTACHMENTS = b"""\
From: Ana <ana@acme.example>
To: transitions@example.com
Subject: notes
Message-ID: <att@acme.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="inner"

--inner
Content-Type: text/html; charset=utf-8

<p>See attached <img src="cid:logo"></p>
--inner
Content-Type: image/png
Content-ID: <logo>
Content-Disposition: inline
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--inner--
--outer
Content-Type: text/csv; name="../../etc/accounts.csv"
Content-Disposition: attachment; filename="../../etc/accounts.csv"

Account,Owner
Acme,Ana
--outer
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="..\\\\evil\\\\.bashrc\x07"
Content-Transfer-Encoding: base64

aGVsbG8=
--outer
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0=
--outer
Content-Type: text/plain; charset=utf-8

Footer added by the list.
--outer--
"""


def test_attachments_have_safe_names_types_and_decoded_payloads() -> None:
    msg = parse_message(WITH_ATTACHMENTS)

    names = [a.filename for a in msg.attachments]
    assert names == ["attachment-1.bin", "accounts.csv", "bashrc", "attachment-4.bin"]
    inline, csv, hidden, pdf = msg.attachments
    assert inline.content_type == "image/png"
    assert inline.payload.startswith(b"\x89PNG")
    assert csv.content_type == "text/csv"
    assert csv.payload.replace(b"\r\n", b"\n") == b"Account,Owner\nAcme,Ana"
    assert hidden.payload == b"hello"
    assert pdf.payload == b"%PDF-"
    assert all("/" not in n and "\\" not in n for n in names)
    # Body parts are the text, never attachments.
    assert msg.text.strip() == "Footer added by the list."
    assert "See attached" in msg.html


def test_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = b"From: a@example.com\nSubject: no id\n\nhello\n"

    msg = parse_message(raw)

    assert msg.message_id == f"<{hashlib.sha256(raw).hexdigest()}@mailer.invalid>"
    assert parse_message(raw).message_id == msg.message_id
    assert msg.return_path is None
    assert msg.date is None


def test_the_null_return_path_is_empty() -> None:
    raw = b"Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.com\nSubject: x\n\nbody\n"

    assert parse_message(raw).return_path == ""


def test_a_date_in_an_odd_format_or_zone_still_parses() -> None:
    raw = b"From: a@example.com\nDate: 12 Jan 2027 09:15:02 -0500\nSubject: x\n\nhi\n"

    msg = parse_message(raw)

    assert msg.date == datetime(2027, 1, 12, 9, 15, 2, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"just a sentence, not a mail\n"])
def test_bytes_that_are_not_an_email_are_refused(raw: bytes) -> None:
    with pytest.raises(MessageParseError):
        parse_message(raw)


def test_a_broken_multipart_still_yields_its_text() -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="never-used"\n\n'
        b"The only text there is.\n"
    )

    assert parse_message(raw).text.strip() == "The only text there is."
