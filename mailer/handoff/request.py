"""Read a manager's transition request from the body of an email.

Managers write `Field: value` lines however their mail client and habits shape them: bullets,
bold labels, Outlook tables, HTML-only mail, fixes quoted inline in a reply. This module turns
all of that into the raw field values first (`extract_fields`), then validates those values
into a `TransitionRequest` or a complete list of problems (`request_from_fields`). Keeping the
two steps apart lets a manager fix a request by replying with only the corrected lines: the
caller stores the first message's fields and merges the reply's over them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser

from mailer.handoff.dates import parse_date
from mailer.handoff.model import Person, RequestProblem, TransitionRequest, TransitionType

ACCOUNT = "Account"
OUTGOING_CSM = "Outgoing CSM"
INCOMING_CSM = "Incoming CSM"
CUSTOMER_CONTACTS = "Customer contacts"
TYPE = "Type"
EFFECTIVE_DATE = "Effective date"
LAST_DAY = "Last day"
RENEWAL_DATE = "Renewal date"
REASON = "Reason"
SHARE_REASON = "Share reason"
PLAYBOOK = "Playbook"
NOTES = "Notes"

# Every canonical field with the other labels managers use for it (compared case-insensitively).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    ACCOUNT: ("Customer account", "Company", "Account name", "Customer name"),
    OUTGOING_CSM: (
        "Current CSM",
        "From CSM",
        "Transitioning CSM",
        "tCSM",
        "Old CSM",
        "Previous CSM",
        "Outgoing",
    ),
    INCOMING_CSM: ("New CSM", "To CSM", "nCSM", "Receiving CSM", "Incoming"),
    CUSTOMER_CONTACTS: (
        "Customer contact",
        "Contacts",
        "Contact",
        "Customer",
        "Customer contact(s)",
    ),
    TYPE: ("Transition type", "Handoff type", "Hand-off type"),
    EFFECTIVE_DATE: ("Effective", "Handoff date", "Hand-off date", "Transition date", "Start date"),
    LAST_DAY: ("Outgoing last day", "Last working day", "Last day with customer"),
    RENEWAL_DATE: ("Renewal",),
    REASON: ("Why", "Reason for transition", "Reason for change"),
    SHARE_REASON: ("Share reason with customer", "Share the reason", "Share"),
    PLAYBOOK: (),
    NOTES: ("Note", "Comments"),
}

FIELD_NAMES: tuple[str, ...] = tuple(FIELD_ALIASES)

FIELD_TEMPLATE = """\
Account: Acme Corp
Outgoing CSM: Jane Doe <jane.doe@yourcompany.com>
Incoming CSM: Sam Lee <sam.lee@yourcompany.com>
Customer contacts: Pat Kim <pat.kim@customer.com>, Alex Roe <alex.roe@customer.com>
Type: soft
Effective date: 2027-01-15
Last day: 2027-01-29
Renewal date: 2027-06-30
Reason: Jane is moving to our enterprise team
Share reason: yes
Playbook: soft
Notes: Pat prefers a short call on Tuesday mornings
"""

_COMPANY_PLACEHOLDER = "name@yourcompany.com"
_CUSTOMER_PLACEHOLDER = "name@customer.com"
_DATE_PLACEHOLDER = "YYYY-MM-DD"
_STALE_EFFECTIVE_DAYS = 7


def _normalise_label(label: str) -> str:
    without_notes = re.sub(r"\((?!s\))[^)]*\)", " ", label)  # "(comma separated)" is not the name
    return " ".join(re.sub(r"[*_`#]", " ", without_notes).split()).lower().rstrip(" :")


FIELD_SYNONYMS: dict[str, str] = {
    _normalise_label(alias): canonical
    for canonical, aliases in FIELD_ALIASES.items()
    for alias in (canonical, *aliases)
}


def canonical_field(label: str) -> str | None:
    """The canonical field a label names (`"nCSM"` -> `"Incoming CSM"`), or None."""
    return FIELD_SYNONYMS.get(_normalise_label(label))


@dataclass(frozen=True)
class RequestParse:
    """What came of reading a request: the request itself only when nothing is wrong."""

    request: TransitionRequest | None
    fields: dict[str, str] = field(default_factory=dict)
    problems: tuple[RequestProblem, ...] = ()
    unknown_lines: tuple[str, ...] = ()


# --- finding the field lines -------------------------------------------------------------------

_QUOTE_MARKERS = re.compile(r"^\s*((?:>\s?)+)")
_BULLET = re.compile(r"^\s*(?:[-*•◦▪‣·+–]|\d{1,2}[.)])\s+")
_TABLE_RULE = re.compile(r"^[\s|:+-]*-{3,}[\s|:+-]*$")
_SEPARATORS = (":", "\t", "|", " - ", " – ", " — ")
_ORIGINAL_MESSAGE = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"^\s*On\b.{0,200}\bwrote:\s*$", re.IGNORECASE)
_INVISIBLE = str.maketrans({"\u00a0": " ", "\u200b": None, "\ufeff": None, "\u202f": " "})
_CONTINUED_FIELDS = {CUSTOMER_CONTACTS, NOTES, REASON}


@dataclass(frozen=True)
class _Line:
    text: str
    quoted: bool


@dataclass
class _Collected:
    fields: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        previous = self.fields.get(name, "")
        if name == CUSTOMER_CONTACTS and previous and value:
            self.fields[name] = f"{previous}\n{value}"  # "Customer contact:" may repeat
        elif value or not previous:
            self.fields[name] = value


def extract_fields(text: str, html: str = "") -> dict[str, str]:
    """Raw field values by canonical name; the HTML body is read when the text has none."""
    return _extract(text, html)[0]


def _extract(text: str, html: str) -> tuple[dict[str, str], tuple[str, ...]]:
    fields, unknown = _extract_from_text(text)
    if not fields and html.strip():
        from_html, unknown_in_html = _extract_from_text(html_to_text(html))
        if from_html:
            return from_html, unknown_in_html
    return fields, unknown


def _extract_from_text(text: str) -> tuple[dict[str, str], tuple[str, ...]]:
    lines = _body_lines(text)
    fresh = _collect(line.text for line in lines if not line.quoted)
    if fresh.fields:
        # New lines win outright: the quoted part is usually our own answer, whose template
        # and echoed values must not overwrite what the manager is correcting.
        return fresh.fields, tuple(fresh.unknown)
    quoted = _collect(line.text for line in lines if line.quoted)
    return quoted.fields, tuple(fresh.unknown)


def _body_lines(text: str) -> list[_Line]:
    """Lines with quote markers removed, signatures dropped, reply history marked as quoted."""
    raw_lines = text.translate(_INVISIBLE).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines: list[_Line] = []
    in_signature = {False: False, True: False}
    in_history = False
    for index, raw in enumerate(raw_lines):
        marker = _QUOTE_MARKERS.match(raw)
        quoted = bool(marker) or in_history
        content = (raw[marker.end() :] if marker else raw).rstrip()
        if not quoted and _starts_reply_history(raw_lines, index):
            in_history = quoted = True
        if content in ("--", "-- "):
            in_signature[quoted] = True
            continue
        if in_signature[quoted]:
            continue
        lines.append(_Line(content, quoted))
    return lines


def _starts_reply_history(lines: list[str], index: int) -> bool:
    """Outlook does not quote what it replies to; its header block marks where history starts."""
    line = lines[index].strip()
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if not re.match(r"^\*{0,2}From:\*{0,2}\s", line):
        return False
    following = [candidate.strip().lstrip("*") for candidate in lines[index + 1 : index + 5]]
    return any(re.match(r"^(Sent|Date):", candidate) for candidate in following)


def _collect(lines: Iterable[str]) -> _Collected:
    collected = _Collected()
    open_list: str | None = None  # a field written as a heading with its values on lines below
    gathered: list[str] = []
    for line in lines:
        if _ATTRIBUTION.match(line) or _TABLE_RULE.match(line):
            continue
        parsed = _split_field(line)
        if parsed is None and open_list is not None and _continues(open_list, line):
            if line.strip():
                gathered.append(_strip_bullet(line).strip())
                continue
            if not gathered:
                continue  # a blank line between the heading and its list
        if open_list is not None:
            collected.add(open_list, "\n".join(gathered))
            open_list, gathered = None, []
        if parsed is None:
            if line.strip():
                collected.unknown.append(line.strip())
            continue
        name, value = parsed
        if not value and name in _CONTINUED_FIELDS:
            open_list = name
        else:
            collected.add(name, value)
    if open_list is not None:
        collected.add(open_list, "\n".join(gathered))
    return collected


def _continues(open_list: str, line: str) -> bool:
    """Does this line belong under a field heading? Contacts are listed as bullets or
    addresses, so a sign-off straight after the list is not taken for a contact."""
    if open_list != CUSTOMER_CONTACTS or not line.strip():
        return True
    return "@" in line or bool(_BULLET.match(line))


def _strip_bullet(line: str) -> str:
    return _BULLET.sub("", line, count=1)


def _split_field(line: str) -> tuple[str, str] | None:
    """`(canonical name, value)` when the line is a field line, else None."""
    content = _strip_bullet(line).strip()
    if content.startswith("|"):
        content = content.strip("| ")
    for separator in _SEPARATORS:
        label, found, value = content.partition(separator)
        if not found:
            continue
        name = canonical_field(label)
        if name is not None:
            return name, _clean_value(value)
    return None


def _clean_value(value: str) -> str:
    """Drop the markdown and table debris around a value, keep its words as written."""
    cleaned = value.strip().strip("|").strip()
    cleaned = re.sub(r"^[*_]{1,2}\s*", "", cleaned)  # the closing half of "**Account:** Acme"
    return re.sub(r"\s*[*_]{2}$", "", cleaned).strip()


# --- HTML-only mail ------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "dd", "div", "dl", "dt", "footer", "header", "hr", "li"}
    | {"ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "ul"}
    | {f"h{level}" for level in range(1, 7)}
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "title", "xml"})


@dataclass
class _Table:
    """One open `<table>`; a cell is None outside a cell or once the cell held a nested table."""

    row: list[list[str]] | None = None
    cell: list[str] | None = None


class _HtmlLines(HTMLParser):
    """HTML to `Field: value` friendly text: table rows become tab-separated cells, paragraphs
    and breaks become lines, and blockquotes become `> ` quoted lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.hidden_depth = 0
        self.tables: list[_Table] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden_depth += 1
        elif tag == "table":
            self._open_table()
        elif tag == "tr" and self.tables:
            self._break()
            self.tables[-1].row = []
        elif tag in ("td", "th") and self.tables and self.tables[-1].row is not None:
            self.tables[-1].cell = []
        elif tag == "blockquote":
            self._break()
            self.quote_depth += 1
        elif tag == "br":
            self._break(keep_blank=True)
        elif tag == "li":
            self._break()
            self.current.append("- ")  # keeps list items recognisable as a list
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag == "table" and self.tables:
            self._break()
            self.tables.pop()
        elif tag in ("td", "th") and self.tables:
            self._close_cell(self.tables[-1])
        elif tag == "tr" and self.tables:
            self._close_row(self.tables[-1])
        elif tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        text = re.sub(r"[ \t\r\n\f]+", " ", data)  # keeps &nbsp;, which marks a blank paragraph
        table = self.tables[-1] if self.tables else None
        if table is not None and table.cell is not None:
            if not table.cell:
                table.cell.append("")
            table.cell[-1] += text
        else:
            self.current.append(text)

    def _open_table(self) -> None:
        outer = self.tables[-1] if self.tables else None
        if outer is not None and outer.cell is not None:
            # A table inside a cell means the outer table is layout: its text is plain lines.
            self._emit_cells([*(outer.row or []), outer.cell])
            outer.row, outer.cell = None, None
        self._break()
        self.tables.append(_Table())

    def _close_cell(self, table: _Table) -> None:
        if table.cell is not None and table.row is not None:
            table.row.append(table.cell)
        table.cell = None

    def _close_row(self, table: _Table) -> None:
        if table.row is not None:
            self._emit_cells(table.row)
        table.row = None
        self._break()

    def _emit_cells(self, cells: list[list[str]]) -> None:
        texts = [[" ".join(part.split()) for part in cell if part.strip()] for cell in cells]
        texts = [cell for cell in texts if cell]
        if len(texts) == 1:
            self.lines.extend(self._quoted(part) for part in texts[0])
        elif texts:
            self.lines.append(self._quoted("\t".join(_join_cell_parts(cell) for cell in texts)))

    def _break(self, *, keep_blank: bool = False) -> None:
        table = self.tables[-1] if self.tables else None
        if table is not None and table.cell is not None:
            table.cell.append("")  # a paragraph inside a cell starts a new part of that cell
            return
        raw = "".join(self.current)
        line = raw.replace("\u00a0", " ").strip()
        self.current = []
        if line or keep_blank or "\u00a0" in raw:
            self.lines.append(self._quoted(line))

    def _quoted(self, line: str) -> str:
        return "> " * self.quote_depth + line

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


