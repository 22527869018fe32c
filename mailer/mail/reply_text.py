"""The new text of a reply: quoted history, forwarded blocks and signatures removed.

People answer our mails from every client there is. Each client marks the history it
quotes differently: `>` lines, an "On <date>, <person> wrote:" line in the writer's
language, an Outlook `From:/Sent:/To:/Subject:` block, or in HTML a quote container
(`gmail_quote`, `blockquote type=cite`, `divRplyFwdMsg`...). We cut at the first mark of
history, then drop the signature below the new text. Short sign-offs ("Thanks,\\nAna") stay:
they are part of what the person wrote and cost nothing downstream.

mail-parser-reply supplies the per-language "wrote" header patterns and mobile
"sent from" phrases; its own splitting strips indentation and drops sign-offs, so the
cutting itself is ours.
"""

from __future__ import annotations

import re
from functools import cache

from mailparser_reply.constants import MAIL_LANGUAGES

from mailer.mail.parsing import html_to_text

# -- HTML quote containers -----------------------------------------------------------------

# Markers, in any attribute, of the element that holds the quoted or forwarded history.
_HTML_QUOTE_MARKERS = (
    r"class=[\"']?gmail_quote",
    r"class=[\"']?gmail_attr",
    r"type=[\"']?cite",
    r"id=[\"']?divRplyFwdMsg",
    r"id=[\"']?appendonsend",
    r"OLK_SRC_BODY_SECTION",
    r"class=[\"']?yahoo_quoted",
    r"id=[\"']?yahoo_quoted",
    r"class=[\"']?moz-cite-prefix",
    r"class=[\"']?OutlookMessageHeader",
    r"id=[\"']?stopSpelling",
    r"id=[\"']?replySplit",
    r"name=[\"']?messageReplySection",
    r"class=[\"']?ms-outlook-mobile-reference-message",
    r"class=[\"']?zmail_extra",
    r"border-top:\s*solid\s+#(?:E1E1E1|B5C4DF)",
)
_HTML_QUOTE = re.compile(r"<[^<>]*?(?:" + "|".join(_HTML_QUOTE_MARKERS) + r")", re.IGNORECASE)


def _html_before_quote(html: str) -> str:
    match = _HTML_QUOTE.search(html)
    return html[: match.start()] if match else html


# -- text markers --------------------------------------------------------------------------

_WROTE_VERBS = (
    r"wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|ha scritto|schreef|skrev"
    r"|escreveu|napisał\(a\)|napisał|napisal|napsal\(a\)|kirjoitti|написал(?:\(а\))?"
    r"|пише|писал|yazdı|írta"
)
# "On Tue, 3 Mar 2026 at 10:00, Ana <ana@x.com> wrote:" in the common languages.
_ON_WROTE = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:On|Am|Le|El|Il|Op|Den|Em|W dniu|Dne|På|Dnia)\b.{0,300}?\b"
    rf"(?:{_WROTE_VERBS})\b.{{0,120}}?:?\s*(?:-{{2,}})?\s*$",
    re.IGNORECASE,
)
# "Ana <ana@x.com> wrote:" and "At 6/16/2016 08:32 PM, you wrote:".
_SOMEONE_WROTE = re.compile(
    rf"^\s*\S.{{0,200}}\b(?:{_WROTE_VERBS})(?:\s+(?:am|le|on|el|il|op|den)\b.{{0,80}})?\s*:\s*$",
    re.IGNORECASE,
)
# Gmail in some locales: "2016-03-03 17:21 GMT+01:00 Ana <ana@x.com>:" or "2013/7/20 Ana <a@x>".
_DATED_SENDER = re.compile(
    r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,40}(?:GMT[+-]\d{1,2}:?\d{2}\b.*|.*<[^>\s]+@[^>\s]+>:?)$"
)
# Yandex, Mail.ru and others: "26.06.2014, 14:41, "Ana" <ana@x.com>:" (a date, an address).
_DATED_ADDRESS_COLON = re.compile(r"^(?=.{0,300}$)(?=.*\d{1,2}:\d{2}).*<[^<>\s]+@[^<>\s]+>\s*:\s*$")
_SEPARATOR_TITLES = (
    r"original message|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht"
    r"|message d'origine|message transféré|mensaje original|mensaje reenviado"
    r"|messaggio originale|messaggio inoltrato|oorspronkelijk bericht|doorgestuurd bericht"
    r"|oprindelig meddelelse|videresendt meddelelse|ursprungligt meddelande|mensagem original"
    r"|mensagem encaminhada|wiadomość oryginalna|исходное сообщение|пересылаемое сообщение"
    r"|перенаправленное сообщение|original"
)
_ORIGINAL_SEPARATOR = re.compile(
    rf"^\s*[-_=*]{{2,}}\s*(?:{_SEPARATOR_TITLES})\s*[-_=*]{{2,}}", re.IGNORECASE
)
_FORWARD_INTRO = re.compile(
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht"
    r"|début du message réexpédié|inicio del mensaje reenviado|inizio messaggio inoltrato"
    r"|forwarded message)\s*:?\s*$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{20,}\s*$")
