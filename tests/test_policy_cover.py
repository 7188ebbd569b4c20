"""Cover routing, maintenance-fund exemption and cancellation driven through the engine."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from test_policy_support import at, complete, covered_policy, move_clock, open_tasks, policy_of

from engine import instances
from engine.models import ProcessInstance, Timer
from handlers import master_data
from handlers.models import CancellationRequest, Exemption

pytestmark = pytest.mark.backends("sqlite")


def _route(session, item_no, reported_at, **defect):
    from conftest import commit

    row = instances.start_instance(
        session,
        "idi_coverage_check",
        {
            "policy_no": "IDI-LG-2026-001",
            "defect": {"item_no": item_no, "reported_at": reported_at, **defect},
        },
        "claims1",
    )
    commit(session)
    assert row.status == "completed"
    return instances.variables(session, row.id)["routing"]


# C = 2027-06-30: contractor to 2029-06-30; S 2029-07-01; 6-8 to 2031-06-30; 5 to 2035-06-30;
# 1-4 to 2039-06-30.
@pytest.mark.parametrize(
    "item, last_covered_day, first_expired_day",
    [
        (1, "2039-06-30", "2039-07-01"),
        (2, "2039-06-30", "2039-07-01"),
        (3, "2039-06-30", "2039-07-01"),
        (4, "2039-06-30", "2039-07-01"),
        (5, "2035-06-30", "2035-07-01"),
        (6, "2031-06-30", "2031-07-01"),
        (7, "2031-06-30", "2031-07-01"),
        (8, "2031-06-30", "2031-07-01"),
    ],
)
def test_each_item_is_covered_from_s_to_its_end(
    session, fixed_clock, item, last_covered_day, first_expired_day
):
    """LG-COV-1 LG-COV-2 LG-COV-3 LG-COV-4 LG-COV-5 LG-COV-6 LG-COV-7 LG-COV-8 DEC-ROUTE DEC-DATES."""
    covered_policy(session, fixed_clock)
    assert _route(session, item, "2029-06-30T23:00:00+08:00")["route"] == "contractor"  # LG-COV-START
    assert _route(session, item, "2029-07-01T00:30:00+08:00")["route"] == "insurer"
    assert _route(session, item, f"{last_covered_day}T23:59:00+08:00")["route"] == "insurer"
    assert _route(session, item, f"{first_expired_day}T00:01:00+08:00")["route"] == "expired"


def test_defect_in_the_contractor_period_goes_to_the_contractor(session, fixed_clock):  # LG-COV-START
    covered_policy(session, fixed_clock)
    routing = _route(session, 4, "2028-05-01T10:00:00+08:00")
    assert routing["route"] == "contractor" and "LG-COV-START" in routing["reason"]


def test_coverage_date_is_local_report_date_or_accepted_manifestation(session, fixed_clock):  # DEC-COVDATE
    covered_policy(session, fixed_clock)
    # 2031-06-30 16:30 UTC is 2031-07-01 00:30 in Shanghai: items 6-8 have ended.
    assert _route(session, 7, "2031-06-30T16:30:00+00:00")["coverage_date"] == "2031-07-01"
    assert _route(session, 7, "2031-06-30T16:30:00+00:00")["route"] == "expired"
    evidence = _route(session, 7, "2031-06-30T16:30:00+00:00", manifested_on="2031-06-20")
    assert evidence["coverage_date"] == "2031-06-20" and evidence["route"] == "insurer"


def test_exclusions_and_items_outside_the_list(session, fixed_clock):  # LG-COV-EXCL DEC-ROUTE
    covered_policy(session, fixed_clock)
    for exclusion in ("improper_use", "third_party", "force_majeure"):
        routing = _route(session, 5, "2030-01-10", exclusion=exclusion)
        assert routing["route"] == "rejected" and "LG-COV-EXCL" in routing["reason"]
    assert _route(session, 9, "2030-01-10")["route"] == "not_in_scope"


def _exempt(session, approved=True):
    complete(session, "Task_request_exemption", {"request_exemption": True}, "developer1")
    assert open_tasks(session) == ["Task_decide_exemption", "Task_deliver_notices"]
    complete(
        session,
        "Task_decide_exemption",
        {"decision": {"approved": approved, "ref_no": "LGJ-2027-8"}},
        "officer1",
    )


def _cancel(session, reason="项目转让"):
    from conftest import commit

    row = instances.start_instance(
        session, "idi_cancellation", {"policy_no": "IDI-LG-2026-001"}, "developer1", business_key="CX-1"
    )
    commit(session)
    complete(session, "Task_request_cancellation", {"cancellation_reason": reason}, "developer1", "CX-1")
    return row


def test_exempted_policy_cannot_be_cancelled(session, fixed_clock):  # LG-FUND-EXEMPT LG-FUND-NOCANCEL
    covered_policy(session, fixed_clock)
    _exempt(session)
    policy = policy_of(session, "LG-2026-001")
    assert policy.fund_exempt and not policy.cancellable
    assert session.scalars(select(Exemption)).one().status == "approved"
    row = _cancel(session)
    request = session.scalars(select(CancellationRequest)).one()
    assert request.status == "refused" and "LG-FUND-NOCANCEL" in request.outcome_reason
    assert instances.get_instance(session, row.id).status == "completed"
    assert policy_of(session, "LG-2026-001").status == "contractor_period"
    assert open_tasks(session, "CX-1") == []


def test_denied_exemption_leaves_cancellation_open(session, fixed_clock):  # LG-FUND-EXEMPT
    covered_policy(session, fixed_clock)
    _exempt(session, approved=False)
    assert policy_of(session, "LG-2026-001").cancellable
    _cancel(session)
    assert open_tasks(session, "CX-1") == ["Task_approve_cancellation"]


def test_ineligible_cover_is_not_put_to_the_authority(session, fixed_clock, tmp_path, monkeypatch):
    """LG-FUND-EXEMPT: cover short of the required warranty periods cannot be submitted."""
    override = tmp_path / "m.json"
    override.write_text(
        json.dumps({"exemption_minimum_years": {**master_data.get("exemption_minimum_years"), "5": 8}})
    )
    monkeypatch.setenv("IDIFLOW_MASTER_DATA", str(override))
    master_data.reload()
    try:
        covered_policy(session, fixed_clock)
        complete(session, "Task_request_exemption", {"request_exemption": True}, "developer1")
        exemption = session.scalars(select(Exemption)).one()
        assert not exemption.eligible and exemption.gaps == ["item 5: cover 6 years < required 8"]
        assert open_tasks(session) == ["Task_deliver_notices"]
    finally:
        monkeypatch.delenv("IDIFLOW_MASTER_DATA")
        master_data.reload()


def test_cancellation_without_exemption_is_a_normal_flow(session, fixed_clock):  # LG-FUND-NOCANCEL
    lifecycle = covered_policy(session, fixed_clock)
    _cancel(session)
    complete(session, "Task_approve_cancellation", {"approved": True}, "uw1", "CX-1")
    assert policy_of(session, "LG-2026-001").status == "cancelled"
    assert session.get(ProcessInstance, lifecycle.id).status == "cancelled"
    assert session.scalars(select(Timer).where(Timer.status == "waiting")).all() == []
    assert move_clock(session, fixed_clock, at(2029, 7, 2)) == 0
    assert policy_of(session, "LG-2026-001").status == "cancelled"