def _join_cell_parts(parts: list[str]) -> str:
    """One line from a cell's paragraphs: sentences run on, bare list items get a `;`."""
    joined = parts[0]
    for part in parts[1:]:
        joined += " " if joined[-1] in ".!?:;," else "; "
        joined += part
    return joined


def html_to_text(html: str) -> str:
    """The lines of an HTML body as a request reader needs them (not for display)."""
    parser = _HtmlLines()
    parser.feed(html)
    parser.close()
    return parser.text()


def merge_fields(original: dict[str, str], fixes: dict[str, str]) -> dict[str, str]:
    """The original request's fields with a reply's corrections laid over them.

    A field the reply leaves empty keeps its original value, so pasting the whole template
    back with a few blanks loses nothing.
    """
    merged = dict(original)
    merged.update({name: value for name, value in fixes.items() if value.strip()})
    return merged


# --- people --------------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLACEHOLDER_EMAILS = frozenset(
    {
        _COMPANY_PLACEHOLDER,
        _CUSTOMER_PLACEHOLDER,
        *(m.lower() for m in _EMAIL.findall(FIELD_TEMPLATE)),
    }
)


def emails_in(text: str) -> list[str]:
    """Distinct addresses in a piece of text, lower-cased, in order of appearance."""
    found: list[str] = []
    for match in _EMAIL.findall(text):
        address = match.lower()
        if address not in found:
            found.append(address)
    return found


