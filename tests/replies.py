"""Replies to the assistant's mail, shaped byte for byte the way each client writes them.

Each builder takes the raw questionnaire (or any mail we received) and writes the answer the
way that client would: the quote header in the client's words, its quoting style, its MIME
structure. The answering text is passed in; everything else is the client's.
"""

from __future__ import annotations

import base64
import html
import itertools
import quopri
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

_counter = itertools.count(1)

SAM = "Sam Jones <sam@example.com>"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Original:
    """What a reply needs from the message it answers."""

    message_id: str
    reply_to: str  # where the reply goes: the token address
    subject: str
    sender: str  # "Transitions assistant <transitions@example.com>"
    sender_name: str
    sender_email: str
    text: str
    html: str
    attachments: dict[str, bytes]

    @classmethod
    def of(cls, raw: bytes) -> Original:
        msg: EmailMessage = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
        text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
        name, address = parseaddr(str(msg["From"]))
        return cls(
            message_id=str(msg["Message-ID"]), reply_to=str(msg["Reply-To"] or address),
            subject=str(msg["Subject"]), sender=str(msg["From"]), sender_name=name,
            sender_email=address,
            text=text_part.get_content() if text_part is not None else "",
            html=html_part.get_content() if html_part is not None else "",
            attachments={part.get_filename() or "": part.get_content()
                         for part in msg.iter_attachments()})

    @property
    def form(self) -> bytes:
        return next(data for name, data in self.attachments.items() if name.endswith(".xlsx"))


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _qp(text: str) -> str:
    return quopri.encodestring(_crlf(text).encode("utf-8")).decode("ascii")


def _b64(data: bytes) -> str:
    return _crlf(base64.encodebytes(data).decode("ascii"))


def _stamp() -> tuple[str, datetime]:
    moment = datetime.now(UTC)
    return format_datetime(moment), moment


def _threading(original: Original) -> str:
    return f"In-Reply-To: {original.message_id}\r\nReferences: {original.message_id}\r\n"


def quote_plain(text: str) -> str:
    """Quote text as Gmail, Thunderbird and Apple Mail do: "> " per line, ">" when blank."""
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


def _paragraphs_html(text: str) -> str:
    """New text as a web client writes it: one <div> per line, <br> for blank lines."""
    return "".join(f"<div>{html.escape(line)}</div>" if line.strip() else "<div><br></div>"
                   for line in text.splitlines())


def _attachment_part(boundary: str, name: str, payload: bytes, content_type: str) -> str:
    return (f"--{boundary}\r\nContent-Type: {content_type}; name=\"{name}\"\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(payload)}\r\n")


def _with_attachments(head: str, body_type: str, body: str,
                      attachments: list[tuple[str, bytes]], n: int) -> bytes:
    if not attachments:
        return (head + f"Content-Type: {body_type}\r\n" + body).encode("utf-8")
    parts = f"--mix{n}\r\nContent-Type: {body_type}\r\n{body}\r\n"
    for name, payload in attachments:
        parts += _attachment_part(f"mix{n}", name, payload, XLSX_TYPE)
    return (head + f"Content-Type: multipart/mixed; boundary=\"mix{n}\"\r\n\r\n"
            + parts + f"--mix{n}--\r\n").encode("utf-8")


# --- Gmail ----------------------------------------------------------------------------------


def gmail_reply(original: Original, text: str, *, sender: str = SAM,
                attachments: list[tuple[str, bytes]] | None = None) -> bytes:
    """Gmail on the web: multipart/alternative, the quote in a gmail_quote div."""
    n = next(_counter)
    date, moment = _stamp()
    attribution = (f"On {moment.strftime('%a, %b %-d, %Y at %-I:%M %p')} "
                   f"{original.sender_name} &lt;<a href=\"mailto:{original.reply_to}\">"
                   f"{original.reply_to}</a>&gt; wrote:")
    plain_attribution = (f"On {moment.strftime('%a, %b %-d, %Y at %-I:%M %p')} "
                         f"{original.sender_name} <{original.reply_to}>\nwrote:")
    plain = f"{text}\n\n{plain_attribution}\n\n{quote_plain(original.text)}\n"
    rich = (f"<div dir=\"ltr\">{_paragraphs_html(text)}</div><br><div class=\"gmail_quote\">"
            f"<div dir=\"ltr\" class=\"gmail_attr\">{attribution}<br></div>"
            "<blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:"
            f"1px solid rgb(204,204,204);padding-left:1ex\">{original.html}</blockquote></div>")
    boundary = f"000000000000alt{n}"
    alternatives = (f"\r\n--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n"
                    f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_qp(plain)}\r\n"
                    f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
                    f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{_qp(rich)}\r\n"
                    f"--{boundary}--\r\n")
    head = (f"MIME-Version: 1.0\r\nDate: {date}\r\n{_threading(original)}"
            f"Message-ID: <CAGm{n}x{int(moment.timestamp() * 1000)}-Q@mail.gmail.com>\r\n"
            f"Subject: Re: {original.subject}\r\nFrom: {sender}\r\nTo: {original.reply_to}\r\n")
    return _with_attachments(head, f"multipart/alternative; boundary=\"{boundary}\"",
                             alternatives, attachments or [], n)


