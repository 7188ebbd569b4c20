"""End to end: registration to the expiry of the last cover group, on the simulated clock (DEC-DATES)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_policy_support import (
    accept_completion,
    at,
    bind_policy,
    complete,
    deploy_workflows,
    move_clock,
    open_tasks,
    policy_of,
    register_agency,
    run_risk_management,
)

from engine import instances
from engine.models import ProcessInstance, Timer

SECOND = dt.timedelta(seconds=1)

CASES = {
    # C: (contractor end, S, items 6-8 end, item 5 end, items 1-4 end)
    "2027-06-30": ("2029-06-30", "2029-07-01", "2031-06-30", "2035-06-30", "2039-06-30"),
    "2028-02-29": ("2030-02-28", "2030-03-01", "2032-02-29", "2036-02-29", "2040-02-29"),
}


def _midnight_after(day: str) -> dt.datetime:
    d = dt.date.fromisoformat(day) + dt.timedelta(days=1)
    return at(d.year, d.month, d.day, 0, 0)


@pytest.mark.parametrize("completion", sorted(CASES))
def test_lifecycle_from_registration_to_last_expiry(session, fixed_clock, completion):
    """LG-COV-START DEC-DATES LG-COV-1..8: stored dates and the status after each timer, C to C+12y."""
    contractor_end, cover_start, end_6_8, end_5, end_1_4 = CASES[completion]
    deploy_workflows(session)
    fixed_clock.set(at(2026, 3, 2))
    register_agency(session)
    inst = bind_policy(session, "LG-E2E")
    assert policy_of(session, "LG-E2E").status == "construction"
    run_risk_management(session, "LG-E2E", stages=("foundation", "main_structure"))
    assert open_tasks(session) == []

    c = dt.date.fromisoformat(completion)
    fixed_clock.set(at(c.year, c.month, c.day, 16))
    accept_completion(session, "LG-E2E", completion)
    policy = policy_of(session, "LG-E2E")
    assert policy.status == "contractor_period"
    assert (
        policy.contractor_start.isoformat(),
        policy.contractor_end.isoformat(),
        policy.cover_start.isoformat(),
        policy.end_items_6_8.isoformat(),
        policy.end_item_5.isoformat(),
        policy.end_items_1_4.isoformat(),
    ) == (completion, contractor_end, cover_start, end_6_8, end_5, end_1_4)
    complete(session, "Task_request_exemption", {"request_exemption": False}, "developer1")
    complete(
        session,
        "Task_deliver_notices",
        {"delivery": {"delivered_on": completion, "units": ["1-101", "1-102"], "recipient": "业主"}},
        "dev1",
    )

    timers = {t.task_name: t.due_at for t in session.query(Timer).filter(Timer.status == "waiting")}
    assert timers == {"Timer_cover_start": at(*map(int, cover_start.split("-")), 0, 0).astimezone(dt.UTC)}

    # The last day of the contractor period is still the contractor's (LG-COV-START).
    assert move_clock(session, fixed_clock, at(*map(int, contractor_end.split("-")), 23, 59)) == 0
    assert policy_of(session, "LG-E2E").status == "contractor_period"
    steps = [
        (cover_start, "insured", False),
        (end_6_8, "partly_expired", True),
        (end_5, "partly_expired", True),
        (end_1_4, "expired", True),
    ]
    for day, status, is_end in steps:
        when = _midnight_after(day) if is_end else at(*map(int, day.split("-")), 0, 0)
        assert move_clock(session, fixed_clock, when - SECOND) == 0, f"fired early before {day}"
        assert move_clock(session, fixed_clock, when + SECOND) == 1, f"did not fire at {day}"
        assert policy_of(session, "LG-E2E").status == status, day
    history = [h["status"] for h in policy_of(session, "LG-E2E").status_history]
    assert history == [
        "quoted",
        "signed",
        "construction",
        "contractor_period",
        "insured",
        "partly_expired",
        "expired",
    ]
    assert instances.get_instance(session, inst.id).status == "completed"
    assert session.query(ProcessInstance).filter(ProcessInstance.status == "running").count() == 0
