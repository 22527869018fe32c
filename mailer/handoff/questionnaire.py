"""The data-dump questionnaire the outgoing CSM answers, and reading their replies back.

People answer in every way a mail client allows: above the quote, inline in the quoted
questionnaire, in HTML only, over several replies. Ordinary reply strippers throw away text that
sits inside the quote; here the text typed under one of our headings is exactly what we want, so
this module does its own line-by-line reading instead of relying on a generic stripper.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

import html2text

from mailer.handoff.model import IssueItem, IssueStatus


@dataclass(frozen=True)
class Section:
    number: int
    key: str
    title: str
    prompt: str
    questions: tuple[str, ...]
    example: str
    required: bool
    aliases: tuple[str, ...] = ()  # other names people give the section when they reply


CONTACT_ROLES_HINT = "point of contact, executive sponsor, champion, decision maker, user"

SECTIONS: tuple[Section, ...] = (
    Section(
        1,
        "contacts",
        "Contacts",
        "One person per line: Name, Title, email, role - notes.",
        (
            f"Roles: {CONTACT_ROLES_HINT}.",
            "How do they like to work, and what do they care about?",
            "Who would act as a reference for us?",
            "Any personal details that build rapport?",
            "Has anyone left the company or changed roles?",
        ),
        "Pat Lee, VP Operations, pat@acme.com, champion - loves a short agenda",
        True,
        ("customer contacts", "key contacts", "people", "stakeholders"),
    ),
    Section(
        2,
        "sentiment",
        "Sentiment",
        "How does the customer feel about us right now, and why?",
        (
            "Happy, neutral or unhappy? What makes you say so?",
            "How healthy is the relationship with the main contacts?",
        ),
        "Positive overall; the ops team is happy, finance is still sceptical.",
        True,
        ("customer sentiment", "relationship health", "health"),
    ),
    Section(
        3,
        "fit",
        "Customer fit",
        "How well does this customer fit what our product does?",
        (
            "Which use cases fit us well, and which are a stretch?",
            "Anything they expect that we do not offer?",
        ),
        "Strong fit for reporting; their custom billing flow is a stretch.",
        False,
        ("fit", "product fit"),
    ),
    Section(
        4,
        "red_flags",
        "Red flags and issues",
        "Grievances, roadblocks and escalations, both open and resolved.",
        (
            "Which issues are still open, and who is working on them?",
            "Which were resolved, and how?",
            "Any escalations or product bugs the new CSM should know?",
        ),
        "SSO login failures - open, ticket ENG-512; invoice dispute (resolved)",
        True,
        ("red flags", "issues", "open issues", "risks and issues", "grievances", "escalations"),
    ),
    Section(
        5,
        "successes",
        "Successes",
        "Wins and measurable results from recent quarters.",
        (
            "What results can the new CSM mention on the first call?",
            "Any ROI numbers or outcomes the customer agreed with?",
        ),
        "Cut month-end close from 9 to 4 days (Q3 business review).",
        False,
        ("wins", "successes and wins", "results", "roi"),
    ),
    Section(
        6,
        "goals",
        "Goals",
        "What the customer is trying to achieve, and what they want next.",
        (
            "What are their top goals this year?",
            "What do they hope to do with us next?",
        ),
        "Roll out to the EMEA team by Q2; automate renewals reporting.",
        True,
        ("customer goals", "primary goals", "objectives"),
    ),
    Section(
        7,
        "projects",
        "Current projects",
        "Work in flight and recent product conversations.",
        (
            "What is in progress, who owns it, and by when?",
            "Which features did you discuss lately, and how did it go?",
        ),
        "Salesforce integration, go-live 15 March, owner: Sam (IT).",
        False,
        ("projects", "work in progress", "in-flight work"),
    ),
    Section(
        8,
        "contract",
        "Contract",
        "Renewal date, term and anything unusual in the paperwork.",
        (
            "When does it renew, and for how long is the term?",
            "Any discounts, caps or unusual clauses?",
            "Any open expansion or upsell opportunity?",
        ),
        "Renewal: 2027-03-31, 2-year term, 10% discount capped at 5% uplift.",
        True,
        ("contract details", "commercials", "contract and renewal"),
    ),
    Section(
        9,
        "renewal_risk",
        "Renewal risk",
        "Anything that worries you about the next renewal.",
        (
            "How likely are they to renew, and what could stop them?",
            "Are they talking to a competitor?",
        ),
        "Medium: new CFO is reviewing all tools; they had a demo from a rival.",
        True,
        ("renewal risks", "risk", "churn risk"),
    ),
    Section(
        10,
        "communication",
        "Communication",
        "How and how often they like to hear from us.",
        (
            "Preferred channel: email, phone, Slack, meetings?",
            "Meeting rhythm and their time zone?",
        ),
        "Email first; monthly call, first Tuesday, 9:00 Europe/Berlin.",
        False,
        ("communication preferences", "cadence", "communications"),
    ),
    Section(
        11,
        "events",
        "Significant events",
        "Anything else that changed or is about to change.",
        (
            "Acquisitions, re-orgs, layoffs, people on leave?",
            "New contacts who come from a competitor?",
            "Anything not covered above?",
        ),
        "Acquired by Globex in May; Pat is on leave in August.",
        False,
        ("events", "other events", "anything else", "other"),
    ),
    Section(
        12,
        "documents",
        "Documents",
        "Where the notes, contracts and decks live.",
        (
            "Links to account notes, the contract and recent decks?",
            "Any internal documents or channels the new CSM should join?",
        ),
        "Drive folder: https://drive.example.com/acme ; Slack #acme-account",
        False,
        ("documents and links", "docs", "links", "files"),
    ),
)

SECTION_BY_NUMBER: dict[int, Section] = {s.number: s for s in SECTIONS}
DEFAULT_REQUIRED: tuple[int, ...] = tuple(s.number for s in SECTIONS if s.required)

ANSWER_PLACEHOLDER = "Your answer:"
REQUIRED_MARK = "(required)"
END_MARKER = "End of the questionnaire. Thank you for taking the time!"
_TITLE_LINE = "# Handoff questionnaire for {account}"
_INSTRUCTIONS = (
    "How to answer:",
    "",
    "- Reply above this message, writing each answer under its number, like `4. Red flags`.",
    "- Or type your answers straight under each heading in the quoted text below.",
    '- Several replies are fine. A new answer replaces the old one; start it with "Also:" to add.',
    "- Prefer a spreadsheet? Fill in the attached form and send it back.",
    "- Nothing to say for a section? Write none; sections marked (required) are needed.",
)


def questionnaire_markdown(account: str, *, required: Iterable[int] | None = None) -> str:
    """The questionnaire body, laid out so that a quoted reply keeps every heading intact."""
    needed = set(DEFAULT_REQUIRED if required is None else required)
    lines = [_TITLE_LINE.format(account=account), "", *_INSTRUCTIONS, ""]
    for section in SECTIONS:
        lines += [f"## {section.number}. {section.title}", ""]
        if section.number in needed:
            lines += [f"_{REQUIRED_MARK}_", ""]
        lines += [section.prompt, ""]
        lines += [f"- {question}" for question in section.questions]
        lines += ["", f"Example: {section.example}", "", ANSWER_PLACEHOLDER, "", ""]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading replies
# ---------------------------------------------------------------------------------------------


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
    texts += [line for line in _INSTRUCTIONS]
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
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SEPARATOR = re.compile(
    r"^[\s*_]*(?:-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|forwarded message|"
    r"weitergeleitete nachricht)\s*-{2,}|_{10,}|begin forwarded message:|"
    r"-{2,}\s*on .* wrote\s*-{2,})[\s*_]*$",
    re.I,
)
_HEADER_FIELD_FROM = re.compile(r"^\s*[*_]*(?:from|von|de|van|da|från|od|fra)\s*:[*_]*\s", re.I)
_HEADER_FIELD_OTHER = re.compile(
    r"^\s*[*_]*(?:sent|date|to|subject|cc|reply-to|gesendet|datum|an|betreff|envoyé|envoye|à|objet|"
    r"enviado|para|asunto|verzonden|aan|onderwerp|inviato|oggetto|skickat|ämne|till|sendt|"
    r"til|emne|wysłano|do|temat)\s*:[*_]*",
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

_SIGNATURE = re.compile(
    r"^(?:--|-- |__|sent from my \w+.*|sent from (?:mail|outlook|yahoo|gmail|samsung).*|"
    r"get outlook for \w+.*|-[A-Z][\w.]+(?: [A-Z][\w.]+){0,2}\s*|von meinem \w+ gesendet.*|"
    r"envoyé de mon \w+.*|"
    r"enviado desde mi \w+.*|sent via \w+.*)$",
    re.I,
)
_SIGN_OFF = re.compile(
    r"^(?:thanks|thank you|many thanks|cheers|best|best regards|regards|kind regards|"
    r"warm regards|all the best|thx|br|viele grüße|viele grüsse|beste grüße|"
    r"mit freundlichen grüßen|herzliche grüße|lg|cordialement|bien à vous|merci|saludos|"
    r"saludos cordiales|atentamente|groeten|met vriendelijke groet|med venlig hilsen|mvh|"
    r"hälsningar|vänliga hälsningar|med vennlig hilsen|cordiali saluti|pozdrawiam|"
    r"sincerely|best wishes|warmly|hilsen|с уважением)\b[\s,.!]*$",
    re.I,
)


def _strip_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line.rstrip()) or line.rstrip() == "-- ":
            lines = lines[:index]
            break
    return _strip_sign_off(lines)


def _strip_sign_off(lines: list[str]) -> list[str]:
    """Drop a closing "Thanks,\\nPat" (a sign-off and at most two short lines after it)."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return lines  # "Thank you." on its own is the whole message, not a sign-off
    for position, index in enumerate(content[-3:], start=max(len(content) - 3, 0)):
        tail = content[position + 1 :]
        short_tail = len(tail) <= 2 and all(len(lines[i].strip()) <= 40 for i in tail)
        if index > content[0] and _SIGN_OFF.match(lines[index].strip()) and short_tail:
            return lines[:index]
    return lines


