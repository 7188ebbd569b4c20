"""Intake at any hour and routing on the policy's stored windows (LG-CLM-CENTER DEC-COVDATE DEC-ROUTE)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from test_claim_support import (
    POLICY_NO,
    at,
    claim_of,
    complete,
    deploy_claims,
    gen_policy,
    open_tasks,
    report,
)

from engine import instances
from engine.models import ProcessInstance
from handlers import intake
from handlers.claims import ClaimRefused

pytestmark = pytest.mark.backends("sqlite")

DAY = dt.timedelta(days=1)
#: C → (contractor end, S, items 6-8 end, item 5 end, items 1-4 end) per DEC-DATES
WINDOWS = {
    "2027-06-30": ("2029-06-30", "2029-07-01", "2031-06-30", "2035-06-30", "2039-06-30"),
    "2028-02-29": ("2030-02-28", "2030-03-01", "2032-02-29", "2036-02-29", "2040-02-29"),
}
#: edge → (category judged, index in WINDOWS, expected route the day before / of / after)
EDGES = {
    "contractor_end": (4, 0, ("contractor", "contractor", "insurer")),
    "cover_start": (4, 1, ("contractor", "insurer", "insurer")),
    "end_items_6_8": (7, 2, ("insurer", "insurer", "expired")),
    "end_item_5": (5, 3, ("insurer", "insurer", "expired")),
    "end_items_1_4": (1, 4, ("insurer", "insurer", "expired")),
}


@pytest.fixture
def policy(session, fixed_clock):
    deploy_claims(session)
    return gen_policy


def _local_noon(day: dt.date) -> dt.datetime:
    return at(day.year, day.month, day.day, 12)


@pytest.mark.parametrize("edge", sorted(EDGES))
@pytest.mark.parametrize("completion", sorted(WINDOWS))
def test_route_the_day_before_of_and_after_each_window_edge(session, fixed_clock, policy, completion, edge):
    """DEC-ROUTE DEC-COVDATE LG-COV-START LG-COV-1..8: each window edge judged on three consecutive days."""
    policy(session, completion)
    category, index, expected = EDGES[edge]
    edge_day = dt.date.fromisoformat(WINDOWS[completion][index])
    got = []
    for offset in (-1, 0, 1):
        claim_no = report(session, fixed_clock, _local_noon(edge_day + offset * DAY), category=category)
        claim = claim_of(session, claim_no)
        assert claim.coverage_date == edge_day + offset * DAY
        got.append(claim.route)
    assert tuple(got) == expected


@pytest.mark.parametrize("completion", sorted(WINDOWS))
def test_local_date_of_a_late_night_report_wins_over_its_utc_date(session, fixed_clock, policy, completion):
    """DEC-COVDATE: 23:30 CST on the contractor's last day is still the contractor's; 07:30 CST
    on S (23:30 UTC of the previous day) is already the insurer's."""
    policy(session, completion)
    contractor_end = dt.date.fromisoformat(WINDOWS[completion][0])
    late = at(contractor_end.year, contractor_end.month, contractor_end.day, 23, 30)
    claim = claim_of(session, report(session, fixed_clock, late))
    assert (claim.reported_on, claim.route) == (contractor_end, "contractor")
    early_utc = dt.datetime.combine(contractor_end, dt.time(23, 30), dt.UTC)  # 07:30 CST the next day
    claim = claim_of(session, report(session, fixed_clock, early_utc))
    assert claim.reported_at.date() == contractor_end
    assert (claim.reported_on, claim.route) == (contractor_end + DAY, "insurer")
    assert claim.claim_no.startswith(f"CLM-{contractor_end + DAY:%Y%m%d}-")


def test_report_at_night_gets_a_claim_number_and_its_own_instance_at_once(session, fixed_clock, policy):
    """LG-CLM-CENTER: 03:10 on a Sunday: a claim number at once, an instance of its own keyed by it."""
    policy(session)
    first = report(session, fixed_clock, at(2030, 1, 13, 3, 10), channel="hotline")
    second = report(session, fixed_clock, at(2030, 1, 13, 3, 11), channel="portal")
    assert (first, second) == ("CLM-20300113-0001", "CLM-20300113-0002")
    claim = claim_of(session, first)
    row = session.get(ProcessInstance, claim.instance_id)
    assert (row.process_id, row.business_key, row.status) == ("idi_claim", first, "running")
    assert instances.variables(session, row.id)["policy_no"] == POLICY_NO
    assert open_tasks(session, first) == ["Task_survey"]
    assert session.scalars(select(ProcessInstance.business_key)).all() == [first, second]


