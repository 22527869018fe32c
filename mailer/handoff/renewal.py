"""The renewal date, when the contract or renewal answers mention one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

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