def name_beside(text: str) -> str:
    """The name written around an address: `"Lee, Pat" <pat@acme.com>` -> `Lee, Pat`."""
    name = re.sub(r"mailto:", " ", text, flags=re.IGNORECASE)
    name = _EMAIL.sub(" ", name)
    name = re.sub(r"[<>()\[\]\"]", " ", name)
    return " ".join(name.split()).strip(" ,;:|/-–—'")


def parse_person(text: str) -> Person | None:
    """One person from `Name <email>`, `Name (email)`, `email (Name)` or a bare address."""
    addresses = emails_in(text)
    if len(addresses) != 1:
        return None
    return Person(name=name_beside(text), email=addresses[0])


def split_people(value: str) -> list[str]:
    """Entries of a people list split on commas, semicolons and line breaks.

    Separators inside quotes or brackets do not split. A comma-separated piece with no address
    joins the next one, so `Lee, Pat <pat@acme.com>` stays whole; semicolons and line breaks
    always separate, so a name missing its address is never glued to the next person.
    """
    entries: list[str] = []
    for group in _split_outside_quotes(value, ";\n"):
        pieces = [_strip_bullet(piece).strip() for piece in _split_outside_quotes(group, ",")]
        entries.extend(_join_name_pieces([piece for piece in pieces if piece]))
    return entries


