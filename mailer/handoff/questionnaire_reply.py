"""Reading a questionnaire reply back: which text was written under which section.

People answer in every way a mail client allows: above the quote, inline in the quoted
questionnaire, in HTML only, over several replies. Ordinary reply strippers throw away text that
sits inside the quote; here the text typed under one of our headings is exactly what we want, so
this module does its own line-by-line reading instead of relying on a generic stripper.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mailer.handoff.html_lines import html_to_text
from mailer.handoff.questionnaire import (
    ANSWER_PLACEHOLDER,
    END_MARKER,
    INSTRUCTIONS,
    REQUIRED_MARK,
    SECTIONS,
)
from mailer.handoff.signatures import (
    DELIMITER,
    is_sent_from,
    signature_start,
    without_link_renderings,
    without_signature,
)


@dataclass(frozen=True)
class QuestionnaireReply:
    sections: dict[int, str]  # section number -> answer as written, trimmed
    unplaced_text: str  # new text that sits under no heading


@dataclass(frozen=True)
class _Line:
    depth: int  # how many quote markers (">") the line carries
    text: str  # the line without its quote markers


@dataclass(frozen=True)
class _Heading:
    number: int
    rest: str  # answer text written on the heading line itself, e.g. "4. Red flags: none"
    ambiguous: bool = False  # "2. text" may be list item 2; "Risk: low" may be plain content
    titled: bool = False  # named by its title alone ("Red flags:"), without a number


def _normalise(text: str) -> str:
    """Lower-cased text without markdown decoration, bullets or trailing punctuation."""
    text = text.replace("\\", "").replace("`", "")
    text = re.sub(r"[*_]{1,3}", "", text)
    text = re.sub(r"^\s*(?:[-*+•·o▪◦]|\d{1,2}[.)])\s+", "", text)
    text = re.sub(r"\s+", " ", text).strip().lower()
    return text.rstrip(" .:;!")


def _template_lines() -> frozenset[str]:
    texts: list[str] = [ANSWER_PLACEHOLDER, "Your answer", "Answer:", REQUIRED_MARK, END_MARKER]
    texts += [line for line in INSTRUCTIONS]
    for section in SECTIONS:
        texts += [section.prompt, f"Example: {section.example}", *section.questions]
    return frozenset(t for t in (_normalise(text) for text in texts) if t)


_TEMPLATE = _template_lines()
_PLACEHOLDER_PREFIX = re.compile(r"^\s*[*_]*(?:your\s+answer|answer)\s*:[*_]*\s*", re.I)
_TITLE_LINE_RE = re.compile(r"^#*\s*handoff questionnaire for\b", re.I)
_END_RE = re.compile(r"end of the questionnaire", re.I)


# --- quote headers --------------------------------------------------------------------------

_ATTRIBUTION_VERB = re.compile(
    r"\b(?:wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|schreef|ha scritto|"
    r"escreveu|skrev|kirjoitti|napisał|napisal|yazdı|написал|написала|написав|"
    r"пользователь|пишет)\b",
    re.I,
)
_ATTRIBUTION_START = re.compile(
    r"^(?:on|am|le|el|op|il|em|den|dne|w dniu|\d{1,4}[./-]\d{1,2}[./-]\d{1,4})\b", re.I
)
_EMAIL_LIKE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+\.[\w.-]+")  # from a word's start
_SEPARATOR = re.compile(
    r"^[\s*_]*(?:-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|forwarded message|"
    r"weitergeleitete nachricht)\s*-{2,}|_{10,}|begin forwarded message:|"
    r"-{2,}\s*on .* wrote\s*-{2,})[\s*_]*$",
    re.I,
)
_HEADER_FIELD_FROM = re.compile(r"^\s*[*_]*(?:from|von|de|van|da|från|od|fra)\s*:[*_]*\s", re.I)
_HEADER_FIELD_OTHER = re.compile(
    r"^\s*[*_]*(?:sent|sent on|date|to|subject|cc|bcc|reply-to|gesendet|gesendet am|datum|an"
    r"|betreff|envoyé|envoyé le|envoye|à|a|objet|copie à|sujet|enviado|enviado el|fecha|para"
    r"|asunto|verzonden|verzonden op|aan|onderwerp|inviato|inviato il|oggetto|skickat|ämne"
    r"|till|sendt|til|emne|dato|wysłano|do|temat)\s*:[*_]*",
    re.I,
)


def _header_length(lines: list[_Line], index: int) -> int:
    """How many lines starting at `index` form a quote header (0 when it is not one)."""
    text = lines[index].text.strip()
    if _SEPARATOR.match(text):
        return 1
    if text and (_ATTRIBUTION_START.match(text) or _EMAIL_LIKE.search(text)):
        # "On ... wrote:" is often wrapped over two to four lines by the client.
        joined = text
        for extra in range(0, 4):
            if extra:
                if index + extra >= len(lines) or lines[index + extra].depth != lines[index].depth:
                    break
                if not lines[index + extra].text.strip():
                    break  # a wrapped attribution has no blank line inside it
                if extra == 1 and _ATTRIBUTION_START.match(lines[index + 1].text.strip()):
                    break  # the attribution starts on the next line, not on this one
                joined = f"{joined} {lines[index + extra].text.strip()}".strip()
            if len(joined) > 300:
                break
            if joined.endswith(":") and _ATTRIBUTION_VERB.search(joined):
                return extra + 1
    if re.fullmatch(r"-{10,}|={10,}", text):
        # Outlook puts a rule of dashes above its From:/Sent: block.
        following = next((i for i in range(index + 1, len(lines)) if lines[i].text.strip()), None)
        if following is not None and following - index <= 3:
            block = _header_length(lines, following)
            if block and _HEADER_FIELD_FROM.match(lines[following].text):
                return following - index + block
    if _HEADER_FIELD_FROM.match(text):
        count = 1
        while index + count < len(lines) and _HEADER_FIELD_OTHER.match(lines[index + count].text):
            count += 1
        if count >= 2:
            return count
    if text.endswith(":") and ("@" in text or re.search(r"\d", text)) and len(text) < 200:
        # An attribution we do not know the wording of, directly above quoted lines.
        following = next((line for line in lines[index + 1 :] if line.text.strip()), None)
        if following is not None and following.depth > lines[index].depth:
            return 1
    return 0


# --- signatures and sign-offs ---------------------------------------------------------------


def _strip_signature(lines: list[str], signer: str = "") -> list[str]:
    return without_signature(lines, signer=signer)


# --- headings -------------------------------------------------------------------------------

# Words people add to a heading to say what kind of answer follows; they are not the answer.
_QUALIFIER = re.compile(
    r"^[\s(\[]*[-–—:]?\s*(?:correction|corrected|update|updated|continued|cont'?d|addition"
    r"|added|revised|new|korrektur|berichtigung|aktualisiert|aktualisierung|nachtrag|ergänzung"
    r"|correctif|rectificatif|rectification|mise à jour|complément|suite|corrección|corregido"
    r"|actualización|actualizado|añadido|correctie|aanvulling|bijgewerkt|aggiornamento"
    r"|correzione)[\s)\].:!]*$",
    re.IGNORECASE,
)
# Section titles as people write them in the other languages of our users.
TRANSLATED_TITLES: dict[int, tuple[str, ...]] = {
    1: ("kontakte", "ansprechpartner", "contactos", "contactpersonen", "contacten",
        "contatti"),
    2: ("stimmung", "kundenstimmung", "ressenti", "sentiment client", "percepción",
        "sentimiento", "stemming", "sentimento"),
    3: ("kundenpassung", "passung", "adéquation client", "adéquation", "encaje del cliente",
        "encaje", "klantfit", "fit met de klant"),
    4: ("warnsignale und probleme", "warnsignale", "probleme", "signaux d'alerte et problèmes",
        "signaux d'alerte", "problèmes", "señales de alerta y problemas", "señales de alerta",
        "problemas", "rode vlaggen en problemen", "rode vlaggen", "problemen",
        "segnali di allarme"),
    5: ("erfolge", "réussites", "succès", "éxitos", "successen", "successi"),
    6: ("ziele", "objectifs", "objetivos", "doelen", "doelstellingen", "obiettivi"),
    7: ("laufende projekte", "projekte", "projets en cours", "projets", "proyectos actuales",
        "proyectos", "lopende projecten", "projecten", "progetti in corso"),
    8: ("vertrag", "contrat", "contrato", "contratto"),
    9: ("verlängerungsrisiko", "risque de renouvellement", "riesgo de renovación",
        "verlengingsrisico", "rischio di rinnovo"),
    10: ("kommunikation", "communication client", "comunicación", "communicatie",
         "comunicazione"),
    11: ("wichtige ereignisse", "ereignisse", "événements importants", "événements",
         "eventos importantes", "eventos", "belangrijke gebeurtenissen", "gebeurtenissen",
         "eventi importanti"),
    12: ("dokumente", "unterlagen", "documents", "documentos", "documenten", "documenti"),
}

_NUMBER_HEADING = re.compile(
    r"^(?:(?:section|question|q|part|no\.?)\s*|#\s*)?(\d{1,2})\s*(?:[.):\-–]\s*|\s+|$)(.*)$",
    re.I,
)
_STRONG_NUMBER = re.compile(r"^(?:(?:section|question|q|part)\s*|#)\d", re.I)


def _title_phrases() -> list[tuple[str, int, bool]]:
    """(phrase, section number, strong) longest first; strong phrases may switch sections
    even in the middle of another answer."""
    phrases: list[tuple[str, int, bool]] = []
    for section in SECTIONS:
        phrases.append((section.title.lower(), section.number, True))
        phrases.append((section.key.replace("_", " "), section.number, True))
        phrases += [(alias, section.number, False) for alias in section.aliases]
        phrases += [(title, section.number, True) for title in TRANSLATED_TITLES[section.number]]
    return sorted(set(phrases), key=lambda item: -len(item[0]))


_PHRASES = _title_phrases()


def _clean_heading_text(text: str) -> str:
    text = text.strip().replace("\\", "")
    text = re.sub(r"^#{1,6}\s+", "", text)
    text = re.sub(r"^[*_]{1,3}|[*_]{1,3}$", "", text).strip()
    return text.replace("**", "").replace("__", "").strip()


# One pattern for every phrase, longest first, so a line is matched once, not per phrase.
_PHRASE_START = re.compile(
    "|".join(f"(?P<p{index}>{re.escape(phrase)})" for index, (phrase, _, _) in
             enumerate(_PHRASES)),
    re.IGNORECASE,
)


def _match_title(text: str) -> tuple[int, str, bool] | None:
    """A section named at the start of `text`: (number, rest of the line, strong)."""
    lowered = text.lower()
    for phrase, number, strong in _phrases_at_start(lowered):
        rest = text[len(phrase) :]
        if rest[:1].isalnum():
            continue  # "Contracts" is not "Contract"
        if not rest.strip() or _QUALIFIER.match(rest):
            return number, "", strong
        separator = re.match(r"^\s*(?::|-|–|—)\s*", rest)
        if separator:
            return number, rest[separator.end() :].strip(), strong
    return None


def _phrases_by_start() -> dict[str, tuple[tuple[str, int, bool], ...]]:
    """The phrases by their first two characters, each group in `_PHRASES`' order: a line
    starts with a phrase only if it starts with the phrase's first two characters."""
    groups: dict[str, list[tuple[str, int, bool]]] = {}
    for item in _PHRASES:
        if len(item[0]) < 2:
            raise ValueError(f"a section title phrase of one letter: {item[0]!r}")
        groups.setdefault(item[0][:2], []).append(item)
    return {start: tuple(items) for start, items in groups.items()}


