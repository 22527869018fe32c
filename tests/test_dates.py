"""Managers write dates every which way; we read the clear ones and ask about the doubtful."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.handoff.dates import parse_date

TODAY = date(2026, 11, 20)
DEC_15 = date(2026, 12, 15)


@pytest.mark.parametrize(
    "written",
    [
        "2026-12-15",
        "15 Dec 2026",
        "15 December 2026",
        "Dec 15, 2026",
        "December 15th 2026",
        "15.12.2026",
        "12/15/2026",
        "15/12/2026",
        "Mon, 15 Dec 2026",
        "Tuesday 15 December 2026.",
        "15-Dec-2026",
        "15th of December 2026",
        "2026/12/15",
        "  15\u00a0Dec\u00a02026 ",
    ],
)
def test_a_manager_can_write_the_same_day_in_every_common_form(written: str) -> None:
    parsed = parse_date(written, today=TODAY)

    assert parsed.value == DEC_15
    assert parsed.problem == ""


def test_dotted_dates_are_read_day_first_even_when_both_parts_could_be_a_month() -> None:
    assert parse_date("03.04.2027", today=TODAY).value == date(2027, 4, 3)


def test_an_ambiguous_slashed_date_is_asked_back_with_both_readings() -> None:
    parsed = parse_date("03/04/2027", today=TODAY)

    assert parsed.value is None
    assert "3 April 2027" in parsed.problem
    assert "4 March 2027" in parsed.problem
    assert "2027-04-03" in parsed.problem
    assert "2027-03-04" in parsed.problem


def test_a_slashed_date_with_the_same_day_and_month_is_not_ambiguous() -> None:
    assert parse_date("05/05/2027", today=TODAY).value == date(2027, 5, 5)


def test_a_date_without_a_year_means_the_next_time_it_comes_round() -> None:
    assert parse_date("15 Dec", today=TODAY).value == date(2026, 12, 15)
    assert parse_date("March 3rd", today=TODAY).value == date(2027, 3, 3)
    assert parse_date("20 Nov", today=TODAY).value == TODAY
    assert parse_date("29 Feb", today=TODAY).value == date(2028, 2, 29)


def test_a_two_digit_year_is_this_century() -> None:
    assert parse_date("15/12/26", today=TODAY).value == DEC_15
    assert parse_date("15-Dec-26", today=TODAY).value == DEC_15


def test_today_and_tomorrow_are_understood() -> None:
    assert parse_date("today", today=TODAY).value == TODAY
    assert parse_date("Tomorrow", today=TODAY).value == date(2026, 11, 21)


@pytest.mark.parametrize("written", ["next week", "ASAP", "end of Q1", "13/13/2027", "Dec 15 10am"])
def test_garbage_is_refused_with_the_expected_form(written: str) -> None:
    parsed = parse_date(written, today=TODAY)

    assert parsed.value is None
    assert f'"{written}"' in parsed.problem
    assert "year-month-day" in parsed.problem
    assert "2026-11-20" in parsed.problem


def test_a_day_that_does_not_exist_is_refused() -> None:
    parsed = parse_date("31 February 2027", today=TODAY)

    assert parsed.value is None
    assert "not a real calendar date" in parsed.problem


def test_a_month_without_a_day_is_refused_and_says_the_day_is_missing() -> None:
    parsed = parse_date("December 2026", today=TODAY)

    assert parsed.value is None
    assert "not the day" in parsed.problem


def test_an_empty_date_says_so() -> None:
    assert "empty" in parse_date("  ", today=TODAY).problem