# --- headings -------------------------------------------------------------------------------

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
    return sorted(set(phrases), key=lambda item: -len(item[0]))


_PHRASES = _title_phrases()


def _clean_heading_text(text: str) -> str:
    text = text.strip().replace("\\", "")
    text = re.sub(r"^#{1,6}\s+", "", text)
    text = re.sub(r"^[*_]{1,3}|[*_]{1,3}$", "", text).strip()
    return text.replace("**", "").replace("__", "").strip()


def _match_title(text: str) -> tuple[int, str, bool] | None:
    """A section named at the start of `text`: (number, rest of the line, strong)."""
    lowered = text.lower()
    for phrase, number, strong in _PHRASES:
        if not lowered.startswith(phrase):
            continue
        rest = text[len(phrase) :]
        if not rest.strip():
            return number, "", strong
        separator = re.match(r"^\s*(?::|-|–|—)\s*", rest)
        if separator:
            return number, rest[separator.end() :].strip(), strong
    return None


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


def _question_pattern(question: str) -> re.Pattern[str]:
    words = re.findall(r"\w+", question)
    return re.compile(r"^\W*" + r"\W+".join(map(re.escape, words)) + r"[\s?.:!*_\-–]*", re.I)


_QUESTION_PREFIXES = tuple(_question_pattern(q) for s in SECTIONS for q in s.questions)