_HEADER_FROM = (
    r"from|von|de|da|van|fra|från|od|от кого|от|差出人|发件人|寄件者|보낸 사람|reply-to|antwort an"
)
_HEADER_OTHER = (
    r"sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|envoye|à|a|objet|enviado|fecha"
    r"|para|asunto|inviato|data|oggetto|risposta|verzonden|aan|onderwerp|sendt|til|emne"
    r"|skickat|till|ämne|temat|do|wysłano|отправлено|кому|тема|дата|送信日時|宛先|件名"
    r"|发送时间|收件人|主题|organization"
)
_HEADER_FIELD = re.compile(
    rf"^\s*[*_]*(?:(?P<from>{_HEADER_FROM})|(?:{_HEADER_OTHER}))\s*[*_]*\s*[:：]",
    re.IGNORECASE,
)
_DELIMITER_LINE = re.compile(r"^\s*(?:[-_=*—–~]\s*){3,}$")

_SIGNATURE_DELIMITER = re.compile(r"^(?:--|-- |__|—|--\s*—)\s*$")
_DASH_NAME = re.compile(r"^-\s?[A-Z][\w.'-]+(?: [\w.'-]+){0,3}$")
_OWN_SENT_FROM = (
    r"sent from|sent via|sent with|get outlook for|envoyé de|envoyé depuis|envoyé avec"
    r"|von meinem|gesendet von|enviado desde|enviado do|enviado de|inviato da|verzonden vanaf"
    r"|verstuurd vanaf|sendt fra|skickat från|wysłano z|odesláno z|отправлено с"
)
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060\u1427]")


@cache
def _library_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """mail-parser-reply's per-language "wrote" headers and "sent from" phrases."""
    wrote = [lang["wrote_header"] for lang in MAIL_LANGUAGES.values() if lang.get("wrote_header")]
    sent = [lang["sent_from"] for lang in MAIL_LANGUAGES.values() if lang.get("sent_from")]
    wrote_header = re.compile("|".join(f"(?:{p})" for p in wrote), re.IGNORECASE | re.MULTILINE)
    sent_from = re.compile(
        rf"^\s*(?:{_OWN_SENT_FROM}|{'|'.join(sent)})\b[^,;!?]{{0,80}}$", re.IGNORECASE
    )
    return wrote_header, sent_from


# -- public --------------------------------------------------------------------------------


def new_text(text: str, *, html: str = "") -> str:
    """The text the sender wrote in this message, without quoted history or signature.

    The plain part is read first: clients write it with the same marks and it keeps the
    sender's own formatting. The HTML is read when there is no plain part of its own (the
    text is only the HTML's rendering) or the plain part leaves nothing; there the quote
    containers are cut away before the HTML is turned into text.
    """
    has_html = bool(html.strip())
    if has_html and (not text.strip() or text.strip() == html_to_text(html)):
        return _new_text_of_html(html)
    found = _trim(text)
    return found or (_new_text_of_html(html) if has_html else "")


