"""Finding the `Field: value` lines of a request in a message body, plain or HTML.

Bullets, bold labels, Outlook tables, HTML-only mail and fixes quoted inline in a reply all
come down to raw field values here; validating them is `mailer.handoff.request`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailer.handoff.html_lines import html_to_text
from mailer.handoff.request_fields import (
    CUSTOMER_CONTACTS,
    NOTES,
    REASON,
    canonical_field,
)
from mailer.handoff.signatures import without_link_renderings

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
    text = without_link_renderings(text)  # Outlook's "pat@acme.com<mailto:pat@acme.com>"
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


def merge_fields(original: dict[str, str], fixes: dict[str, str]) -> dict[str, str]:
    """The original request's fields with a reply's corrections laid over them.

    A field the reply leaves empty keeps its original value, so pasting the whole template
    back with a few blanks loses nothing.
    """
    merged = dict(original)
    merged.update({name: value for name, value in fixes.items() if value.strip()})
    return merged