_PHRASES_BY_START = _phrases_by_start()


def _phrases_at_start(lowered: str) -> list[tuple[str, int, bool]]:
    """The phrases `lowered` starts with, longest first ("red flags and issues", "red flags")."""
    if not _PHRASE_START.match(lowered):
        return []
    return [item for item in _PHRASES_BY_START.get(lowered[:2], ())
            if lowered.startswith(item[0])]


def _parse_heading(raw: str) -> _Heading | None:
    text = _clean_heading_text(raw)
    if not text or len(text) > 400:
        return None
    number_match = _NUMBER_HEADING.match(text)
    if number_match and 1 <= int(number_match.group(1)) <= len(SECTIONS):
        number = int(number_match.group(1))
        rest = number_match.group(2).strip().strip("*_").lstrip(".:)-–— ").strip()
        titled = _match_title(rest)
        if titled is not None:
            return _Heading(titled[0], titled[1])
        if not rest:
            return _Heading(number, "")
        if _STRONG_NUMBER.match(text):
            return _Heading(number, rest)
        if re.match(r"^\d{1,2}\s*[.)]\s", text):
            return _Heading(number, rest, ambiguous=True)
        return None
    if len(text) > 120:
        return None
    titled = _match_title(text)
    if titled is None:
        return None
    number, rest, strong = titled
    return _Heading(number, rest, ambiguous=bool(rest) and not strong, titled=True)


