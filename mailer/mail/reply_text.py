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
from functools import cache, lru_cache

from mailparser_reply.constants import MAIL_LANGUAGES

from mailer.handoff.model import InboundMessage
from mailer.handoff.questionnaire_reply import QuestionnaireReply, parse_answers
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
# Markers of the element that holds the sender's signature, which clients put below the new
# text and above the quote: Gmail, Thunderbird, Apple Mail on iOS, Outlook (web, mobile, Word).
_HTML_SIGNATURE_MARKERS = (
    r"class=[\"']?gmail_signature",
    r"data-smartmail=[\"']?gmail_signature",
    r"class=[\"']?moz-signature",
    r"id=[\"']?AppleMailSignature",
    r"id=[\"']?Signature[\"'\s>]",
    r"id=[\"']?ms-outlook-mobile-signature",
    r"name=[\"']?_MailAutoSig",
)
_HTML_QUOTE = re.compile(r"<[^<>]*?(?:" + "|".join(_HTML_QUOTE_MARKERS) + r")", re.IGNORECASE)
_HTML_SIGNATURE = re.compile(
    r"<[^<>]*?(?:" + "|".join(_HTML_SIGNATURE_MARKERS) + r")", re.IGNORECASE
)


def _html_before_quote(html: str) -> str:
    match = _HTML_QUOTE.search(html)
    html = html[: match.start()] if match else html
    signature = _HTML_SIGNATURE.search(html)
    return html[: signature.start()] if signature else html


def html_without_signature(html: str) -> str:
    """The HTML with the sender's signature element left out (quotes below it are kept).

    Outlook marks only where its signature starts (`_MailAutoSig`), so there the signature
    runs on to the next quote container.
    """
    match = _HTML_SIGNATURE.search(html)
    if match is None:
        return html
    tag = re.match(r"<\s*(\w+)", html[match.start() :])
    end = _element_end(html, match.start(), tag.group(1).lower() if tag else "")
    if end is None or "_MailAutoSig" in html[match.start() : match.start() + 300]:
        quote = _HTML_QUOTE.search(html, match.start())
        end = quote.start() if quote else len(html)
    return html[: match.start()] + html[end:]


def _element_end(html: str, start: int, name: str) -> int | None:
    """Where the element opened at `start` closes, counting nested elements of its name."""
    if not name or name in ("a", "br", "img"):
        return None
    depth = 0
    for tag in re.finditer(rf"<(/?)\s*{name}\b[^>]*>", html[start:], re.IGNORECASE):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            return start + tag.end()
    return None


# -- text markers --------------------------------------------------------------------------

