"""Completion acceptance and the cover windows computed once from it (LG-COV-START, DEC-DATES)."""

from __future__ import annotations

import datetime as dt

from engine import handler

from .dates import cover_dates, local_midnight, parse_date
from .records import policy_by_no, set_status


@handler("idi.record_completion", params=("policy_no", "completion"))
def record_completion(ctx, policy_no: str, completion: dict) -> dict:
    """LG-COV-START, DEC-DATES: store C, the contractor period, S and each group's end; give the timer instants.

    Each expiry timer fires at 00:00 Asia/Shanghai of the day after the (inclusive) end date.
    """
    policy = policy_by_no(ctx.session, policy_no)
    project = policy.project
    completed_on = parse_date(completion["completion_date"])
    dates = cover_dates(completed_on)
    project.completion_date = completed_on
    project.completion_record_no = str(completion.get("record_no", ""))
    project.status = "completed"
    policy.contractor_start, policy.contractor_end = completed_on, dates.contractor_end
    policy.cover_start = dates.cover_start
    policy.end_items_6_8, policy.end_item_5, policy.end_items_1_4 = (
        dates.end_items_6_8, dates.end_item_5, dates.end_items_1_4)
    set_status(policy, "contractor_period", f"completion accepted on {completed_on.isoformat()}")
    day = dt.timedelta(days=1)
    return {
        "completion_date": completed_on.isoformat(), "contractor_end": dates.contractor_end.isoformat(),
        "cover_start": dates.cover_start.isoformat(), "end_items_6_8": dates.end_items_6_8.isoformat(),
        "end_item_5": dates.end_item_5.isoformat(), "end_items_1_4": dates.end_items_1_4.isoformat(),
        "cover_start_at": local_midnight(dates.cover_start),
        "items_6_8_expire_at": local_midnight(dates.end_items_6_8 + day),
        "item_5_expire_at": local_midnight(dates.end_item_5 + day),
        "items_1_4_expire_at": local_midnight(dates.end_items_1_4 + day),
    }
