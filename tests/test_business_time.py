"""The team's business calendar: weekends, holidays, business hours and clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.handoff.business_time import BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
# A team in Berlin that takes Christmas and Boxing Day off, and New Year's Day.
HOLIDAYS = frozenset({date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)})
TEAM = BusinessCalendar(BERLIN, HOLIDAYS)

FRIDAY = date(2027, 1, 15)
SATURDAY = date(2027, 1, 16)
SUNDAY = date(2027, 1, 17)
MONDAY = date(2027, 1, 18)
TUESDAY = date(2027, 1, 19)
WEDNESDAY = date(2027, 1, 20)


def test_weekends_and_holidays_are_not_business_days() -> None:
    assert TEAM.is_business_day(FRIDAY)
    assert not TEAM.is_business_day(SATURDAY)
    assert not TEAM.is_business_day(SUNDAY)
    assert not TEAM.is_business_day(date(2026, 12, 25))  # a Friday, but Christmas


def test_counting_business_days_forward_skips_the_weekend() -> None:
    assert TEAM.add_business_days(FRIDAY, 1) == MONDAY
    assert TEAM.add_business_days(FRIDAY, 2) == TUESDAY
    assert TEAM.add_business_days(SATURDAY, 1) == MONDAY
    assert TEAM.add_business_days(MONDAY, 5) == date(2027, 1, 25)


def test_counting_business_days_backward_skips_the_weekend() -> None:
    assert TEAM.add_business_days(MONDAY, -1) == FRIDAY
    assert TEAM.add_business_days(SUNDAY, -1) == FRIDAY
    assert TEAM.add_business_days(WEDNESDAY, -3) == FRIDAY


def test_zero_business_days_is_that_day_or_the_next_business_day() -> None:
    assert TEAM.add_business_days(WEDNESDAY, 0) == WEDNESDAY
    assert TEAM.add_business_days(SATURDAY, 0) == MONDAY
    assert TEAM.add_business_days(date(2026, 12, 25), 0) == date(2026, 12, 28)


def test_holidays_push_business_days_out() -> None:
    # Two business days after Christmas Eve (Thursday) skip Christmas and the weekend.
    assert TEAM.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    assert TEAM.add_business_days(date(2026, 12, 24), 2) == date(2026, 12, 29)
    # Back from 4 January 2027 (Monday): the day before is Thursday 31 December.
    assert TEAM.add_business_days(date(2027, 1, 4), -1) == date(2026, 12, 31)


def test_calendar_days_ignore_weekends() -> None:
    assert TEAM.add_days(FRIDAY, 1) == SATURDAY
    assert TEAM.add_days(FRIDAY, 60) == date(2027, 3, 16)


def test_business_days_between_counts_days_after_the_start_up_to_the_end() -> None:
    assert TEAM.business_days_between(FRIDAY, TUESDAY) == 2
    assert TEAM.business_days_between(TUESDAY, FRIDAY) == -2
    assert TEAM.business_days_between(SATURDAY, FRIDAY) == -1
    assert TEAM.business_days_between(FRIDAY, SUNDAY) == 0
    assert TEAM.business_days_between(date(2026, 12, 24), date(2026, 12, 31)) == 4


@given(start=st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
       n=st.integers(min_value=-40, max_value=40).filter(bool))
def test_business_days_between_undoes_adding_business_days(start: date, n: int) -> None:
    landed = TEAM.add_business_days(start, n)
    assert TEAM.is_business_day(landed)
    assert TEAM.business_days_between(start, landed) == n


def test_nine_o_clock_stays_nine_o_clock_across_the_spring_clock_change() -> None:
    # Berlin moves its clocks forward on Sunday 28 March 2027.
    before = TEAM.at_local(date(2027, 3, 26), time(9))
    after = TEAM.at_local(date(2027, 3, 29), time(9))
    assert (before.hour, after.hour) == (9, 9)
    assert before.astimezone(UTC).hour == 8  # CET, UTC+1
    assert after.astimezone(UTC).hour == 7  # CEST, UTC+2


def test_nine_o_clock_stays_nine_o_clock_across_the_autumn_clock_change() -> None:
    new_york = BusinessCalendar(ZoneInfo("America/New_York"))
    before = new_york.at_local(date(2027, 11, 5), time(9))
    after = new_york.at_local(date(2027, 11, 8), time(9))
    assert (before.hour, after.hour) == (9, 9)
    # New York falls back on Sunday 7 November: that weekend is an hour longer.
    assert after.astimezone(UTC) - before.astimezone(UTC) == timedelta(days=3, hours=1)


def test_a_wall_time_skipped_by_the_clock_change_becomes_the_real_time() -> None:
    moment = TEAM.at_local(date(2027, 3, 28), time(2, 30))
    assert (moment.hour, moment.minute) == (3, 30)
    assert moment.astimezone(UTC) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_a_moment_within_business_hours_is_kept() -> None:
    tuesday_afternoon = datetime(2027, 1, 19, 13, 0, tzinfo=UTC)  # 14:00 in Berlin
    assert TEAM.next_business_moment(tuesday_afternoon) == tuesday_afternoon


def test_outside_business_hours_waits_for_the_next_business_morning() -> None:
    friday_evening = datetime(2027, 1, 15, 17, 0, tzinfo=BERLIN)
    saturday = datetime(2027, 1, 16, 11, 0, tzinfo=BERLIN)
    monday_early = datetime(2027, 1, 18, 7, 45, tzinfo=BERLIN)
    monday_nine = datetime(2027, 1, 18, 9, 0, tzinfo=BERLIN)
    assert TEAM.next_business_moment(friday_evening) == monday_nine
    assert TEAM.next_business_moment(saturday) == monday_nine
    assert TEAM.next_business_moment(monday_early) == monday_nine


def test_a_holiday_is_not_business_hours() -> None:
    christmas_noon = datetime(2026, 12, 25, 12, 0, tzinfo=BERLIN)
    assert not TEAM.in_business_hours(christmas_noon)
    assert TEAM.next_business_moment(christmas_noon) == datetime(2026, 12, 28, 9, 0,
                                                                 tzinfo=BERLIN)


def test_a_team_with_other_hours_and_a_sunday_to_thursday_week() -> None:
    team = BusinessCalendar(ZoneInfo("Asia/Jerusalem"), day_start=time(8, 30),
                            day_end=time(16), workdays=frozenset({6, 0, 1, 2, 3}))
    thursday_evening = datetime(2027, 1, 14, 16, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    assert team.next_business_moment(thursday_evening) == datetime(
        2027, 1, 17, 8, 30, tzinfo=ZoneInfo("Asia/Jerusalem"))


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        TEAM.next_business_moment(datetime(2027, 1, 15, 10, 0))


def test_a_calendar_whose_day_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(BERLIN, day_start=time(17), day_end=time(9))
