"""Finding the `Field: value` lines of a request in a message body, plain or HTML.

Bullets, bold labels, Outlook tables, HTML-only mail and fixes quoted inline in a reply all
come down to raw field values here; validating them is `mailer.handoff.request`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from mailer.handoff.request_fields import (
    CUSTOMER_CONTACTS,
    NOTES,
    REASON,
    canonical_field,
)

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
    return read_field_lines(text, html)[0]


def read_field_lines(text: str, html: str) -> tuple[dict[str, str], tuple[str, ...]]:
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
                gathered.append(strip_bullet(line).strip())
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


def strip_bullet(line: str) -> str:
    return _BULLET.sub("", line, count=1)


def _split_field(line: str) -> tuple[str, str] | None:
    """`(canonical name, value)` when the line is a field line, else None."""
    content = strip_bullet(line).strip()
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