# --- Thunderbird / plain text clients -----------------------------------------------------


def thunderbird_reply(original: Original, body: str, *, sender: str = SAM,
                      attribution: str | None = None) -> bytes:
    """A plain-text reply; `body` is the whole text, quote included (inline answering)."""
    n = next(_counter)
    date, moment = _stamp()
    head = (f"Message-ID: <{n}-{moment.timestamp():.0f}@thunderbird.example.com>\r\n"
            f"Date: {date}\r\nMIME-Version: 1.0\r\nUser-Agent: Mozilla Thunderbird\r\n"
            f"Subject: Re: {original.subject}\r\nTo: {original.reply_to}\r\n"
            f"{_threading(original)}From: {sender}\r\n"
            "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    line = attribution if attribution is not None else (
        f"On {moment.strftime('%d/%m/%Y %H:%M')}, {original.sender_name} wrote:")
    text = body if "{quote}" not in body else body.replace(
        "{quote}", f"{line}\n{quote_plain(original.text)}")
    return head.encode("utf-8") + _crlf(text).encode("utf-8")


def inline_answers(original: Original, answers: dict[str, str]) -> str:
    """The quoted questionnaire with answers typed right under the quoted headings.

    `answers` maps a heading as it appears in the questionnaire ("4. Red flags and issues")
    to the text typed below it, unquoted, as people do when they answer inline.
    """
    out: list[str] = []
    for line in original.text.splitlines():
        out.append(f"> {line}" if line.strip() else ">")
        if line.strip() in answers:
            out += ["", answers[line.strip()], ""]
    return "\n".join(out)


# --- Outlook --------------------------------------------------------------------------------


def outlook_html_reply(original: Original, text: str, *, sender: str = SAM) -> bytes:
    """Outlook for Windows / Microsoft 365: text/html only, the original under divRplyFwdMsg."""
    n = next(_counter)
    date, moment = _stamp()
    new = "".join(
        f"<p class=\"MsoNormal\">{html.escape(line) or '&nbsp;'}<o:p></o:p></p>"
        for line in text.splitlines())
    body = (
        "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head>"
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
        "<style>p.MsoNormal{margin:0cm;font-size:11.0pt;font-family:Calibri}</style></head>"
        "<body lang=\"EN-US\"><div class=\"WordSection1\">" + new +
        "<p class=\"MsoNormal\">&nbsp;</p>"
        "<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\">"
        "<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" "
        f"style=\"font-size:11pt\" color=\"#000000\"><b>From:</b> {html.escape(original.sender)}"
        f"<br><b>Sent:</b> {moment.strftime('%A, %B %-d, %Y %-I:%M %p')}<br>"
        f"<b>To:</b> {html.escape(SAM)}<br><b>Subject:</b> {html.escape(original.subject)}"
        "</font><div>&nbsp;</div></div></div>" + original.html + "</div></body></html>")
    head = (f"From: {sender}\r\nTo: {original.reply_to}\r\n"
            f"Subject: RE: {original.subject}\r\nThread-Topic: {original.subject}\r\n"
            f"Thread-Index: AQHZ{n:04d}xyz==\r\nDate: {date}\r\n"
            f"Message-ID: <DM6PR{n:04d}MB{moment.timestamp():.0f}@DM6PR.namprd.prod.outlook.com>"
            f"\r\n{_threading(original)}Accept-Language: en-US\r\nContent-Language: en-US\r\n"
            "X-MS-Has-Attach:\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n")
    return head.encode("utf-8") + _b64(body.encode("utf-8")).encode("ascii")


# --- Apple Mail and the iPhone --------------------------------------------------------------