# --- the reader -----------------------------------------------------------------------------


_RULE = re.compile(r"^\s*(?:(?:\*\s*){3,}|-{3,}|_{3,}|={3,})\s*$")


def _split_quote(line: str) -> _Line:
    match = re.match(r"^((?:\s{0,3}>)+)\s?", line)
    depth, text = (match.group(1).count(">"), line[match.end() :]) if match else (0, line)
    # A horizontal rule (html2text's "* * *" for <hr>) is decoration, never an answer.
    return _Line(depth, "" if _RULE.match(text) and not _SEPARATOR.match(text) else text)


def _is_template(text: str) -> bool:
    normalised = _normalise(text)
    return (
        normalised in _TEMPLATE
        or bool(_TITLE_LINE_RE.match(text.strip().lstrip("*_ ")))
        or bool(_END_RE.search(text))
    )


def _without_template(lines: list[str]) -> list[str]:
    """Remove copied questions, examples and placeholders, keeping what was typed after them."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        consumed = _template_run(lines, index)
        if consumed:
            index += consumed
            continue
        kept.append(_strip_question_prefix(lines[index]))
        index += 1
    return kept


def _template_run(lines: list[str], index: int) -> int:
    """How many lines from `index` make up one template line (mail clients wrap long lines)."""
    if not lines[index].strip():
        return 0
    for size in (1, 2, 3):
        chunk = lines[index : index + size]
        if len(chunk) < size or any(not line.strip() for line in chunk):
            return 0
        if _is_template(" ".join(line.strip() for line in chunk)):
            return size
    return 0


@dataclass(frozen=True)
class _QuestionPrefix:
    first_word: str  # lower case
    only_word: bool  # a one-word question also matches the start of a longer word
    pattern: re.Pattern[str]


def _question_prefix(question: str) -> _QuestionPrefix:
    words = re.findall(r"\w+", question)
    pattern = re.compile(r"^\W*" + r"\W+".join(map(re.escape, words)) + r"[\s?.:!*_\-–]*",
                         re.I)
    return _QuestionPrefix(words[0].lower(), len(words) == 1, pattern)


_QUESTION_PREFIXES = tuple(_question_prefix(q) for s in SECTIONS for q in s.questions)
_FIRST_WORD = re.compile(r"^\W*(\w+)")


@functools.lru_cache(maxsize=2048)
def _prefixes_for(word: str) -> tuple[re.Pattern[str], ...]:
    """The question patterns that can match a line whose first word is `word`, in order.
    A pattern starts with its question's first word followed by a non-word character, so
    only questions starting with that very word qualify (ASCII words: a letter outside
    ASCII may equal an ASCII one when case is ignored, so those lines try every pattern)."""
    if not word.isascii():
        return tuple(prefix.pattern for prefix in _QUESTION_PREFIXES)
    lowered = word.lower()
    return tuple(prefix.pattern for prefix in _QUESTION_PREFIXES
                 if prefix.first_word == lowered
                 or (prefix.only_word and lowered.startswith(prefix.first_word)))


def _strip_question_prefix(line: str) -> str:
    """ "- Who would act as a reference for us? Pat would" keeps only "Pat would"."""
    placeholder = _PLACEHOLDER_PREFIX.match(line)
    if placeholder:
        return line[placeholder.end() :]
    first = _FIRST_WORD.match(line)
    if first is None:
        return line  # every question has a word
    for pattern in _prefixes_for(first.group(1)):
        match = pattern.match(line)
        if match and line[match.end() :].strip():
            return line[match.end() :]
    return line


def _tidy(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n").strip()


class _Collector:
    """Collects answer lines per section while the reader walks through the reply."""

    def __init__(self, signer: str = "") -> None:
        self.signer = signer
        self.answers: dict[int, list[str]] = {}
        self.written: set[int] = set()  # sections whose heading was written or quoted
        self.unplaced: list[str] = []

    def add(self, section: int | None, line: str) -> None:
        if section is None:
            self.unplaced.append(line)
        else:
            self.answers.setdefault(section, []).append(line)

    def result(self) -> QuestionnaireReply:
        sections: dict[int, str] = {}
        for number, lines in self.answers.items():
            kept = without_signature(_collapse_blank_runs(_without_template(lines)),
                                     signer=self.signer)
            text = _tidy(_strip_signed_name(kept, self.signer))
            if text:
                sections[number] = text
        unplaced = _tidy(without_signature(_collapse_blank_runs(_without_template(self.unplaced)),
                                           signer=self.signer))
        return QuestionnaireReply(dict(sorted(sections.items())), unplaced)


def _strip_signed_name(lines: list[str], signer: str) -> list[str]:
    """Drop a last line that is only the sender's name (or first name), set apart by a blank."""
    names = {signer.strip().lower(), signer.strip().split(" ")[0].lower()} - {""}
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2 or not names:
        return lines
    last = content[-1]
    bare = lines[last].strip().lstrip("-–— ").rstrip(".,! ").lower()
    if bare in names and not lines[last - 1].strip():
        return lines[:last]
    return lines


