"""A VTIMEZONE with rules (RFC 5545 3.6.5): the zone's current daylight-saving rule as RRULEs.

icalendar can write a VTIMEZONE, but as one RDATE per clock change, and only up to 2038. The
tz database already states each zone's rule in one line, the POSIX TZ string at the end of its
TZif file (`CET-1CEST,M3.5.0,M10.5.0/3`); that line is turned into a STANDARD and a DAYLIGHT
component with yearly rules, which every calendar app reads and which stay right every year.
A zone whose rule cannot be said that way falls back to icalendar's own definition.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

# icalendar is imported where a VTIMEZONE is made: 17 ms at every start of the service
# otherwise, for the few runs that send an invitation.

_NAME = r"(?:<[^>]+>|[A-Za-z]{3,})"
_OFFSET = r"[+-]?\d{1,3}(?::\d{2}){0,2}"
_POSIX = re.compile(rf"^(?P<std>{_NAME})(?P<std_off>{_OFFSET})"
                    rf"(?:(?P<dst>{_NAME})(?P<dst_off>{_OFFSET})?"
                    r",(?P<start>M[^,]+),(?P<end>M[^,]+))?$")
_RULE = re.compile(r"^M(\d{1,2})\.([1-5])\.([0-6])(?:/([+-]?\d{1,3}(?::\d{2}){0,2}))?$")
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
_EPOCH_YEAR = 1970
DEFAULT_SWITCH = timedelta(hours=2)  # POSIX: a rule without a time switches at 02:00


@dataclass(frozen=True)
class _Switch:
    """`Mm.w.d/time`: the d-th weekday of week w of month m (w=5: the last), at `at` local."""

    month: int
    week: int
    weekday: int  # 0 = Sunday
    at: timedelta

    def rrule(self) -> vRecur | None:
        from icalendar import vRecur

        days, rest = divmod(self.at, timedelta(days=1))
        if days == 0:
            nth = -1 if self.week == 5 else self.week
            return vRecur({"FREQ": "YEARLY", "BYMONTH": self.month,
                           "BYDAY": f"{nth}{_DAYS[self.weekday]}"})
        # Past midnight (Israel: Thursday of week 4 at 26:00 is Friday at 02:00): the same
        # week counted from the shifted day, as a range of month days.
        if self.week == 5 or not 0 < days < 7:
            return None
        first = 7 * (self.week - 1) + 1 + days
        if first + 6 > (28 if self.month == 2 else 30):
            return None
        return vRecur({"FREQ": "YEARLY", "BYMONTH": self.month,
                       "BYDAY": _DAYS[(self.weekday + days) % 7],
                       "BYMONTHDAY": list(range(first, first + 7))})

    def first_moment(self, year: int) -> datetime:
        """The local wall time of the switch in `year`, as DTSTART wants it."""
        day = date(year, self.month, 1)
        shift = (self.weekday - (day.weekday() + 1) % 7) % 7
        day += timedelta(days=shift + 7 * (self.week - 1))
        while day.month != self.month:
            day -= timedelta(days=7)
        return datetime.combine(day, time()) + self.at


def _offset(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def _switch(text: str) -> _Switch | None:
    match = _RULE.match(text)
    if match is None:
        return None
    month, week, weekday, at = match.groups()
    return _Switch(int(month), int(week), int(weekday),
                   _offset(at) if at is not None else DEFAULT_SWITCH)


def posix_rule(key: str) -> str | None:
    """The POSIX TZ string the tz database gives for zone `key` (its TZif footer)."""
    for path in _tzif_candidates(key):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if data[:4] != b"TZif" or data[4:5] < b"2":
            return None
        footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        return footer.decode("ascii", "replace") or None
    return None


def _tzif_candidates(key: str) -> list[Path]:
    paths = [Path(root) / key for root in zoneinfo.TZPATH]
    with contextlib.suppress(ModuleNotFoundError):  # the tzdata package, where it is installed
        paths.append(Path(str(importlib.resources.files("tzdata.zoneinfo").joinpath(key))))
    return [p for p in paths if p.is_file()]


def vtimezone(key: str) -> Timezone:
    """The VTIMEZONE for IANA zone `key`: yearly rules where the zone has them."""
    from icalendar import Timezone

    built = _from_posix(key, posix_rule(key) or "")
    if built is not None:
        return built
    return Timezone.from_tzinfo(zoneinfo.ZoneInfo(key))


def _from_posix(key: str, rule: str) -> Timezone | None:
    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    match = _POSIX.match(rule)
    if match is None:
        return None
    std_name = match["std"].strip("<>")
    std = -_offset(match["std_off"])  # POSIX counts west of Greenwich as positive
    zone = Timezone()
    zone.add("tzid", key)
    zone.add("x-lic-location", key)
    if match["dst"] is None:
        standard = TimezoneStandard()
        standard.add("dtstart", datetime(_EPOCH_YEAR, 1, 1))
        _offsets(standard, std_name, std, std)
        zone.add_component(standard)
        return zone
    dst = -_offset(match["dst_off"]) if match["dst_off"] else std + timedelta(hours=1)
    to_dst, to_std = _switch(match["start"]), _switch(match["end"])
    if to_dst is None or to_std is None:
        return None
    daylight, standard = TimezoneDaylight(), TimezoneStandard()
    for component, switch, name, before, after in (
            (daylight, to_dst, match["dst"].strip("<>"), std, dst),
            (standard, to_std, std_name, dst, std)):
        recurrence = switch.rrule()
        if recurrence is None:
            return None
        component.add("dtstart", switch.first_moment(_EPOCH_YEAR))
        component.add("rrule", recurrence)
        _offsets(component, name, before, after)
    zone.add_component(standard)
    zone.add_component(daylight)
    return zone


def _offsets(component: TimezoneStandard | TimezoneDaylight, name: str, before: timedelta,
             after: timedelta) -> None:
    component.add("tzname", name)
    component.add("tzoffsetfrom", before)
    component.add("tzoffsetto", after)
