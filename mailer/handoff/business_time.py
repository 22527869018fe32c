"""Business days and business hours in the team's time zone.

Every playbook step is computed on a local date and a local wall-clock time, and only then
turned into an aware datetime. That is what keeps a step planned for 09:00 at 09:00 when the
clocks change: adding "one day" to a local date never drifts by the hour DST adds or removes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MONDAY_TO_FRIDAY: frozenset[int] = frozenset(range(5))


@dataclass(frozen=True)
class BusinessCalendar:
    """The team's working days and hours.

    `workdays` holds `date.weekday()` numbers (Monday is 0). A business day is a workday that
    is not in `holidays`. Business hours run from `day_start` (inclusive) to `day_end`
    (exclusive), local time.
    """

    tz: ZoneInfo
    holidays: frozenset[date] = frozenset()
    day_start: time = time(9)
    day_end: time = time(17)
    workdays: frozenset[int] = MONDAY_TO_FRIDAY

    def __post_init__(self) -> None:
        if not self.workdays or not self.workdays <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of weekday numbers 0..6")
        if self.day_start >= self.day_end:
            raise ValueError("the business day must start before it ends")

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def add_business_days(self, day: date, n: int) -> date:
        """Move `n` business days from `day`; `day` itself is never counted.

        n > 0 walks forward (Friday + 2 is Tuesday), n < 0 walks backward (Monday - 1 is the
        previous Friday). n == 0 means "that day if it is a business day, else the next one".
        """
        if n == 0:
            return day if self.is_business_day(day) else self.add_business_days(day, 1)
        step = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_business_day(day):
                remaining -= 1
        return day

    def add_days(self, day: date, n: int) -> date:
        """Calendar days: weekends and holidays count like any other day."""
        return day + timedelta(days=n)

    def business_days_between(self, start: date, end: date) -> int:
        """How many business days lie from `start` to `end`, `start` itself not counted.

        Forward, the business days after `start` up to and including `end`; backward (end
        before start), minus the business days from `end` up to the day before `start`. So it
        undoes add_business_days: business_days_between(d, add_business_days(d, n)) == n
        for any n != 0.
        """
        if end >= start:
            days = (start + timedelta(days=k) for k in range(1, (end - start).days + 1))
            return sum(1 for day in days if self.is_business_day(day))
        days = (end + timedelta(days=k) for k in range((start - end).days))
        return -sum(1 for day in days if self.is_business_day(day))

    def at_local(self, day: date, wall: time) -> datetime:
        """`wall` o'clock on `day` in the team's zone, as an aware datetime.

        A wall time that does not exist (skipped when clocks go forward) becomes the real local
        time the same instant maps to, e.g. 02:30 becomes 03:30; an ambiguous one (clocks go
        back) means its first occurrence.
        """
        return _at_local(self.tz, day, wall)

    def local(self, moment: datetime) -> datetime:
        """The same instant, expressed in the team's zone."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
        return moment.astimezone(self.tz)

    def in_business_hours(self, moment: datetime) -> bool:
        here = self.local(moment)
        return (self.is_business_day(here.date())
                and self.day_start <= here.time().replace(tzinfo=None) < self.day_end)

    def next_business_moment(self, moment: datetime) -> datetime:
        """`moment` itself when it falls in business hours, else the next business-day start.

        The result is expressed in the team's zone (the same instant when unchanged).
        """
        here = self.local(moment)
        if self.in_business_hours(here):
            return here
        today = here.date()
        if self.is_business_day(today) and here.time().replace(tzinfo=None) < self.day_start:
            return self.at_local(today, self.day_start)
        return self.at_local(self.add_business_days(today, 1), self.day_start)


@lru_cache(maxsize=4096)
def _at_local(tz: ZoneInfo, day: date, wall: time) -> datetime:
    """Every plan asks for the same few days and times (a book's accounts share their
    dates), two time-zone conversions each: a fifth of planning a transition's steps."""
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