def test_owner_is_told_the_route_why_and_the_dates(session, fixed_clock, policy):
    """DEC-ROUTE: the notice names the route, the coverage date and the window it was judged against."""
    policy(session)
    contractor = claim_of(session, report(session, fixed_clock, at(2028, 5, 1, 10)))
    assert contractor.route == "contractor" and "2027-06-30" in contractor.notice \
        and "2029-06-30" in contractor.notice and "2028-05-01" in contractor.notice
    insurer = claim_of(session, report(session, fixed_clock, at(2030, 1, 10, 10), category=5))
    assert insurer.route == "insurer" and "2029-07-01" in insurer.notice and "2035-06-30" in insurer.notice
    expired = claim_of(session, report(session, fixed_clock, at(2031, 7, 1, 10), category=8))
    assert expired.route == "expired" and "2031-06-30" in expired.notice and expired.status == "closed"
    assert expired.outcome == "expired"
    outside = claim_of(session, report(session, fixed_clock, at(2030, 1, 10, 10), category=9))
    assert outside.route == "not_in_scope" and outside.outcome == "not_in_scope" and "1-8" in outside.notice


def test_contractor_defect_is_tracked_until_the_contractor_confirms(session, fixed_clock, policy):
    """LG-COV-START DEC-ROUTE: no insurer steps; the claim closes when the contractor confirms the repair."""
    policy(session)
    claim_no = report(session, fixed_clock, at(2028, 5, 1, 10))
    assert open_tasks(session, claim_no) == ["Task_contractor_repair"]
    complete(session, claim_no, "Task_contractor_repair", {"contractor_repair": {"repaired": False}}, "con1")
    assert open_tasks(session, claim_no) == ["Task_contractor_repair"]
    complete(session, claim_no, "Task_contractor_repair", {"contractor_repair": {"repaired": True}}, "con1")
    claim = claim_of(session, claim_no)
    assert (claim.status, claim.outcome, claim.settlement_method) == ("closed", "contractor_repaired", "")
    assert open_tasks(session, claim_no) == []


def test_accepted_evidence_of_an_earlier_date_replaces_the_coverage_date(session, fixed_clock, policy):
    """DEC-COVDATE: reported after the item 6-8 end, but the survey accepts evidence it appeared before it."""
    policy(session)
    claim_no = report(session, fixed_clock, at(2029, 7, 3, 10), category=7)
    assert claim_of(session, claim_no).route == "insurer"
    complete(session, claim_no, "Task_survey", {"survey": {"findings": "管道渗漏，物业报修单 2029-06-20",
                                                            "evidence_accepted": True,
                                                            "manifested_on": "2029-06-20"}})
    claim = claim_of(session, claim_no)
    assert (claim.coverage_date, claim.manifested_on) == (dt.date(2029, 6, 20), dt.date(2029, 6, 20))
    assert claim.route == "contractor"
    assert open_tasks(session, claim_no) == ["Task_contractor_repair"]


def test_evidence_not_accepted_keeps_the_report_date(session, fixed_clock, policy):  # DEC-COVDATE
    policy(session)
    claim_no = report(session, fixed_clock, at(2029, 7, 3, 10), category=7)
    complete(session, claim_no, "Task_survey", {"survey": {"findings": "无证据", "evidence_accepted": False,
                                                            "manifested_on": "2029-06-20"}})
    claim = claim_of(session, claim_no)
    assert (claim.coverage_date, claim.route) == (dt.date(2029, 7, 3), "insurer")
    assert open_tasks(session, claim_no) == ["Task_decide_coverage"]


def test_intake_by_unit_and_refusals(session, fixed_clock, policy):
    """LG-CLM-CENTER: the unit finds the policy; a bad channel or category is refused with the reason."""
    policy(session)
    fixed_clock.set(at(2030, 1, 10, 10))
    first = intake.report_defect(session, 5, "渗漏", "owner1", "portal", unit="1-102")
    assert claim_of(session, first).policy_id is not None
    gen_policy(session, policy_no="IDI-CLM-T2")  # also lists 1-101 and 1-102
    with pytest.raises(ClaimRefused, match="2 projects"):
        intake.report_defect(session, 5, "渗漏", "owner1", "portal", unit="1-102")
    claim_no = intake.report_defect(session, 5, "渗漏", "owner1", "portal", unit="LG-M-T2/1-102")
    assert claim_of(session, claim_no).policy_id != claim_of(session, first).policy_id
    with pytest.raises(ClaimRefused, match="channel"):
        intake.report_defect(session, 5, "x", "owner1", "fax", policy_no=POLICY_NO)
    with pytest.raises(ClaimRefused, match="whole number"):
        intake.report_defect(session, "5", "x", "owner1", "portal", policy_no=POLICY_NO)