def apple_mail_reply(original: Original, text: str, *, sender: str = SAM) -> bytes:
    """Apple Mail on the Mac: plain and HTML, the quote in <blockquote type="cite">."""
    n = next(_counter)
    date, moment = _stamp()
    when = moment.strftime("%-d %b %Y, at %H:%M")
    plain = (f"{text}\n\n> On {when}, {original.sender_name} <{original.reply_to}> wrote:\n>\n"
             f"{quote_plain(original.text)}\n")
    rich = (
        "<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">"
        "</head><body style=\"overflow-wrap: break-word; -webkit-nbsp-mode: space; "
        f"line-break: after-white-space;\">{_paragraphs_html(text)}<div><br>"
        "<blockquote type=\"cite\"><div>On " + when + ", " + html.escape(original.sender_name)
        + " &lt;" + original.reply_to + "&gt; wrote:</div><br class=\"Apple-interchange-newline"
        "\"><div>" + original.html + "</div></blockquote></div><br></body></html>")
    head = (f"From: {sender}\r\nContent-Type: multipart/alternative;\r\n"
            f"\tboundary=\"Apple-Mail=_{n:08X}-AAAA\"\r\nMime-Version: 1.0 (Mac OS X Mail 16.0"
            f" \\(3774.600.62\\))\r\nSubject: Re: {original.subject}\r\nDate: {date}\r\n"
            f"{_threading(original)}To: {original.reply_to}\r\n"
            f"Message-Id: <{n:08X}-APPLE-{moment.timestamp():.0f}@example.com>\r\n"
            "X-Mailer: Apple Mail (2.3774.600.62)\r\n\r\n")
    boundary = f"Apple-Mail=_{n:08X}-AAAA"
    body = (f"\r\n--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            f"Content-Type: text/plain;\r\n\tcharset=utf-8\r\n\r\n{_qp(plain)}\r\n"
            f"--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            f"Content-Type: text/html;\r\n\tcharset=utf-8\r\n\r\n{_qp(rich)}\r\n--{boundary}--\r\n")
    return head.encode("utf-8") + body.encode("utf-8")


def iphone_reply(original: Original, text: str, *, sender: str = SAM) -> bytes:
    """iOS Mail: plain text, "Sent from my iPhone", then "On <date>, at <time>, X wrote:"."""
    n = next(_counter)
    date, moment = _stamp()
    when = moment.strftime("%-d %b %Y, at %H:%M")
    plain = (f"{text}\n\nSent from my iPhone\n\n> On {when}, {original.sender_name} "
             f"<{original.reply_to}> wrote:\n>\n{quote_plain(original.text)}\n")
    head = (f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
            f"quoted-printable\r\nFrom: {sender}\r\nMime-Version: 1.0 (1.0)\r\n"
            f"Date: {date}\r\nSubject: Re: {original.subject}\r\n"
            f"Message-Id: <{n:04X}-IPHONE-{moment.timestamp():.0f}@example.com>\r\n"
            f"{_threading(original)}To: {original.reply_to}\r\n"
            "X-Mailer: iPhone Mail (21E236)\r\n\r\n")
    return head.encode("utf-8") + _qp(plain).encode("ascii")


# --- other languages ------------------------------------------------------------------------


def german_reply(original: Original, text: str, *, sender: str = SAM) -> bytes:
    """Thunderbird in German: "Am 22.11.26 um 10:15 schrieb Transitions assistant:"."""
    moment = datetime.now(UTC)
    line = (f"Am {moment.strftime('%d.%m.%y')} um {moment.strftime('%H:%M')} schrieb "
            f"{original.sender_name}:")
    return thunderbird_reply(original, f"{text}\n\n{{quote}}\n", sender=sender,
                             attribution=line)


def french_reply(original: Original, text: str, *, sender: str = SAM) -> bytes:
    """Gmail in French, plain text: "Le dim. 22 nov. 2026 à 10:15, X <...> a écrit :"."""
    moment = datetime.now(UTC)
    line = (f"Le dim. {moment.day} nov. {moment.year} à {moment.strftime('%H:%M')}, "
            f"{original.sender_name} <{original.reply_to}> a écrit :")
    return thunderbird_reply(original, f"{text}\n\n{{quote}}\n", sender=sender,
                             attribution=line)


# --- machines -------------------------------------------------------------------------------


def out_of_office(original: Original, *, sender: str = SAM, back: str) -> bytes:
    """Exchange's automatic reply, as it answers the questionnaire."""
    n = next(_counter)
    date, _ = _stamp()
    body = (f"Thank you for your message. I am out of the office with limited access to "
            f"email and will be back on {back}.\n\nFor anything urgent, please contact "
            "Dana Manager <dana@example.com>.\n\nSam\n")
    head = (f"From: {sender}\r\nTo: {original.reply_to}\r\n"
            f"Subject: Automatic reply: {original.subject}\r\nDate: {date}\r\n"
            f"Message-ID: <OOF{n:04d}@DM6PR.namprd.prod.outlook.com>\r\n"
            f"{_threading(original)}Auto-Submitted: auto-replied\r\n"
            "X-Auto-Response-Suppress: All\r\nX-MS-Exchange-Inbox-Rules-Loop: sam@example.com"
            "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode("utf-8") + _crlf(body).encode("utf-8")


def with_form(original: Original, text: str, form: bytes, *, sender: str = SAM,
              filename: str = "Acme Corp handoff questionnaire TR-0001.xlsx") -> bytes:
    """A Gmail reply with the filled form attached."""
    return gmail_reply(original, text, sender=sender, attachments=[(filename, form)])
