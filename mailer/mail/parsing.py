"""Raw inbound bytes into one typed, fully decoded `InboundMessage`.

mail-parser reads the envelope (addresses with decoded display names, subject, date,
Message-ID). The standard library `email` package walks the MIME tree itself, because
mail-parser merges the text of forwarded or bounced messages into the body, invents random
names for unnamed attachments and replaces any charset it cannot apply with U+FFFD, where we
would rather try what senders actually use (UTF-8, then windows-1252).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import hashlib
import html as html_lib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.errors import HeaderParseError, MessageDefect
from email.header import Header, decode_header
from email.headerregistry import Address
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

import html2text
import mailparser

from mailer.errors import MessageParseError
from mailer.handoff.model import Attachment, InboundMessage
from mailer.mail.flowed import decode_flowed

log = logging.getLogger(__name__)
# mail-parser warns through the last-resort handler about every part type it skips; we
# handle those parts ourselves, so keep its notes out of stderr unless logging is configured.
logging.getLogger("mailparser").addHandler(logging.NullHandler())

# Labels senders put on mail that Python either lacks or decodes too strictly.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-user-defined": "windows-1252",
}
_FALLBACK_CHARSETS = ("utf-8", "windows-1252")

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_ENCODED_WORDS = re.compile(r"(\?=)\s+(?==\?)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BODY_TYPES = ("text/plain", "text/html")
# Parts of a report that describe the delivery rather than carry a file.
_REPORT_PARTS = (
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


def parse_message(raw: bytes, *, max_text: int | None = None) -> InboundMessage:
    """Parse one received email; raises MessageParseError only when it is not an email.

    With `max_text`, at most that many characters of body text are kept for the readers,
    whose work grows with the text: an HTML part over it beside a plain one is left out (the
    plain text says the same), and what is over it is counted in `unread_text`."""
    _require_email(raw)
    # Some stores prefix messages with blank or space-filled lines; the headers follow them.
    message = message_from_bytes(raw.lstrip(), policy=compat32)
    envelope = _envelope(message)
    headers = tuple((name.lower(), decode_header_value(value)) for name, value in message.items())
    plain_parts, html_parts, attachments = _walk_body(message)
    plain, html = "\n".join(plain_parts), "\n".join(html_parts)
    unread = 0
    if max_text is not None:
        if len(html) > max_text and plain_parts:
            html = ""
        unread = max(len(plain) - max_text, len(html) - max_text, 0)
        plain, html = plain[:max_text], html[:max_text]
    text = plain if plain_parts else html_to_text(html)
    return InboundMessage(
        message_id=_message_id(message, raw),
        subject=_subject(message, envelope),
        from_name=_from_name(message, envelope),
        from_email=_first(_addresses(message, "from", envelope)),
        to=_addresses(message, "to", envelope),
        cc=_addresses(message, "cc", envelope),
        delivered_to=_delivered_to(message),
        reply_to=_addresses(message, "reply-to", envelope),
        return_path=_return_path(message),
        date=_date(message, envelope),
        in_reply_to=_first(_msg_ids(message.get("in-reply-to", ""))) or None,
        references=_msg_ids(message.get("references", "")),
        text=inert_text(_normalise_newlines(text)),
        text_from_html=not plain_parts and bool(html.strip()),
        html=inert_text(html),
        attachments=tuple(attachments),
        content_type=message.get_content_type(),
        headers=headers,
        size=len(raw),
        from_problem=from_problem(message),
        part_types=part_types(message),
        unread_text=unread,
    )


def _require_email(raw: bytes) -> None:
    if not isinstance(raw, bytes | bytearray):
        raise MessageParseError(f"expected raw bytes, got {type(raw).__name__}")
    first_line = raw.lstrip().split(b"\n", 1)[0]
    if not raw.strip():
        raise MessageParseError("the message is empty")
    if not _HEADER_LINE.match(first_line) and not first_line.startswith(b"From "):
        raise MessageParseError("the message does not start with a header line")


def _envelope(message: Message) -> mailparser.MailParser | None:
    """mail-parser's view of the message, or None when the library trips over it."""
    try:
        return mailparser.MailParser(message)
    except Exception as error:  # a third-party parser on hostile input: fall back, never fail
        log.debug("mail-parser could not read the message (%s); using the email package", error)
        return None


# -- headers -------------------------------------------------------------------------------


_STRAY_BYTES = re.compile("[\udc80-\udcff]")  # 8-bit bytes the header parser kept as-is


def decode_header_value(value: object) -> str:
    """Decode a raw header value: unfold, decode RFC 2047 words and stray 8-bit bytes."""
    text = _raw_header_text(value)
    if _STRAY_BYTES.search(text):
        text = decode_bytes(text.encode("ascii", "surrogateescape"), None)
    text = _FOLD.sub("", text)
    text = _BETWEEN_ENCODED_WORDS.sub(r"\1", text)
    return header_text(_ENCODED_WORD.sub(_decode_encoded_word, text))