def _strip_question_prefix(line: str) -> str:
    """ "- Who would act as a reference for us? Pat would" keeps only "Pat would"."""
    placeholder = _PLACEHOLDER_PREFIX.match(line)
    if placeholder:
        return line[placeholder.end() :]
    for pattern in _QUESTION_PREFIXES:
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
            kept = _strip_sign_off(_collapse_blank_runs(_without_template(lines)))
            text = _tidy(_strip_signed_name(kept, self.signer))
            if text:
                sections[number] = text
        unplaced = _tidy(_strip_sign_off(_collapse_blank_runs(_without_template(self.unplaced))))
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

    def classify(self, text: str) -> _Heading | None:
        heading = _parse_heading(text)
        if heading is not None and self._is_content(heading):
            heading = None
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
            return heading.ambiguous or (bool(heading.rest) and heading.number == self.section)
        if heading.ambiguous:
            return heading.number in (1, self.section) or self.last_list_item == heading.number - 1
        return False


def _read_top(lines: list[str], collector: _Collector) -> None:
    """Text above the quote: headings written by the CSM with answers beneath them."""
    tracker = _HeadingTracker()
    for line in _strip_signature(lines):
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
    if not marked and top_answered:
        return
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
        ours = in_questionnaire or line.text.lstrip().startswith("## ")
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