def _split_outside_quotes(value: str, separators: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = False
    depth = 0
    for char in value:
        if char == '"':
            in_quotes = not in_quotes
        elif char in "<([" and not in_quotes:
            depth += 1
        elif char in ">)]" and not in_quotes:
            depth = max(0, depth - 1)
        if char in separators and not in_quotes and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _join_name_pieces(pieces: list[str]) -> list[str]:
    entries: list[str] = []
    pending: list[str] = []
    for piece in pieces:
        pending.append(piece)
        if emails_in(piece):
            entries.append(", ".join(pending))
            pending = []
    entries.extend(pending)  # pieces left with no address are reported as such
    return entries


# --- validation ----------------------------------------------------------------------------


@dataclass
class _Checker:
    """Validates raw fields one by one, collecting every problem instead of stopping."""

    fields: dict[str, str]
    today: date
    problems: list[RequestProblem] = field(default_factory=list)

    def raw(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    def problem(self, name: str, message: str, fix_line: str) -> None:
        self.problems.append(RequestProblem(field=name, message=message, fix_line=fix_line))

    def account(self) -> str:
        account = self.raw(ACCOUNT)
        if not account:
            self.problem(
                ACCOUNT,
                "I could not find which customer account is moving.",
                f"{ACCOUNT}: Customer company name",
            )
        return account

    def csm(self, name: str, role_words: str) -> Person | None:
        raw = self.raw(name)
        fix_example = f"{name}: Name <{_COMPANY_PLACEHOLDER}>"
        if not raw:
            self.problem(name, f"I need to know who the {role_words} is.", fix_example)
            return None
        person = parse_person(raw)
        addresses = emails_in(raw)
        if len(addresses) > 1:
            self.problem(
                name,
                f'"{raw}" holds {len(addresses)} addresses; the {role_words} is one person.',
                fix_example,
            )
        elif person is None:
            self.problem(
                name,
                f'"{raw}" has no email address, and I need one to write to the {role_words}.',
                f"{name}: {name_beside(raw) or 'Name'} <{_COMPANY_PLACEHOLDER}>",
            )
        elif person.email in _PLACEHOLDER_EMAILS:
            self.problem(
                name,
                f"{person.email} is the example address from the template, not a real one.",
                fix_example,
            )
            return None
        return person

    def contacts(self) -> tuple[Person, ...]:
        raw = self.raw(CUSTOMER_CONTACTS)
        if not raw:
            self.problem(
                CUSTOMER_CONTACTS,
                "Please name at least one person at the customer, so I know who to introduce "
                "the new CSM to.",
                f"{CUSTOMER_CONTACTS}: Name <{_CUSTOMER_PLACEHOLDER}>",
            )
            return ()
        people: list[Person] = []
        unreadable: list[str] = []
        for entry in split_people(raw):
            person = parse_person(entry)
            if person is None or person.email in _PLACEHOLDER_EMAILS:
                unreadable.append(entry)
            elif person.email not in {known.email for known in people}:
                people.append(person)
        if unreadable:
            self._contacts_problem(people, unreadable)
        return tuple(people)

    def _contacts_problem(self, people: list[Person], unreadable: list[str]) -> None:
        listed = "; ".join(f'"{entry}"' for entry in unreadable)
        if any(set(emails_in(entry)) & _PLACEHOLDER_EMAILS for entry in unreadable):
            listed += " (the example addresses from the template do not count)"
        fixed = [person.formatted() for person in people]
        fixed += [
            f"{name_beside(entry) or 'Name'} <{_CUSTOMER_PLACEHOLDER}>" for entry in unreadable
        ]
        self.problem(
            CUSTOMER_CONTACTS,
            f"I could not find one real email address for {listed}. Each customer contact needs "
            "their own address; please send the whole list again.",
            f"{CUSTOMER_CONTACTS}: {', '.join(fixed)}",
        )

    def transition_type(self) -> TransitionType:
        raw = self.raw(TYPE)
        if not raw:
            return TransitionType.SOFT
        first_word = re.split(r"[\s,;:.()/-]+", raw.lower().strip(" *_"))[0]
        try:
            return TransitionType(first_word)
        except ValueError:
            self.problem(
                TYPE,
                f'"{raw}" is not a type I know. Choose soft (both CSMs overlap for a few '
                "weeks), hard (a firm last day for the outgoing CSM) or abrupt (the outgoing "
                "CSM has already left or leaves at very short notice).",
                f"{TYPE}: soft",
            )
            return TransitionType.SOFT

    def date_field(self, name: str) -> date | None:
        raw = self.raw(name)
        if not raw:
            return None
        parsed = parse_date(raw, today=self.today)
        if parsed.problem:
            self.problem(name, f"{name}: {parsed.problem}", f"{name}: {_DATE_PLACEHOLDER}")
        return parsed.value

    def effective_date(self) -> date | None:
        effective = self.date_field(EFFECTIVE_DATE)
        if effective is not None and effective < self.today - timedelta(_STALE_EFFECTIVE_DAYS):
            self.problem(
                EFFECTIVE_DATE,
                f"The effective date, {effective.isoformat()}, is more than a week in the past, "
                "so the plan would start overdue. Please give the date the handoff should "
                "really take effect.",
                f"{EFFECTIVE_DATE}: {_DATE_PLACEHOLDER}",
            )
            return None
        return effective

    def share_reason(self) -> bool:
        raw = self.raw(SHARE_REASON)
        if not raw:
            return False
        answer = _YES_NO.get(re.split(r"[\s,;.!]+", raw.lower())[0])
        if answer is None:
            self.problem(
                SHARE_REASON,
                "Please answer yes or no for sharing the reason with the customer "
                f'(I read "{raw}").',
                f"{SHARE_REASON}: no",
            )
            return False
        return answer


_YES_NO = {
    "yes": True,
    "y": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "0": False,
}


def request_from_fields(fields: dict[str, str], *, today: date) -> RequestParse:
    """Validate raw fields into a request, reporting every problem found at once."""
    check = _Checker(fields=dict(fields), today=today)
    account = check.account()
    outgoing = check.csm(OUTGOING_CSM, "outgoing CSM")
    incoming = check.csm(INCOMING_CSM, "incoming CSM")
    if outgoing is not None and incoming is not None and outgoing.email == incoming.email:
        check.problem(
            INCOMING_CSM,
            f"{incoming.email} is both the outgoing and the incoming CSM; the account needs "
            "to move to someone else.",
            f"{INCOMING_CSM}: Name <{_COMPANY_PLACEHOLDER}>",
        )
    contacts = check.contacts()
    transition_type = check.transition_type()
    effective = check.effective_date()
    last_day = check.date_field(LAST_DAY)
    if transition_type is TransitionType.HARD and not check.raw(LAST_DAY):
        check.problem(
            LAST_DAY,
            "A hard handoff needs the outgoing CSM's last day with the customer, so the plan "
            "can work back from it.",
            f"{LAST_DAY}: {_DATE_PLACEHOLDER}",
        )
    renewal = check.date_field(RENEWAL_DATE)
    share_reason = check.share_reason()
    problems = tuple(check.problems)
    if problems or outgoing is None or incoming is None:
        return RequestParse(request=None, fields=check.fields, problems=problems)
    request = TransitionRequest(
        account=account,
        outgoing=outgoing,
        incoming=incoming,
        customer_contacts=contacts,
        type=transition_type,
        effective_date=effective,
        last_day=last_day,
        renewal_date=renewal,
        reason=check.raw(REASON),
        share_reason=share_reason,
        playbook=check.raw(PLAYBOOK) or None,
        notes=check.raw(NOTES),
    )
    return RequestParse(request=request, fields=check.fields)


def parse_request(text: str, *, html: str = "", today: date) -> RequestParse:
    """Read and validate a request from a message's text (or, failing that, its HTML) body."""
    fields, unknown = _extract(text, html)
    parsed = request_from_fields(fields, today=today)
    return RequestParse(
        request=parsed.request,
        fields=parsed.fields,
        problems=parsed.problems,
        unknown_lines=unknown,
    )