# Line breaks and other controls inside a decoded header (`=?utf-8?b?...?=` can carry
# "\r\nBcc: ..."): echoed into a reply's subject or display name they would forge headers.
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """A decoded header value as one line of plain text: every control becomes a space.

    What is left of encoded-word syntax is broken up too: the email package decodes
    `=?utf-8?b?...?=` again when we put a name or subject into a reply's headers.
    """
    return _HEADER_CONTROLS.sub(" ", value).replace("=?", "= ?").strip()


def _raw_header_text(value: object) -> str:
    """The header as sent; compat32 wraps raw 8-bit values in a Header that hides the bytes."""
    if not isinstance(value, Header):
        return str(value)
    chunks = []
    for chunk, charset in decode_header(value):
        if isinstance(chunk, bytes):
            chunks.append(decode_bytes(chunk, None if charset == "unknown-8bit" else charset))
        else:
            chunks.append(chunk)
    return "".join(chunks)


def _decode_encoded_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1), match.group(2).upper(), match.group(3)
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    try:
        if encoding == "B":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = binascii.a2b_qp(payload.replace("_", " ").encode("utf-8"))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode_bytes(data, charset)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, then the charsets senders really use."""
    for candidate in _charset_candidates(charset):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError):
            continue
    return data.decode("latin-1")


def _charset_candidates(charset: str | None) -> Iterator[str]:
    if charset:
        name = charset.strip().strip("\"'").lower()
        mapped = _CHARSET_ALIASES.get(name, name)
        if mapped == "windows-1252":
            yield "utf-8"  # mail labelled ASCII or Latin-1 is very often UTF-8 in truth
        if _is_text_codec(mapped):
            yield mapped
    yield from _FALLBACK_CHARSETS


def _is_text_codec(name: str) -> bool:
    try:
        return codecs.lookup(name)._is_text_encoding
    except LookupError:
        return False


def _subject(message: Message, envelope: mailparser.MailParser | None) -> str:
    ours = decode_header_value(message.get("subject", ""))
    if envelope is not None:
        theirs = str(envelope.subject or "").strip()
        if theirs and "\ufffd" not in theirs and "=?" not in theirs:
            return header_text(theirs)
    return ours


def _message_id(message: Message, raw: bytes) -> str:
    ids = _msg_ids(message.get("message-id", ""))
    if ids:
        return ids[0]
    return f"<{hashlib.sha256(raw).hexdigest()}@mailer.invalid>"


_MSG_ID = re.compile(r"<([^<>\s]+)>")


def _msg_ids(value: object) -> tuple[str, ...]:
    text = decode_header_value(value or "")
    found = tuple(f"<{inner}>" for inner in _MSG_ID.findall(text))
    if found:
        return found
    # Some clients drop the angle brackets; keep the bare token as the id.
    bare = [token for token in text.split() if "@" in token]
    return tuple(f"<{token.strip('<>,;')}>" for token in bare)


def _return_path(message: Message) -> str | None:
    value = message.get("return-path")
    if value is None:
        return None
    text = decode_header_value(value).strip()
    if text in ("<>", ""):
        return ""
    _, address = getaddresses([text])[0] if getaddresses([text]) else ("", "")
    return (address or text.strip("<>")).lower()


def _date(message: Message, envelope: mailparser.MailParser | None) -> datetime | None:
    value = message.get("date")
    if value:
        try:
            parsed = parsedate_to_datetime(decode_header_value(value))
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if envelope is not None and isinstance(envelope.date, datetime):
        found: datetime = envelope.date
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    return None


# -- addresses -----------------------------------------------------------------------------

_ENVELOPE_FIELDS = {"from": "from_", "to": "to", "cc": "cc", "reply-to": "reply_to"}


def _address_pairs(
    message: Message, header: str, envelope: mailparser.MailParser | None = None
) -> list[tuple[str, str]]:
    field = _ENVELOPE_FIELDS.get(header)
    if envelope is not None and field is not None:
        try:
            pairs = [(str(n), str(a)) for n, a in getattr(envelope, field) or []]
        except (TypeError, ValueError):
            pairs = []
        if any("@" in address for _, address in pairs):
            return pairs
    raw_values = [str(v) for v in message.get_all(header, [])]
    return [(decode_header_value(name), address) for name, address in getaddresses(raw_values)]


def _addresses(
    message: Message, header: str, envelope: mailparser.MailParser | None = None
) -> tuple[str, ...]:
    found = []
    for _, address in _address_pairs(message, header, envelope):
        cleaned = answerable_address(decode_header_value(address))
        if cleaned and cleaned not in found:
            found.append(cleaned)
    return tuple(found)


def answerable_address(text: str) -> str:
    """The address as we store and answer it, or "" when no mail could ever be sent to it.

    Senders write `Big Bug bb@bug.com` without brackets, and international addresses arrive
    with non-ASCII domains (sent as IDNA) or local parts (which need SMTPUTF8, so we cannot
    answer them). Anything the email package would refuse to put in a header is dropped here,
    so a hostile From can never break the composing of an answer.
    """
    candidate = text.strip().strip("<>").strip()
    address = _valid_addr_spec(candidate)
    if address is None and any(ch.isspace() for ch in candidate):
        last_word = next((w for w in reversed(candidate.split()) if "@" in w), "")
        address = _valid_addr_spec(last_word.strip("<>,;()\"'"))
    return address.lower() if address and address.isascii() else ""


def _valid_addr_spec(candidate: str) -> str | None:
    local, at, domain = candidate.rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
        return Address(addr_spec=f"{local}@{domain}").addr_spec
    except (ValueError, IndexError, UnicodeError, HeaderParseError, MessageDefect):
        return None


def from_problem(message: Message) -> str:
    """Why this From cannot be trusted to name one sender, or "" when it can.

    Mail with two From headers, or one naming several mailboxes, lets each reader pick a
    different sender; an encoded word inside the address itself (`=?utf-8?q?...?=@example.com`)
    is decoded by some readers and not by others. The product never picks one of several."""
    values = [_raw_header_text(v) for v in message.get_all("from", [])]
    if len(values) > 1:
        return f"{len(values)} From headers"
    if not values:
        return ""
    value = _FOLD.sub("", values[0])
    mailboxes = [(name, address) for name, address in getaddresses([value])
                 if name or address]
    if len(mailboxes) > 1:
        return f"the From header names {len(mailboxes)} mailboxes"
    if mailboxes and "=?" in mailboxes[0][1]:
        return "an encoded word inside the From address"
    if "=?" in _address_part(value):
        return "an encoded word inside the From address"
    return ""


def _address_part(value: str) -> str:
    """What a From header holds outside its display name: the text between < and >, or all."""
    if "<" in value:
        return value.rpartition("<")[2].partition(">")[0]
    return "" if _ENCODED_WORD.fullmatch(value.strip()) else value


def _delivered_to(message: Message) -> tuple[str, ...]:
    found = _addresses(message, "delivered-to") + _addresses(message, "x-original-to")
    return tuple(dict.fromkeys(found))


def _from_name(message: Message, envelope: mailparser.MailParser | None) -> str:
    pairs = _address_pairs(message, "from", envelope)
    return decode_header_value(pairs[0][0]).strip('"').strip() if pairs else ""


def _first(values: tuple[str, ...]) -> str:
    return values[0] if values else ""


# -- body and attachments ------------------------------------------------------------------


def _walk_body(message: Message) -> tuple[list[str], list[str], list[Attachment]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for part in _leaf_parts(message):
        content_type = part.get_content_type()
        if content_type in _REPORT_PARTS:
            continue
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "multipart":
            # A multipart whose boundary never appears: its text is all there is.
            content_type = "text/plain"
        if content_type in _BODY_TYPES and disposition != "attachment":
            text = _part_text(part)
            if content_type == "text/plain" and _is_flowed(part):
                text = decode_flowed(text, delsp=_param(part, "delsp") == "yes")
            if text.strip():
                (plain if content_type == "text/plain" else html).append(text)
            if not part.get_filename():
                continue
        attachments.append(_attachment(part, len(attachments) + 1))
    return plain, html, attachments


def _param(part: Message, name: str) -> str:
    value = part.get_param(name)
    return str(value).strip().strip('"').lower() if isinstance(value, str) else ""


def _is_flowed(part: Message) -> bool:
    """Thunderbird and Apple Mail wrap plain text with soft breaks (RFC 3676)."""
    return _param(part, "format") == "flowed"


# Real clients nest a few levels (mixed > related > alternative, a forwarded message inside);
# anything deeper than this is built to make a reader work, and is not read.
MAX_MIME_DEPTH = 12
MAX_MIME_PARTS = 500


def _leaf_parts(part: Message, depth: int = 0) -> Iterator[Message]:
    """Leaves of the MIME tree; an embedded message counts as one leaf, not its insides."""
    if part.is_multipart() and not part.get_content_type().startswith("message/"):
        if depth >= MAX_MIME_DEPTH:
            return
        for child in part.get_payload()[:MAX_MIME_PARTS]:
            if isinstance(child, Message):
                yield from _leaf_parts(child, depth + 1)
        return
    yield part


def part_types(message: Message) -> tuple[str, ...]:
    """Every content type in the tree, embedded messages included, within the same caps: a
    delivery report can sit anywhere, not only at the top of a multipart/report."""
    found: list[str] = []
    pending: list[tuple[Message, int]] = [(message, 0)]
    while pending and len(found) < MAX_MIME_PARTS:
        part, depth = pending.pop()
        found.append(part.get_content_type())
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list) and depth < MAX_MIME_DEPTH:
            pending.extend((child, depth + 1) for child in payload[:MAX_MIME_PARTS]
                           if isinstance(child, Message))
    return tuple(dict.fromkeys(found))


def _part_text(part: Message) -> str:
    payload = _part_bytes(part)
    return decode_bytes(payload, part.get_content_charset() or part.get_param("charset"))


def _part_bytes(part: Message) -> bytes:
    if part.is_multipart():
        return b"".join(_message_bytes(child) for child in part.get_payload())
    try:
        data = part.get_payload(decode=True)
    except (ValueError, binascii.Error, LookupError, UnicodeError):
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return str(raw).encode("utf-8", "surrogateescape") if raw else b""


def _message_bytes(part: object) -> bytes:
    if not isinstance(part, Message):
        return str(part).encode("utf-8", "surrogateescape")
    try:
        return part.as_bytes()
    except (LookupError, UnicodeError, ValueError):
        return part.as_string().encode("utf-8", "surrogateescape")


def _attachment(part: Message, index: int) -> Attachment:
    return Attachment(
        filename=safe_filename(_filename(part), index),
        content_type=part.get_content_type(),
        payload=_part_bytes(part),
    )


def _filename(part: Message) -> str:
    name = part.get_filename() or part.get_param("name") or ""
    if isinstance(name, tuple):  # RFC 2231 value the email package left undecoded
        name = decode_bytes(name[2].encode("latin-1", "replace"), name[0])
    if "\ufffd" in name:
        # Raw 8-bit parameters: read them again from the headers as the sender wrote them.
        probe = Message()
        for header in ("content-disposition", "content-type"):
            if part.get(header) is not None:
                probe[header] = _raw_header_text(part.get(header))
        name = probe.get_filename() or str(probe.get_param("name") or "") or name
    return decode_header_value(name)


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_filename(name: str, index: int) -> str:
    """A name safe to show and store: no directories, control characters or leading dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME_CHARS.sub("", base).strip().lstrip(".").strip()
    return base or f"attachment-{index}.bin"


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Controls other than tab and line breaks: terminal escapes, bells, vertical tabs, NULs.
# Nobody means them, and each would otherwise travel into replies, file names and logs
# (Python even counts \x0b, \x0c and \x1c-\x1e as line breaks in a header).
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def inert_text(text: str) -> str:
    """Body text without the controls people never type; Unicode line separators as "\\n"."""
    return _TEXT_CONTROLS.sub("", text).replace("\u2028", "\n").replace("\u2029", "\n\n")