def _drop_signatures_in_place(lines: list[_Line]) -> list[_Line]:
    """Remove unquoted signature blocks (they run until the next quoted line)."""
    out: list[_Line] = []
    skipping = False
    for line in lines:
        if line.depth == 0 and (_SIGNATURE.match(line.text.rstrip()) or line.text == "-- "):
            skipping = True
            continue
        if skipping and line.depth == 0:
            continue
        skipping = False
        out.append(line)
    return out


def _find_quote_start(lines: list[_Line]) -> int:
    for index, line in enumerate(lines):
        if line.depth > 0 or _header_length(lines, index):
            return index
    return len(lines)


def _parse_text(text: str, signer: str = "") -> QuestionnaireReply:
    raw = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [_split_quote(line) for line in raw.split("\n")]
    start = _find_quote_start(lines)
    collector = _Collector(signer)
    _read_top([line.text for line in lines[:start]], collector)
    top_answered = bool(collector.result().sections)
    _read_quoted(_drop_signatures_in_place(lines[start:]), collector, top_answered=top_answered)
    return collector.result()


def _html_to_text(html: str) -> str:
    """HTML mail as quoted plain text: blockquotes become "> " lines, Outlook's
    divRplyFwdMsg header block becomes an ordinary From:/Sent: header."""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = False
    converter.unicode_snob = True
    converter.ul_item_mark = "-"
    text = converter.handle(html)
    # html2text escapes markdown punctuation ("4\\. Red flags"); the reader wants it plain.
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!>|])", r"\1", text)


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


# ---------------------------------------------------------------------------------------------
# Merging replies, what is missing
# ---------------------------------------------------------------------------------------------

_EXTEND_MARKER = re.compile(
    r"^\s*(?:\+|(?:also|addition|additionally|in addition|adding|add|plus|update|ps)\b\s*[:,-]?)",
    re.I,
)


def merge_answers(
    previous: dict[int, str], new: dict[int, str]
) -> tuple[dict[int, str], dict[int, str]]:
    """A later answer replaces the earlier one unless it starts with "Also:" and friends."""
    merged = dict(previous)
    changes: dict[int, str] = {}
    for number, text in new.items():
        earlier = merged.get(number, "").strip()
        if not earlier:
            merged[number] = text
            changes[number] = "new"
        elif marker := _EXTEND_MARKER.match(text):
            # "Also:" says how to file the text; the merged answer reads on without it.
            addition = text[marker.end() :].strip() or text.strip()
            if addition not in earlier:
                merged[number] = f"{earlier}\n\n{addition}"
            changes[number] = "extended"
        else:
            merged[number] = text
            changes[number] = "replaced"
    return dict(sorted(merged.items())), changes


