"""Calendar arithmetic for deadlines (RULES.md DEC-DAYS), callable from every BPMN expression.

Days are counted on the Asia/Shanghai calendar. The day of the triggering event is not counted; a
deadline is the end (24:00) of its last day, moved to the end of the next working day when that day is a
weekend day or a statutory holiday. Holidays come from the maintained `chinesecalendar` package; for a
year it does not cover yet, only weekends are non-working (`calendar_basis` says which applies).
Cover windows (DEC-DATES) are contract dates: use `add_years`, which never moves to a working day.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from typing import Any

import chinese_calendar
from dateutil.relativedelta import relativedelta

from .clock import LOCAL_TZ
from .scripts import register_helper

log = logging.getLogger(__name__)

Dateish = dt.date | dt.datetime | str


def _years_covered() -> range:
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return range(min(years), max(years) + 1)


COVERED_YEARS = _years_covered()


def calendar_covers(year: int) -> bool:
    """True when the holiday calendar knows the statutory schedule of `year`."""
    return year in COVERED_YEARS


def calendar_basis(year: int) -> str:
    """'statutory' when holidays are known for `year`, else 'weekends-only' (the UI must say so)."""
    return "statutory" if calendar_covers(year) else "weekends-only"


def _parse(value: Dateish) -> dt.date | dt.datetime:
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date, a datetime or an ISO string, got {type(value).__name__}")


def _local(value: dt.datetime) -> dt.datetime:
    """An aware datetime in Asia/Shanghai; naive values are taken to be Shanghai local time."""
    return value.replace(tzinfo=LOCAL_TZ) if value.tzinfo is None else value.astimezone(LOCAL_TZ)


def local_date(value: Dateish) -> dt.date:
    """The Asia/Shanghai calendar date of a date, datetime or ISO string (naive = Shanghai time)."""
    parsed = _parse(value)
    if isinstance(parsed, dt.datetime):
        return _local(parsed).date()
    return parsed


def _like(original: Dateish, result: dt.date | dt.datetime) -> Any:
    """Return `result` in the form the caller passed: string in, ISO string out."""
    return result.isoformat() if isinstance(original, str) else result


def add_days(value: Dateish, days: int) -> Any:
    """`value` plus `days` calendar days (same type back: date, datetime or ISO string)."""
    return _like(value, _parse(value) + dt.timedelta(days=int(days)))


def add_years(value: Dateish, years: int) -> Any:
    """`value` plus `years` calendar years; 29 February becomes 28 February in a common year."""
    return _like(value, _parse(value) + relativedelta(years=int(years)))


@lru_cache(maxsize=8192)
def is_working_day(day: dt.date) -> bool:
    """True on a working day: statutory calendar where known (adjusted days count), else Mon-Fri."""
    if calendar_covers(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5


def next_working_day(day: dt.date) -> dt.date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


_WARNED_YEARS: set[int] = set()


def _warn_if_uncovered(start: dt.date, end: dt.date) -> None:
    """Log once per year per process that a year has no published holiday schedule."""
    for year in range(start.year, end.year + 1):
        if not calendar_covers(year) and year not in _WARNED_YEARS:
            _WARNED_YEARS.add(year)
            log.warning("No statutory holiday schedule for %s; only weekends counted as non-working.", year)


def add_working_days(value: Dateish, days: int) -> Any:
    """The date `days` working days after `value` (the start day itself is not counted)."""
    parsed = _parse(value)
    day = local_date(parsed)
    count, step = int(days), (1 if int(days) >= 0 else -1)
    start = day
    while count:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            count -= step
    _warn_if_uncovered(min(start, day), max(start, day))
    if isinstance(parsed, dt.datetime):
        local = _local(parsed)
        result: dt.date | dt.datetime = local.replace(year=day.year, month=day.month, day=day.day)
    else:
        result = day
    return _like(value, result)


def deadline_day(value: Dateish, days: int) -> dt.date:
    """The last day of a period of `days` days from `value` under DEC-DAYS (moved off non-working days)."""
    last = local_date(value) + dt.timedelta(days=int(days))
    moved = next_working_day(last)
    _warn_if_uncovered(last, moved)
    return moved


def _end_of(day: dt.date) -> str:
    """24:00 Asia/Shanghai of `day` as an ISO instant (00:00 of the next day, with +08:00)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), LOCAL_TZ).isoformat()


def deadline_days(value: Dateish, days: int) -> str:
    """DEC-DAYS deadline as an ISO instant for a `timeDate`: the end of the last day, moved if non-working."""
    return _end_of(deadline_day(value, days))


def deadline_working_days(value: Dateish, days: int) -> str:
    """The end (24:00 Shanghai) of the `days`-th working day after `value`, as an ISO instant."""
    return _end_of(add_working_days(local_date(value), days))


def end_of_local_day(value: Dateish) -> str:
    """24:00 Asia/Shanghai of the day of `value`, as an ISO instant."""
    return _end_of(local_date(value))


for _name, _func in (("add_days", add_days), ("add_years", add_years), ("add_working_days", add_working_days),
                     ("local_date", local_date), ("deadline_days", deadline_days),
                     ("deadline_day", deadline_day), ("deadline_working_days", deadline_working_days),
                     ("is_working_day", lambda v: is_working_day(local_date(v))),
                     ("end_of_local_day", end_of_local_day)):
    register_helper(_name, _func)