def _collapse_blank_runs(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return out


_ANSWERS_LEAD_IN = re.compile(r"\b(?:answers?|questions?|sections?|questionnaire|below|here)\b",
                              re.I)


def _introduces_list(text: str) -> bool:
    """ "It fixes two things:" introduces a list; "Here are my answers:" introduces answers."""
    return text.endswith(":") and not _ANSWERS_LEAD_IN.search(text)


@dataclass
class _HeadingTracker:
    """Decides whether a line opens a section or belongs to the answer being written.

    "2. text" inside an answer is usually item 2 of a list, and "Issues: SSO bug" inside the
    red-flags answer is content; outside any section both open one.
    """

    section: int | None = None
    last_list_item: int | None = None
    # Outside any section, "It fixes two things:" introduces a list of its own, so the
    # "1. ..." items below it are that list, not answers numbered like our sections.
    in_introduced_list: bool = False
    last_text: str = ""
    # Once the writer has numbered a heading, an unnumbered "Contract: https://..." line is a
    # label inside an answer; so is one that follows another line of the answer.
    numbered_seen: bool = False
    blank_before: bool = True

    def classify(self, text: str) -> _Heading | None:
        heading = _parse_heading(text)
        if heading is not None and self._is_content(heading):
            heading = None
        self.blank_before = not text.strip()
        if heading is None:
            item = re.match(r"^\s*(\d{1,2})[.)]\s", text)
            if item:
                self.last_list_item = int(item.group(1))
                self.in_introduced_list = self.in_introduced_list or (
                    self.section is None and _introduces_list(self.last_text))
            if text.strip():
                self.last_text = text.strip()
            return None
        self.enter(heading.number)
        self.numbered_seen = self.numbered_seen or not heading.titled
        return heading

    def enter(self, number: int) -> None:
        self.section = number
        self.last_list_item = None
        self.in_introduced_list = False
        self.last_text = ""

    def _is_content(self, heading: _Heading) -> bool:
        if self.section is None:
            introduced = self.in_introduced_list or _introduces_list(self.last_text)
            return heading.ambiguous and not heading.titled and introduced
        if heading.titled:
            label_line = bool(heading.rest) and (self.numbered_seen or not self.blank_before)
            return heading.ambiguous or label_line or (
                bool(heading.rest) and heading.number == self.section)
        if heading.ambiguous:
            return heading.number in (1, self.section) or self.last_list_item == heading.number - 1
        return False


def _read_top(lines: list[str], collector: _Collector) -> None:
    """Text above the quote: headings written by the CSM with answers beneath them."""
    tracker = _HeadingTracker()
    for line in _strip_signature(lines, collector.signer):
        heading = tracker.classify(line)
        if heading is not None:
            collector.written.add(heading.number)
            if heading.rest:
                collector.add(heading.number, heading.rest)
            continue
        collector.add(tracker.section, line)


def _read_quoted(lines: list[_Line], collector: _Collector, *, top_answered: bool) -> None:
    """The region from the first quote header on.

    Lines typed without quote markers under a quoted heading are inline answers. When the
    client does not mark the quote at all (Outlook), the region is read for answers only when
    nothing was answered above it, and then only text under our headings counts.
    """
    marked = any(line.depth > 0 for line in lines)
    tracker = _HeadingTracker()
    seen_heading = False
    # Only the questionnaire itself (from its title line to its end line, or its "## 4. ..."
    # headings) has headings to answer under: a quoted receipt or reminder also shows
    # "2. Sentiment", and text written below those is a comment on that mail, not an answer.
    in_questionnaire = False
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _header_length(lines, index)
        if header:
            if line.depth == 0 and not marked and seen_heading:
                break  # an older message quoted below ours
            index += header
            continue
        index += 1
        if _TITLE_LINE_RE.match(line.text.strip().lstrip("*_ ")):
            in_questionnaire = True
            continue
        if _END_RE.search(line.text):
            tracker.section = None
            in_questionnaire = False
            continue
        # Inside a quote only our own numbered headings open a section: a quoted "Links:" or
        # a typed "1. Pat Lee" is content.
        # Outlook does not mark what it quotes: there only the questionnaire itself counts,
        # never an older message below it.
        ours = in_questionnaire or (marked and line.text.lstrip().startswith("## "))
        heading = _parse_heading(line.text) if ours else None
        if heading is not None and not heading.ambiguous and not heading.titled:
            tracker.enter(heading.number)
            seen_heading = True
            if line.depth == 0 and heading.rest:
                collector.add(heading.number, heading.rest)
            continue
        if line.depth > 0:
            continue
        if marked or tracker.section is not None:
            # Unmarked quotes: the original mail's greeting above our first heading is skipped.
            collector.add(tracker.section, line.text)


def _drop_signatures_in_place(lines: list[_Line], signer: str) -> list[_Line]:
    """Remove signature blocks typed between quotes (each runs until the next quoted line)."""
    out: list[_Line] = []
    run: list[_Line] = []
    for line in [*lines, _Line(1, "")]:
        if line.depth == 0:
            run.append(line)
            continue
        texts = [item.text for item in run]
        mark = _first_mark(texts)
        cut = signature_start(texts if mark is None else texts[:mark], signer=signer)
        cut = mark if cut is None else cut
        out += run if cut is None else run[:cut]
        run = []
        out.append(line)
    return out[:-1]


def _first_mark(texts: list[str]) -> int | None:
    """A "-- " or "Sent from my iPhone" line ends what was typed between two quotes."""
    return next((i for i, text in enumerate(texts)
                 if DELIMITER.match(text) or is_sent_from(text)), None)


def _find_quote_start(lines: list[_Line]) -> int:
    for index, line in enumerate(lines):
        if line.depth > 0 or _header_length(lines, index):
            return index
    return len(lines)


def _parse_text(text: str, signer: str = "") -> QuestionnaireReply:
    raw = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    raw = without_link_renderings(raw)
    lines = [_split_quote(line) for line in raw.split("\n")]
    start = _find_quote_start(lines)
    collector = _Collector(signer)
    _read_top([line.text for line in lines[:start]], collector)
    top_answered = bool(collector.result().sections)
    _read_quoted(_drop_signatures_in_place(lines[start:], signer), collector,
                 top_answered=top_answered)
    return collector.result()


def _html_to_text(html: str) -> str:
    """HTML mail as quoted plain text, one typed line a line: blockquotes become "> " lines."""
    return html_to_text(html, headings=True)


def parse_answers(text: str, *, html: str = "", signer: str = "") -> QuestionnaireReply:
    """Answers per section from one reply, however the CSM's mail client laid it out.

    `signer` is the sender's display name: a closing line with just their name ("Sam",
    "- Sam Jones") is a signature, not the end of the last answer.
    """
    from_text = _parse_text(text, signer) if text.strip() else None
    from_html = _parse_text(_html_to_text(html), signer) if html.strip() else None
    if from_text is None:
        return from_html or QuestionnaireReply({}, "")
    if from_html is not None and len(from_html.sections) > len(from_text.sections):
        return from_html
    return from_text