def _new_text_of_html(html: str) -> str:
    return _trim(html_to_text(_html_before_quote(html)))


def _trim(text: str) -> str:
    lines = _normalised_lines(text)
    lines = _before_history(lines)
    lines = _without_signature(lines)
    lines = _without_trailing_quote(lines)
    return "\n".join(lines).strip("\n").rstrip()


def _normalised_lines(text: str) -> list[str]:
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [line.rstrip().replace("\xa0", " ") for line in text.split("\n")]


def _before_history(lines: list[str]) -> list[str]:
    """Lines above the first mark of quoted history.

    Three shapes are not a plain cut: answers written between quoted lines keep the quotes;
    a bare header block at the top (a mail handed on without comment) is skipped; and an
    attribution at the very top is skipped with its quote, as mobile clients put it there.
    """
    done: list[str] = []
    while True:
        start = _history_start(lines)
        if start is None:
            return done + lines
        first, after = start
        head = lines[:first]
        attribution = _is_attribution(lines[first:after])
        written_above = any(line.strip() for line in head) or bool(done)
        if attribution and written_above and _answered_inline(lines[after:]):
            done += head
            lines = lines[after:]
            continue
        if written_above:
            return done + _drop_trailing_delimiters(head)
        if attribution:
            lines = _without_leading_quote(lines[after:])
        elif _HEADER_FIELD.match(lines[first]):
            lines = lines[after:]
        else:
            return []  # a forward with nothing written above it


def _answered_inline(lines: list[str]) -> bool:
    """A quote followed by the sender's own words: answers written between quoted lines."""
    index = _first_content(lines)
    if index == len(lines) or not lines[index].lstrip().startswith(">"):
        return False
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith(">")):
        index += 1
    rest = lines[index:]
    if not any(line.strip() for line in rest):
        return False
    _, sent_from = _library_patterns()
    opening = rest[_first_content(rest)]
    return not (
        _SIGNATURE_DELIMITER.match(opening)
        or sent_from.match(opening)
        or _DELIMITER_LINE.match(opening)
        or _mark_end(rest, _first_content(rest)) is not None
    )


def _without_leading_quote(lines: list[str]) -> list[str]:
    index = 0
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith(">")):
        index += 1
    return lines[index:] if index < len(lines) else lines


def _first_content(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), len(lines))


