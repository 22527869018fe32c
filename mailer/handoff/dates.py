"""Read the dates managers type into requests and commands, and refuse to guess.

Managers write dates many ways. Month names and ISO dates are never ambiguous, and a dotted
date (`15.12.2026`) is day-first by European habit. A slashed or dashed date like `03/04/2027`
reads one way in the US and another in Europe, so when both readings are real dates we ask
instead of guessing: a wrong guess would move a customer mail by a month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.parser import parserinfo

_NAMES = parserinfo()  # locale-independent English month and weekday names

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([./-])(\d{1,2})(?:\2(\d{4}|\d{2}))?$")
_ORDINAL = re.compile(r"(\d)(?:st|nd|rd|th)\b", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z]+|\d+")
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1}
_FILLER_WORDS = {"of", "the"}


@dataclass(frozen=True)
class DateParse:
    """A date read from text, or a plain-words explanation of why it could not be read."""

    value: date | None
    problem: str = ""


def parse_date(text: str, *, today: date) -> DateParse:
    """Read one date as a manager wrote it; `today` fills in a missing year."""
    cleaned = _clean(text)
    if not cleaned:
        return DateParse(None, f"The date is empty. {_expected_form(today)}")
    if cleaned.lower() in _RELATIVE_DAYS:
        return DateParse(today + timedelta(days=_RELATIVE_DAYS[cleaned.lower()]))
    iso = _ISO.match(cleaned)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
        return _build(text, year, month, day, today=today)
    numeric = _NUMERIC.match(cleaned)
    if numeric:
        return _parse_numeric(text, numeric, today=today)
    return _parse_with_month_name(text, cleaned, today=today)


def _clean(text: str) -> str:
    """Drop the decoration around a date: spaces, a weekday, ordinals, a final full stop."""
    cleaned = " ".join(text.replace("\u00a0", " ").split()).strip(" .,;")
    cleaned = _ORDINAL.sub(r"\1", cleaned)
    first, _, rest = cleaned.partition(" ")
    if rest and _NAMES.weekday(first.rstrip(".,")) is not None:
        cleaned = rest.strip(" ,")
    return cleaned


def _parse_numeric(text: str, match: re.Match[str], *, today: date) -> DateParse:
    first, separator, second, year_text = match.groups()
    a, b = int(first), int(second)
    year = _full_year(year_text) if year_text else None
    if separator == ".":
        return _build(text, year, b, a, today=today)
    if a > 12 and b > 12:
        return DateParse(None, _unreadable(text, today))
    if a > 12:
        return _build(text, year, b, a, today=today)
    if b > 12 or a == b:
        return _build(text, year, a, b, today=today)
    return _ambiguous(text, year, a, b, today=today)


def _ambiguous(text: str, year: int | None, a: int, b: int, *, today: date) -> DateParse:
    day_first = _resolve(year, b, a, today=today)
    month_first = _resolve(year, a, b, today=today)
    if day_first is None or month_first is None:
        only = day_first or month_first
        if only is None:
            return DateParse(None, _unreadable(text, today))
        return DateParse(only)
    problem = (
        f'"{text.strip()}" could mean {_spelled(day_first)} (day first) or '
        f"{_spelled(month_first)} (month first), and I would rather ask than guess. "
        f"Please write it as year-month-day: {day_first.isoformat()} for "
        f"{_spelled(day_first)}, or {month_first.isoformat()} for {_spelled(month_first)}."
    )
    return DateParse(None, problem)


def _parse_with_month_name(text: str, cleaned: str, *, today: date) -> DateParse:
    """Day, month name and optional year: `15 Dec 2026`, `Dec 15, 2026`, `1st of March`."""
    tokens = [t for t in _TOKEN.findall(cleaned) if t.lower() not in _FILLER_WORDS]
    shape = "".join("N" if token.isdigit() else "W" for token in tokens)
    month = _NAMES.month(tokens[shape.index("W")]) if shape.count("W") == 1 else None
    numbers = [token for token in tokens if token.isdigit()]
    if month is None or shape not in {"NW", "WN", "NWN", "WNN"}:
        return DateParse(None, _unreadable(text, today))
    if len(numbers) == 1 and len(numbers[0]) == 4:
        return DateParse(
            None, f'"{text.strip()}" gives the month but not the day. {_expected_form(today)}'
        )
    if len(numbers) == 1:
        return _build(text, None, month, int(numbers[0]), today=today)
    if shape == "NWN" and len(numbers[0]) == 4:
        year_text, day_text = numbers
    else:
        day_text, year_text = numbers
    if len(year_text) not in (2, 4):
        return DateParse(None, _unreadable(text, today))
    return _build(text, _full_year(year_text), month, int(day_text), today=today)


def _build(text: str, year: int | None, month: int, day: int, *, today: date) -> DateParse:
    resolved = _resolve(year, month, day, today=today)
    if resolved is None:
        return DateParse(
            None,
            f'"{text.strip()}" is not a real calendar date. {_expected_form(today)}',
        )
    return DateParse(resolved)


def _resolve(year: int | None, month: int, day: int, *, today: date) -> date | None:
    """The date itself, or with no year the next time it comes round on or after today."""
    if year is not None:
        return _safe_date(year, month, day)
    # Eight years always contain a 29 February, so the loop finds any real month and day.
    for candidate_year in range(today.year, today.year + 9):
        candidate = _safe_date(candidate_year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _full_year(year_text: str) -> int:
    year = int(year_text)
    return 2000 + year if len(year_text) == 2 else year


def _spelled(value: date) -> str:
    # Not strftime("%B"): that follows the server's locale, and these words go to English readers.
    month_name = _NAMES.MONTHS[value.month - 1][-1]
    return f"{value.day} {month_name} {value.year}"


def _unreadable(text: str, today: date) -> str:
    return f'I could not read "{text.strip()}" as a date. {_expected_form(today)}'


def _expected_form(today: date) -> str:
    return f"Please write it as year-month-day, for example {today.isoformat()}."
