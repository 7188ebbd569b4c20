"""Cover dates (DEC-DATES) and day-counted deadlines (DEC-DAYS) for the IDI handlers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine import clock
from engine.workdays import deadline_days, deadline_working_days

__all__ = [
    "CoverDates",
    "add_years",
    "cover_dates",
    "deadline_days",
    "deadline_working_days",
    "local_midnight",
    "parse_date",
]


def add_years(day: dt.date, years: int) -> dt.date:
    """Same month and day `years` later; 29 February becomes 28 February in a common year (DEC-DATES)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class CoverDates:
    """The contractor period and the cover windows computed once from completion acceptance C."""

    completion: dt.date
    contractor_end: dt.date
    cover_start: dt.date
    end_items_6_8: dt.date
    end_item_5: dt.date
    end_items_1_4: dt.date


def cover_dates(completion: dt.date) -> CoverDates:
    """DEC-DATES: contractor C…C+2y, S = C+2y+1d, ends C+4y (6–8), C+8y (5), C+12y (1–4), all inclusive."""
    contractor_end = add_years(completion, 2)
    return CoverDates(
        completion,
        contractor_end,
        contractor_end + dt.timedelta(days=1),
        add_years(completion, 4),
        add_years(completion, 8),
        add_years(completion, 12),
    )


def local_midnight(day: dt.date) -> str:
    """00:00 Asia/Shanghai at the start of `day`, as an ISO string with its offset (a timeDate value)."""
    return dt.datetime.combine(day, dt.time(0), clock.LOCAL_TZ).isoformat()


def parse_date(value: str | dt.date | None) -> dt.date | None:
    """A date from an ISO string (a datetime is converted to its Asia/Shanghai date first)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = str(value)
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    return clock.to_local(dt.datetime.fromisoformat(text)).date()