def _history_start(lines: list[str]) -> tuple[int, int] | None:
    """Where quoted history starts and the index just after the lines that mark it."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        end = _mark_end(lines, index)
        if end is not None:
            return index, end
    return None


def _mark_end(lines: list[str], index: int) -> int | None:
    """If a history mark starts at `index`, the index just after its last line."""
    line = lines[index]
    if _ORIGINAL_SEPARATOR.match(line) or _FORWARD_INTRO.match(line):
        return index + 1
    if _UNDERSCORE_RULE.match(line):
        return index + 1
    header_end = _header_block_end(lines, index)
    if header_end is not None:
        return header_end
    for span in range(1, 5):
        window = lines[index : index + span]
        if len(window) < span or (span > 1 and not window[-1].strip()):
            break
        if _is_attribution(window):
            return index + span
    return None


def _is_attribution(window: list[str]) -> bool:
    """An "On <date>, <person> wrote:" line, which clients often wrap over several lines."""
    joined = " ".join(part.strip() for part in window)
    if len(joined) > 400:
        return False
    if _DATED_SENDER.match(joined) or _DATED_ADDRESS_COLON.match(joined):
        return True
    if len(window) > 1 and not _wraps_one_header(window):
        return False
    if not window[-1].rstrip().endswith((":", "：", "----")):
        return False
    if _ON_WROTE.match(joined):
        return True
    # A line that merely ends in "wrote:" counts alone, or wrapped around an address.
    if _SOMEONE_WROTE.match(joined):
        # Only an attribution that names an address is wrapped ("Ana <ana@x.com> schrieb am
        # Fr., 28.\nApr. 2017:"); otherwise a sentence above would be swallowed with it.
        return len(window) == 1 or (len(window) == 2 and bool(re.search(r"[<@\"]", window[0])))
    wrote_header, _ = _library_patterns()
    return bool(wrote_header.fullmatch(joined))


_WRAPPED_TAIL = re.compile(r"^\s*>\s*(?:[\w()]+\s*)?:?\s*$")
_ATTRIBUTION_OPENING = re.compile(r"^\s*(?:On|Am|Le|El|Il|Op|Den|Em|Dne|På|Dnia)\s", re.IGNORECASE)


def _wraps_one_header(window: list[str]) -> bool:
    """Lines that can be one wrapped header: no quoted text, no second header opening."""
    for line in window[1:]:
        if line.lstrip().startswith(">") and not _WRAPPED_TAIL.match(line):
            return False
        if _ATTRIBUTION_OPENING.match(line):
            return False
    return True


def _header_block_end(lines: list[str], index: int) -> int | None:
    """An Outlook-style `From:/Sent:/To:/Subject:` block starting at `index`."""
    fields = 0
    has_from = False
    position = index
    while position < len(lines):
        line = lines[position]
        match = _HEADER_FIELD.match(line)
        if match:
            fields += 1
            has_from = has_from or bool(match.group("from"))
        elif not line.strip() or fields == 0:
            break
        elif (
            position + 1 < len(lines)
            and _HEADER_FIELD.match(lines[position + 1]) is None
            and fields >= 2
        ):
            break  # a wrapped value continues a field only inside the block
        position += 1
    if fields >= 2 and has_from and _HEADER_FIELD.match(lines[index]):
        return position
    return None


def _drop_trailing_delimiters(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or _DELIMITER_LINE.match(lines[end - 1])):
        end -= 1
    return lines[:end]


def _without_trailing_quote(lines: list[str]) -> list[str]:
    """Drop `>` lines after the last line the sender wrote; inline answers keep theirs."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if end:
        return lines[:end]
    # Nothing but a quote: keep it, unless it is only quoted history with attributions.
    unquoted = [line.lstrip("> ") for line in lines]
    return [] if _history_start(unquoted) is not None else lines


def _without_signature(lines: list[str]) -> list[str]:
    _, sent_from = _library_patterns()
    first = _first_content(lines)
    for index in range(first + 1, len(lines)):
        line = lines[index]
        if _SIGNATURE_DELIMITER.match(line) or sent_from.match(line):
            return _drop_trailing_delimiters(lines[:index])
    trimmed = _drop_trailing_delimiters(lines)
    if len(trimmed) > 1 and _DASH_NAME.match(trimmed[-1].strip()):
        return _drop_trailing_delimiters(trimmed[:-1])
    return _without_contact_block(trimmed)


_CONTACT_DETAIL = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.-]+|(?:https?://|www\.)\S+|\+?\(?\d[\d ().-]{6,}\d"
    r"|^\s*(?:t|tel|phone|mobile|cell|m|f|fax|skype|e|email)\s*[.:]",
    re.IGNORECASE,
)
_FIELD_LINE = re.compile(r"^\s*[\w][\w /-]{1,30}:\s*\S")
_MAX_BLOCK_LINES = 12


def _without_contact_block(lines: list[str]) -> list[str]:
    """Drop a closing block of short lines that is mostly name, phone, address and links."""
    first = _first_content(lines)
    for start in range(first + 1, len(lines)):
        above = lines[start - 1]
        if above.strip() and not _DELIMITER_LINE.match(above):
            continue
        block = [line for line in lines[start:] if line.strip()]
        if not block or len(block) > _MAX_BLOCK_LINES or _DELIMITER_LINE.match(block[0]):
            continue
        short = all(len(line.strip()) <= 60 for line in block)
        details = sum(1 for line in block if _CONTACT_DETAIL.search(line))
        # A signature opens with a name and holds no "Field: value" lines of a request.
        named = not _CONTACT_DETAIL.search(block[0])
        fields = any(_FIELD_LINE.match(line) and not _CONTACT_DETAIL.match(line) for line in block)
        if short and named and not fields and details >= 2:
            return _drop_trailing_delimiters(lines[:start])
    return lines
