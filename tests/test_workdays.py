"""DEC-DAYS calendar arithmetic: civil-code day counting, statutory holidays, weekends-only beyond."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from engine import scripts, workdays


def test_deadline_on_a_weekend_moves_to_the_end_of_the_next_working_day():  # DEC-DAYS
    """The rule's own example: registered Sat 2031-03-01, 7 days -> Sat 03-08 -> end of Mon 03-10."""
    assert workdays.deadline_day("2031-03-01", 7) == dt.date(2031, 3, 10)
    assert workdays.deadline_days("2031-03-01T15:30:00+08:00", 7) == "2031-03-11T00:00:00+08:00"


def test_the_day_of_the_event_is_not_counted_and_a_working_day_deadline_stays():  # DEC-DAYS
    assert workdays.deadline_day("2025-03-03", 7) == dt.date(2025, 3, 10)  # Monday + 7 = Monday


def test_statutory_holidays_move_a_deadline_past_the_national_day_week():  # DEC-DAYS
    # 2025-09-30 + 1 day = 10-01, National Day: 10-01..10-08 are holidays, 10-09 is the next working day.
    assert workdays.deadline_day("2025-09-30", 1) == dt.date(2025, 10, 9)


def test_adjusted_working_days_count_as_working_days():  # DEC-DAYS
    # Sunday 2025-09-28 is an adjusted working day (调休): a deadline falling on it does not move.
    assert workdays.is_working_day(dt.date(2025, 9, 28)) is True
    assert workdays.deadline_day("2025-09-21", 7) == dt.date(2025, 9, 28)
    assert workdays.deadline_day("2025-09-20", 7) == dt.date(2025, 9, 28)  # Sat 09-27 moves to Sun 09-28


def test_add_working_days_counts_only_working_days():
    assert workdays.add_working_days("2025-09-30", 1) == "2025-10-09"
    assert workdays.add_working_days(dt.date(2025, 3, 7), 1) == dt.date(2025, 3, 10)  # Fri -> Mon
    assert workdays.deadline_working_days("2025-03-07", 1) == "2025-03-11T00:00:00+08:00"


def test_a_year_without_a_published_schedule_counts_weekends_only_and_says_so(caplog, monkeypatch):
    monkeypatch.setattr(workdays, "_WARNED_YEARS", set())  # the warning is logged once per year per process
    year = max(workdays.COVERED_YEARS) + 5
    assert workdays.calendar_basis(year) == "weekends-only"
    assert workdays.calendar_basis(max(workdays.COVERED_YEARS)) == "statutory"
    friday = dt.date(year, 1, 1)
    while friday.weekday() != 4:
        friday += dt.timedelta(days=1)
    with caplog.at_level(logging.WARNING, logger="engine.workdays"):
        assert workdays.add_working_days(friday, 1) == friday + dt.timedelta(days=3)
    assert f"No statutory holiday schedule for {year}" in caplog.text


def test_add_years_takes_29_february_to_28_february():
    assert workdays.add_years("2028-02-29", 1) == "2029-02-28"
    assert workdays.add_years(dt.date(2028, 2, 29), 4) == dt.date(2032, 2, 29)
    assert workdays.add_years("2027-03-01T00:00:00+08:00", 2) == "2029-03-01T00:00:00+08:00"


def test_add_days_keeps_the_type_it_was_given():
    assert workdays.add_days("2027-02-27", 2) == "2027-03-01"
    assert workdays.add_days(dt.datetime(2027, 2, 27, 9), 2) == dt.datetime(2027, 3, 1, 9)


def test_local_date_reads_instants_on_the_shanghai_calendar():
    assert workdays.local_date("2027-02-28T17:00:00+00:00") == dt.date(2027, 3, 1)
    assert workdays.local_date(dt.datetime(2027, 2, 28, 17, tzinfo=dt.UTC)) == dt.date(2027, 3, 1)
    assert workdays.local_date("2027-03-01") == dt.date(2027, 3, 1)


@pytest.mark.parametrize("source, expected", [
    ('deadline_days(reported_at, 7)', "2031-03-11T00:00:00+08:00"),
    ('add_years(handover, 10)', "2037-03-01T00:00:00+08:00"),
    ('add_working_days("2025-09-30", 1)', "2025-10-09"),
    ('local_date(reported_at).isoformat()', "2031-03-01"),
])
def test_helpers_are_callable_from_restricted_expressions(source, expected):
    env = scripts.RestrictedEnvironment()
    data = {"reported_at": "2031-03-01T10:00:00+08:00", "handover": "2027-03-01T00:00:00+08:00"}
    assert env.evaluate(source, data) == expected