def missing_sections(answered: Iterable[int], required: Iterable[int]) -> list[Section]:
    done = set(answered)
    return [SECTION_BY_NUMBER[n] for n in sorted(set(required)) if n not in done]


# ---------------------------------------------------------------------------------------------
# Issues and renewal date
# ---------------------------------------------------------------------------------------------

_BULLET = re.compile(r"^(\s*)(?:[-*+•·▪◦]|\d{1,2}[.)]|\[[ xX]?\])\s+")
_NOTHING = re.compile(r"^(?:none|n/?a|-+|nothing|no issues?|no red flags|nil|no)[\s.!]*$", re.I)
_RESOLVED_MARK = re.compile(
    r"\s*(?:[(\[]\s*(?:status:\s*)?(?:resolved|fixed|closed|done|solved)\s*[)\]]|"
    r"\bstatus\s*:\s*(?:resolved|fixed|closed|done|solved)\b)\s*",
    re.I,
)
_OPEN_MARK = re.compile(
    r"\s*(?:[(\[]\s*(?:status:\s*)?(?:open|still open|ongoing|unresolved)\s*[)\]]|"
    r"\bstatus\s*:\s*(?:open|ongoing|unresolved)\b)\s*",
    re.I,
)
_RESOLVED_WORD = re.compile(
    r"(?<!not )(?<!not yet )\b(?:resolved|fixed|closed|done|solved)\b", re.I
)
_STATUS_LEAD = re.compile(
    r"^(?:still\s+)?(?:resolved|fixed|closed|done|solved|open|ongoing|unresolved)\b"
    r"(?:[.!]?$|\s*[,;:\-–—]\s*)",
    re.I,
)
_NOTE_SPLIT = re.compile(r"\s+[-–—]\s+|:\s+")


def parse_issues(text: str) -> list[IssueItem]:
    """One issue per bullet or numbered line, otherwise per paragraph or line."""
    if not text.strip() or _NOTHING.match(text.strip()):
        return []
    return [item for item in (_issue_from(chunk) for chunk in _issue_chunks(text)) if item]


def _issue_chunks(text: str) -> list[list[str]]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    if any(_BULLET.match(line) for line in lines):
        return _bullet_chunks(lines)
    paragraphs = [p for p in re.split(r"\n\s*\n", "\n".join(lines)) if p.strip()]
    if len(paragraphs) > 1:
        return [
            [" ".join(line.strip() for line in p.split("\n") if line.strip())] for p in paragraphs
        ]
    return [[line] for line in _unwrap(paragraphs[0].split("\n") if paragraphs else [])]


def _bullet_chunks(lines: list[str]) -> list[list[str]]:
    """Top-level bullets start an issue; deeper bullets and continuation lines are its notes."""
    indents = [len(m.group(1)) for line in lines if (m := _BULLET.match(line))]
    top = min(indents)
    chunks: list[list[str]] = []
    after_blank = False
    for line in lines:
        if not line.strip():
            after_blank = True
            continue
        bullet = _BULLET.match(line)
        # A paragraph set apart by a blank line is an issue of its own, not a bullet's note.
        starts_paragraph = after_blank and not bullet and not line[:1].isspace()
        after_blank = False
        if bullet and len(bullet.group(1)) == top or not chunks or starts_paragraph:
            chunks.append([line[bullet.end() :] if bullet else line.strip()])
        else:
            chunks[-1].append(line[bullet.end() :] if bullet else line.strip())
    return chunks