# -- HTML to text --------------------------------------------------------------------------

_MD_LINK = re.compile(r"\[([^\]]*)\]\(<?([^)\s>]+)>?(?: \"[^\"]*\")?\)")
_MD_HEADING = re.compile(r"^#{1,6} +", re.MULTILINE)
_MD_TABLE_RULE = re.compile(r"^[ |:-]*-{3,}[ |:-]*\n", re.MULTILINE)
_MD_TABLE_CELL = re.compile(r" *\| *")
_MD_HR = re.compile(r"^ *\* \* \* *$", re.MULTILINE)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|])")
_HIDDEN_BLOCKS = re.compile(r"<(style|script|head|title)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


# The readers of one message ask for the same HTML's text several times: it is made once.
@functools.lru_cache(maxsize=4)
def html_to_text(html: str) -> str:
    """Readable text from HTML: line structure kept, links as text, tables one row a line."""
    if not html.strip():
        return ""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_emphasis = True
    converter.ignore_images = True
    converter.ul_item_mark = "-"
    converter.unicode_snob = True
    converter.use_automatic_links = False  # "<https://x>" would read as a link rendering
    markdown = converter.handle(_HIDDEN_BLOCKS.sub("", html))
    text = _MD_LINK.sub(_link_as_text, markdown)
    text = _MD_TABLE_RULE.sub("", text)
    text = "\n".join(
        _MD_TABLE_CELL.sub(" | ", line) if "|" in line else line for line in text.split("\n")
    )
    text = _MD_HR.sub("", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    text = html_lib.unescape(text).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _link_as_text(match: re.Match[str]) -> str:
    label, target = match.group(1).strip(), match.group(2)
    if target.lower().startswith("mailto:"):
        address = target[len("mailto:") :].split("?", 1)[0]
        return label if address.lower() in label.lower() or not address else f"{label} <{address}>"
    if not label or label == target or target.rstrip("/") in label or not target.startswith("http"):
        return label or target
    return f"{label} ({target})"