_WROTE_VERBS = (
    r"wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|ha scritto|schreef|skrev"
    r"|escreveu|napisał\(a\)|napisał|napisal|napsal\(a\)|kirjoitti|написал(?:\(а\))?"
    r"|написала|написав|пише|писал|yazdı|írta|ha escrit|va escriure|pisze|nadesłał"
    r"|写道|寫道|작성|のメッセージ"
)
# "On Tue, 3 Mar 2026 at 10:00, Ana <ana@x.com> wrote:" in the common languages.
_ON_WROTE = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:On|Am|Le|El|Il|Op|Den|Em|W dniu|Dne|På|Dnia)\b.{0,300}?\b"
    rf"(?:{_WROTE_VERBS})\b.{{0,120}}?:?\s*(?:-{{2,}})?\s*$",
    re.IGNORECASE,
)
# "Ana <ana@x.com> wrote:" and "At 6/16/2016 08:32 PM, you wrote:".
_SOMEONE_WROTE = re.compile(
    rf"^\s*\S.{{0,200}}\b(?:{_WROTE_VERBS})(?:\s+(?:am|le|on|el|il|op|den)\b.{{0,80}})?\s*[:：]\s*$",
    re.IGNORECASE,
)
_ENDS_WITH_VERB = re.compile(rf"\b(?:{_WROTE_VERBS})\s*$", re.IGNORECASE)
# Gmail in some locales: "2016-03-03 17:21 GMT+01:00 Ana <ana@x.com>:" or "2013/7/20 Ana <a@x>".
_DATED_SENDER = re.compile(
    r"^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,40}(?:GMT[+-]\d{1,2}:?\d{2}\b.*|.*<[^>\s]+@[^>\s]+>:?)$"
)
# Yandex, Mail.ru and others: "26.06.2014, 14:41, "Ana" <ana@x.com>:" (a date, an address).
_DATED_ADDRESS_COLON = re.compile(
    r"^(?=.{0,300}$)(?=.*\d{1,2}[:.]\d{2}).*<[^<>\s]+@[^<>\s]+>\s*[:：]\s*$"
)
_SEPARATOR_TITLES = (
    r"original message|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht"
    r"|message d'origine|message transféré|mensaje original|mensaje reenviado"
    r"|messaggio originale|messaggio inoltrato|oorspronkelijk bericht|doorgestuurd bericht"
    r"|oprindelig meddelelse|videresendt meddelelse|ursprungligt meddelande|mensagem original"
    r"|mensagem encaminhada|wiadomość oryginalna|исходное сообщение|пересылаемое сообщение"
    r"|перенаправленное сообщение|oprindelig besked|videresendt besked|opprinnelig melding"
    r"|alkuperäinen viesti|missatge original|původní zpráva|original"
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
# "-------- Oprindelig besked --------" in a language we have no title for, above a header block.
_TITLED_RULE = re.compile(r"^\s*[-_=*]{3,}\s*\w[\w' ]{2,40}\s*[-_=*]{3,}\s*$")
# Help desks and forums put this line above the history of the mail they send.
_REPLY_ABOVE = re.compile(
    r"(?:reply|write|type|respond|answer)\b.{0,40}\babove this line|oberhalb dieser zeile"
    r"|au-dessus de cette ligne|encima de esta l[ií]nea|boven deze (?:regel|lijn)"
    r"|sopra questa riga",
    re.IGNORECASE,
)
_HEADER_FROM = (
    r"from|von|de|da|van|fra|från|od|от кого|от|差出人|发件人|寄件者|보낸 사람|reply-to|antwort an"
)
_HEADER_OTHER = (
    r"sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|envoye|à|a|objet|enviado|fecha"
    r"|para|asunto|inviato|data|oggetto|risposta|verzonden|aan|onderwerp|sendt|til|emne|dato"
    r"|message du|copie à|copie|sujet|kopie|cco|ccn"
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
    r"|envoyé à partir de|obtenir outlook pour|holen sie sich outlook für|descargar outlook para"
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


_TRAILING_LINK = re.compile(r"\s*<(?:https?://|mailto:)[^<>\s]*>\s*$", re.IGNORECASE)


def is_sent_from(line: str) -> bool:
    """ "Sent from my iPhone", "Envoyé à partir de Outlook pour iOS<https://aka.ms/...>"."""
    _, sent_from = _library_patterns()
    return bool(sent_from.match(_TRAILING_LINK.sub("", line)))


# -- public --------------------------------------------------------------------------------


# The pipeline and the flow it chooses each ask for the same message's new text (up to three
# times for a request); the last few answers are kept.
@lru_cache(maxsize=4)
def new_text(text: str, *, html: str = "") -> str:
    """The text the sender wrote in this message, without quoted history or signature.

    The plain part is read first: clients write it with the same marks and it keeps the
    sender's own formatting. The HTML is read when there is no plain part of its own (the
    text is only the HTML's rendering) or the plain part leaves nothing; there the quote
    containers are cut away before the HTML is turned into text.
    """
    has_html = bool(html.strip())
    if has_html and (not text.strip() or text.strip() == html_to_text(html)):
        # Exchange can wrap the whole reply in a reply-section marker: when cutting at the
        # HTML's marks leaves nothing, the text read by its own marks is the better guess.
        return _new_text_of_html(html) or _trim(text or html_to_text(html))
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
        if attribution and _answered_inline(lines[after:]) and _interleaved(lines[after:]):
            lines = lines[after:]  # inline answers: the quote above the first one is context
        elif attribution:
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
    index = _quote_end(lines, index)
    rest = lines[index:]
    if not any(line.strip() for line in rest):
        return False
    opening = rest[_first_content(rest)]
    return not (
        _SIGNATURE_DELIMITER.match(opening)
        or is_sent_from(opening)
        or _DELIMITER_LINE.match(opening)
        or _mark_end(rest, _first_content(rest)) is not None
    )


def _interleaved(lines: list[str]) -> bool:
    """Two or more quoted passages each followed by the sender's words (not bottom-posting)."""
    answered = 0
    index = _first_content(lines)
    while index < len(lines):
        if not _is_quoted(lines[index]):
            return answered >= 2
        index = _quote_end(lines, index)
        own = index
        while own < len(lines) and not _is_quoted(lines[own]):
            own += 1
        if any(line.strip() for line in lines[index:own]):
            answered += 1
        index = own
    return answered >= 2


def _quote_end(lines: list[str], index: int) -> int:
    """The index after the quote starting at `index` (blank lines and wrapped pieces included)."""
    while index < len(lines) and (
        not lines[index].strip() or _is_quoted(lines[index]) or _continues_quote(lines, index)
    ):
        index += 1
    return index


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


_WRAP_WIDTH = 60


def _continues_quote(lines: list[str], index: int) -> bool:
    """A quoted line the client re-wrapped without its `>`: "> ... Nullam pharetra d" then
    "ignissim odio?". People start what they write with a capital; the broken tail of a
    long quoted line starts in the middle of a sentence."""
    if index == 0 or not _is_quoted(lines[index - 1]):
        return False
    above, line = lines[index - 1].strip(), lines[index].strip()
    return len(above) >= _WRAP_WIDTH and bool(line) and (line[0].islower() or line[0] in "\"')")


def _without_leading_quote(lines: list[str]) -> list[str]:
    index = _quote_end(lines, 0)
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
    if _ORIGINAL_SEPARATOR.match(line) or _FORWARD_INTRO.match(line) or _REPLY_ABOVE.search(line):
        return index + 1
    if _TITLED_RULE.match(line) and _header_block_end(lines, index + 1) is not None:
        return _header_block_end(lines, index + 1)
    if _UNDERSCORE_RULE.match(line):
        return index + 1
    header_end = _header_block_end(lines, index)
    if header_end is not None:
        return header_end
    for span in range(1, 5):
        window = lines[index : index + span]
        if len(window) < span or (span > 1 and not window[-1].strip()):
            break
        if _is_attribution(window) and (
            _names_when_or_whom(window) or _quote_follows(lines, index + span)
        ):
            return index + span
    return None


_ADDRESS_OR_TIME = re.compile(r"@|\d{1,2}[:.]\d{2}|\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2}")


def _names_when_or_whom(window: list[str]) -> bool:
    """Real attributions carry a date, a time or an address; "Something wrote:" alone, with
    no quote below it, is a sentence of the reply."""
    joined = " ".join(window)
    return bool(_ADDRESS_OR_TIME.search(joined)) or bool(_ON_WROTE.match(joined))


def _quote_follows(lines: list[str], index: int) -> bool:
    following = _first_content(lines[index:])
    return index + following < len(lines) and _is_quoted(lines[index + following])


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
        # Some clients leave out the colon: "On Wed, 14 Nov 2018 08:14 Ana <a@x.com> wrote".
        return bool(_ON_WROTE.match(joined)) and bool(_ENDS_WITH_VERB.search(joined)) and (
            "@" in joined or bool(re.search(r"\d{1,2}[:.]\d{2}", joined)))
    if _ON_WROTE.match(joined):
        return True
    # A line that merely ends in "wrote:" counts alone, or wrapped around an address.
    if _SOMEONE_WROTE.match(joined):
        # Only an attribution that names an address is wrapped ("Ana <ana@x.com> schrieb am
        # Fr., 28.\nApr. 2017:"); otherwise a sentence above would be swallowed with it.
        return len(window) == 1 or (
            len(window) == 2
            and (
                bool(re.search(r"[<@\"]", window[0]))
                or (bool(re.search(r"<[^<>\s]+@", window[1]))
                    and not window[0].rstrip().endswith((".", "!", "?")))
            )
        )
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
    while end and (
        not lines[end - 1].strip()
        or _is_quoted(lines[end - 1])
        or _continues_quote(lines, end - 1)
    ):
        end -= 1
    if end:
        return lines[:end]
    # Nothing but a quote: keep it, unless it is only quoted history with attributions.
    unquoted = [line.lstrip("> ") for line in lines]
    return [] if _history_start(unquoted) is not None else lines


def _without_signature(lines: list[str]) -> list[str]:
    first = _first_content(lines)
    for index in range(first + 1, len(lines)):
        line = lines[index]
        if _SIGNATURE_DELIMITER.match(line) or is_sent_from(line):
            return _drop_trailing_delimiters(lines[:index])
    trimmed = _drop_trailing_delimiters(lines)
    if len(trimmed) > 1 and _DASH_NAME.match(trimmed[-1].strip()):
        return _drop_trailing_delimiters(trimmed[:-1])
    return _without_closing(_without_contact_block(trimmed))


# Closings people end a mail with, in the languages of our users. The closing and the short
# lines below it (name, title, company, phone) are the signature, not part of the answer.
CLOSINGS = (
    r"thanks|thank you|thanks again|many thanks|thanks a lot|thx|ty|cheers|best|all the best"
    r"|best regards|kind regards|warm regards|warmest regards|regards|best wishes|sincerely"
    r"|yours sincerely|yours truly|yours|respectfully|warmly|take care|talk soon|speak soon"
    r"|have a (?:nice|good|great) (?:day|weekend|one)|br|kr|rgds"
    r"|viele grüße|viele grüsse|beste grüße|beste grüsse|liebe grüße|liebe grüsse|lg|vg|mfg"
    r"|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|freundliche grüsse"
    r"|herzliche grüße|herzliche grüsse|schöne grüße|gruß|gruss|grüße|grüsse|danke|vielen dank"
    r"|danke schön|besten dank|schönen tag noch"
    r"|cordialement|bien cordialement|bien à vous|salutations|meilleures salutations"
    r"|sincères salutations|bonne journée|bonne soirée|merci|merci beaucoup|amicalement|bises"
    r"|à bientôt|belle journée"
    r"|saludos|saludos cordiales|un saludo|un cordial saludo|atentamente|cordialmente|gracias"
    r"|muchas gracias|abrazos|un abrazo|hasta pronto"
    r"|groeten|met vriendelijke groet|met vriendelijke groeten|vriendelijke groet|hartelijke groet"
    r"|hartelijke groeten|groetjes|mvg|bedankt|dank je|dank u|alvast bedankt|fijne dag"
    r"|cordiali saluti|distinti saluti|saluti|grazie|grazie mille|un saluto|buona giornata"
    r"|med venlig hilsen|venlig hilsen|mvh|hilsen|kh|kærlig hilsen|vänliga hälsningar"
    r"|med vänliga hälsningar|hälsningar|mvh|med vennlig hilsen|vennlig hilsen"
    r"|pozdrawiam|z poważaniem|s pozdravem|atenciosamente|obrigado|obrigada|abraços"
    r"|с уважением|спасибо|ystävällisin terveisin|terveisin"
)
_CLOSING = re.compile(rf"^\s*(?:{CLOSINGS})\b[\s,.!:;-]*$", re.IGNORECASE)
_SIGNATURE_LINES = 6
_SIGNATURE_LINE_LENGTH = 60


def _without_closing(lines: list[str]) -> list[str]:
    """Drop a closing ("Best regards,") and the short signature lines below it."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return lines
    for position, index in enumerate(content[1:], start=1):
        tail = content[position + 1 :]
        # "Thanks,\nAna" stays: a sign-off is part of what the person wrote. A closing above a
        # name and a title, company or phone is a signature.
        if len(tail) > _SIGNATURE_LINES or len(tail) < 2:
            continue
        if _CLOSING.match(lines[index]) and all(
            len(lines[i].strip()) <= _SIGNATURE_LINE_LENGTH for i in tail
        ):
            return _drop_trailing_delimiters(lines[:index])
    return lines


_CONTACT_DETAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+|(?:https?://|www\.)\S+|\+?\(?\d[\d ().-]{6,}\d"
    r"|^\s*(?:t|tel|phone|mobile|cell|m|f|fax|skype|e|email)\s*[.:]",
    re.IGNORECASE,
)
_FIELD_LINE = re.compile(r"^\s*[\w][\w /-]{1,30}:\s*\S")
_MAX_BLOCK_LINES = 12


def _without_contact_block(lines: list[str]) -> list[str]:
    """Drop a closing block of short lines that is mostly name, phone, address and links."""
    first = _first_content(lines)
    # Only the last _MAX_BLOCK_LINES written lines can be the block: begin where they do, so
    # a long message is not re-read from each of its blank lines.
    written = [i for i, line in enumerate(lines) if line.strip()]
    earliest = written[-_MAX_BLOCK_LINES - 1] + 1 if len(written) > _MAX_BLOCK_LINES else 0
    for start in range(max(first + 1, earliest), len(lines)):
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


# -- questionnaire replies -------------------------------------------------------------------


def questionnaire_answers(msg: InboundMessage) -> QuestionnaireReply:
    """The answers in a reply to the questionnaire, read from the part that keeps the most.

    Answers may be typed inside the quote, so the whole body is read, not only the new text.
    The HTML's signature container is left out first. When the text is only our rendering of
    the HTML (HTML-only mail), the HTML itself is read: it knows where each typed line ends.
    """
    html = html_without_signature(msg.html) if msg.html.strip() else ""
    text = "" if html and msg.text_from_html else msg.text
    return parse_answers(text, html=html, signer=msg.from_name)


def request_bodies(msg: InboundMessage) -> tuple[str, str]:
    """The text and HTML a request is read from: HTML-only mail is read from its HTML, which
    knows where each typed line ends (a rendering for display puts blank lines between)."""
    return ("" if msg.text_from_html and msg.html.strip() else msg.text), msg.html