def _unwrap(lines: list[str]) -> list[str]:
    """Rejoin a sentence that the mail client wrapped over two lines."""
    out: list[str] = []
    for line in (line.strip() for line in lines):
        if not line:
            continue
        if out and not out[-1].endswith((".", "!", "?", ")", "]")) and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _issue_from(chunk: list[str]) -> IssueItem | None:
    head = chunk[0].strip()
    if not head or _NOTHING.match(head):
        return None
    whole = " ".join(chunk)
    resolved = bool(_RESOLVED_MARK.search(whole)) or (
        bool(_RESOLVED_WORD.search(whole)) and not _OPEN_MARK.search(whole)
    )
    head = _OPEN_MARK.sub(" ", _RESOLVED_MARK.sub(" ", head)).strip()
    issue, notes = _split_note(head)
    extra = [line.strip() for line in chunk[1:] if line.strip()]
    notes = "; ".join(part for part in [notes, *extra] if part)
    status = IssueStatus.RESOLVED if resolved else IssueStatus.OPEN
    return IssueItem(text=issue.rstrip(" ,;.") or head, status=status, notes=notes)


def _split_note(line: str) -> tuple[str, str]:
    match = _NOTE_SPLIT.search(line)
    if not match or match.start() == 0 or match.start() > 100:
        return line, ""
    notes = line[match.end() :].strip()
    # The status is its own column: "open, ticket ENG-512" keeps only "ticket ENG-512".
    notes = _STATUS_LEAD.sub("", notes)
    return line[: match.start()].strip(), notes


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "januar", "janvier"),
            ("february", "feb", "februar", "février", "fevrier"),
            ("march", "mar", "märz", "maerz", "mars"),
            ("april", "apr", "avril"),
            ("may", "mai"),
            ("june", "jun", "juni", "juin"),
            ("july", "jul", "juli", "juillet"),
            ("august", "aug", "août", "aout"),
            ("september", "sep", "sept", "septembre"),
            ("october", "oct", "oktober", "okt", "octobre"),
            ("november", "nov", "novembre"),
            ("december", "dec", "dezember", "dez", "décembre"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_WORD = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})\b")
_MONTH_DAY = re.compile(
    rf"\b({_MONTH_WORD})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", re.I
)
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:of\s+)?({_MONTH_WORD})\.?(?:,?\s+(\d{{4}}))?\b", re.I
)
_RENEWAL_WORDS = re.compile(r"renew|expir|end date|term ends|contract ends|ends on|verläng", re.I)


def renewal_date_from(text: str, *, today: date) -> date | None:
    """The renewal date named in the contract answer, or None when none is clear."""
    lines = [line for line in text.splitlines() if line.strip()]
    ranked = [line for line in lines if _RENEWAL_WORDS.search(line)]
    for line in ranked:
        keyword = _RENEWAL_WORDS.search(line)
        if keyword is None:
            continue
        for position, found in _dates_in(line, today=today):
            # A date written before the keyword ("Signed 2025-01-01, renewal TBD") is only the
            # renewal date when it still lies ahead.
            if position >= keyword.start() or found >= today:
                return found
    return None


def _dates_in(line: str, *, today: date) -> Iterator[tuple[int, date]]:
    candidates: list[tuple[int, date | None]] = []
    for m in _ISO.finditer(line):
        candidates.append((m.start(), _safe_date(int(m[1]), int(m[2]), int(m[3]))))
    for m in _NUMERIC.finditer(line):
        first, second, year = int(m[1]), int(m[3]), _full_year(m[4])
        # Dots mean day.month (European); slashes are month/day unless that is impossible.
        day, month = (first, second) if m[2] == "." or first > 12 else (second, first)
        candidates.append((m.start(), _safe_date(year, month, day)))
    for m in _MONTH_DAY.finditer(line):
        candidates.append((m.start(), _dated(int(m[2]), _MONTHS[m[1].lower()], m[3], today)))
    for m in _DAY_MONTH.finditer(line):
        candidates.append((m.start(), _dated(int(m[1]), _MONTHS[m[2].lower()], m[3], today)))
    for position, found in sorted(candidates, key=lambda item: item[0]):
        if found is not None:
            yield position, found


def _full_year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _dated(day: int, month: int, year: str | None, today: date) -> date | None:
    if year:
        return _safe_date(int(year), month, day)
    this_year = _safe_date(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    return _safe_date(today.year + 1, month, day)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
