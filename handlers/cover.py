"""Completion acceptance and the cover windows computed once from it (LG-COV-START, DEC-DATES)."""

from __future__ import annotations

import datetime as dt

from engine import handler

from .dates import cover_dates, local_midnight, parse_date
from .records import policy_by_no, set_status


@handler("idi.record_completion", params=("policy_no", "completion"))
def record_completion(ctx, policy_no: str, completion: dict) -> dict:
    """LG-COV-START, DEC-DATES: store C, contractor period, S and group ends; give timer instants.

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
        dates.end_items_6_8,
        dates.end_item_5,
        dates.end_items_1_4,
    )
    set_status(policy, "contractor_period", f"completion accepted on {completed_on.isoformat()}")
    day = dt.timedelta(days=1)
    return {
        "completion_date": completed_on.isoformat(),
        "contractor_end": dates.contractor_end.isoformat(),
        "cover_start": dates.cover_start.isoformat(),
        "end_items_6_8": dates.end_items_6_8.isoformat(),
        "end_item_5": dates.end_item_5.isoformat(),
        "end_items_1_4": dates.end_items_1_4.isoformat(),
        "cover_start_at": local_midnight(dates.cover_start),
        "items_6_8_expire_at": local_midnight(dates.end_items_6_8 + day),
        "item_5_expire_at": local_midnight(dates.end_item_5 + day),
        "items_1_4_expire_at": local_midnight(dates.end_items_1_4 + day),
    }


#: Cover groups by item (RULES.md section 2): the policy attribute holding each item's end date.
ITEM_END = {
    1: "end_items_1_4",
    2: "end_items_1_4",
    3: "end_items_1_4",
    4: "end_items_1_4",
    5: "end_item_5",
    6: "end_items_6_8",
    7: "end_items_6_8",
    8: "end_items_6_8",
}
EXCLUSIONS = {
    "improper_use": "使用不当 (improper use)",
    "third_party": "第三方造成 (caused by a third party)",
    "force_majeure": "不可抗力 (force majeure)",
}


@handler("idi.route_defect", params=("policy_no", "defect"))
def route_defect(ctx, policy_no: str, defect: dict) -> dict:
    """DEC-COVDATE, DEC-ROUTE, LG-COV-1..8, LG-COV-START, LG-COV-EXCL: judge a defect on the stored dates."""
    policy = policy_by_no(ctx.session, policy_no)
    reported = parse_date(defect.get("reported_at")) or parse_date(ctx.now.isoformat())
    coverage_date = parse_date(defect.get("manifested_on")) or reported
    item = int(defect.get("item_no") or 0)
    result = {"coverage_date": coverage_date.isoformat(), "item_no": item}
    if item not in ITEM_END:
        return {
            **result,
            "route": "not_in_scope",
            "reason": f"item {item} is not one of the covered items 1-8",
        }
    if policy.contractor_end is None or coverage_date <= policy.contractor_end:
        return {
            **result,
            "route": "contractor",
            "reason": "within two years of completion acceptance: the construction contractor repairs "
            "(LG-COV-START)",
        }
    end = getattr(policy, ITEM_END[item])
    if coverage_date > end:
        return {
            **result,
            "route": "expired",
            "reason": f"the cover of item {item} ended on {end.isoformat()}",
        }
    exclusion = defect.get("exclusion") or ""
    if exclusion:
        return {
            **result,
            "route": "rejected",
            "reason": f"不属于保险责任 (LG-COV-EXCL): {EXCLUSIONS.get(exclusion, exclusion)}",
        }
    return {
        **result,
        "route": "insurer",
        "cover_end": end.isoformat(),
        "reason": f"covered from {policy.cover_start.isoformat()} to {end.isoformat()}",
    }
