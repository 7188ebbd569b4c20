"""`idiflow demo`: parties, agencies, users and a project in every phase, seeded through the engine."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from conftest import commit
from sqlalchemy import func, select
from test_policy_support import workflow_bundle

from engine import clock, tasks
from engine.cli import main
from engine.models import Incident, ProcessInstance
from handlers import demo
from handlers.claim_disputes import credit_records
from handlers.claim_models import Appraisal, Claim, ClaimPayment, ExpertBody, LossAssessment, Subrogation
from handlers.claims import count_breaches
from handlers.demo_catalogue import CLAIMS, CONTRACTORS, EXPERT_BODIES, PROJECTS
from handlers.models import (
    AgencyRegistration,
    Engagement,
    Exemption,
    Notice,
    Party,
    Payment,
    Policy,
    Project,
    Rectification,
)
from web.models import User

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def seeded(session, fixed_clock):
    """The demo seeded into a fresh database and committed; returns the summary."""
    summary = demo.seed(session, workflow_bundle())
    commit(session)
    session.expire_all()
    return summary


def _status(session, project_no: str) -> str | None:
    return session.scalars(
        select(Policy.status).join(Project).where(Project.project_no == project_no)
    ).first()


def _open(session, project_no: str) -> list[str]:
    return sorted(
        t.task_name
        for t in tasks.list_tasks(session, business_key=project_no, limit=500)
        if t.business_key == project_no
    )


def test_demo_seeds_a_project_in_every_phase(session, seeded):
    """Registered, quoted, signed, construction, contractor period, insured, partly expired, expired."""
    statuses = {
        p.project_no: (p.status, _status(session, p.project_no)) for p in session.scalars(select(Project))
    }
    assert statuses == {
        "LG-2016-001": ("completed", "expired"),
        "LG-2019-002": ("completed", "partly_expired"),
        "LG-2022-003": ("completed", "partly_expired"),
        "LG-2025-004": ("completed", "insured"),
        "LG-2027-005": ("completed", "contractor_period"),
        "LG-2029-006": ("registered", "construction"),
        "LG-2030-007": ("registered", "construction"),
        "LG-2030-008": ("registered", "quoted"),
        "LG-2030-009": ("registered", "quoted"),
        "LG-2030-010": ("refused", None),
    }
    assert seeded.projects == {p["no"]: p["expect"] for p in PROJECTS}
    assert {s for _, s in statuses.values()} >= {
        "quoted",
        "construction",
        "contractor_period",
        "insured",
        "partly_expired",
        "expired",
    }
    # What each case waits for on the demo's today.
    assert _open(session, "LG-2030-009") == ["Task_review_quote"]
    assert _open(session, "LG-2030-008") == ["Task_sign_policy"]
    assert _open(session, "LG-2030-007") == ["Task_amend_contract"]  # LG-BIND-CONTRACT flag blocks the gate
    assert _open(session, "LG-2029-006") == [
        "Task_rectify",
        "Task_rectify",
        "Task_rectify",
        "Task_review_major_report",
    ]
    assert _open(session, "LG-2027-005") == ["Task_decide_exemption", "Task_deliver_notices"]
    reason = session.scalars(select(Project.refusal_reason).where(Project.project_no == "LG-2030-010")).one()
    assert "outside Longgang" in reason  # LG-SCOPE


def test_demo_timeline_ran_on_the_simulated_clock(session, seeded):
    """DEC-DATES: cover dates stored from C; the clock ends at the demo's today, timers fired on the way."""
    assert clock.read_state(session).mode == "simulated"
    assert clock.ensure_utc(clock.read_state(session).now) == demo.DEMO_TODAY.astimezone(dt.UTC)
    insured = session.scalars(select(Policy).join(Project).where(Project.project_no == "LG-2025-004")).one()
    assert (insured.contractor_end, insured.cover_start, insured.end_items_6_8, insured.end_items_1_4) == (
        dt.date(2029, 6, 30),
        dt.date(2029, 7, 1),
        dt.date(2031, 6, 30),
        dt.date(2039, 6, 30),
    )
    expired = session.scalars(select(Policy).join(Project).where(Project.project_no == "LG-2016-001")).one()
    assert [h["status"] for h in expired.status_history][-3:] == ["insured", "partly_expired", "expired"]
    assert expired.status_history[-1]["at"].startswith("2030-04-28T16:00")  # 00:00 local after C+12y
    assert expired.fund_exempt and not expired.cancellable  # LG-FUND-EXEMPT; its cancellation was refused
    lifecycle = session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.business_key == "LG-2016-001", ProcessInstance.process_id == "idi_policy"
        )
    ).one()
    assert lifecycle.status == "completed"
    assert seeded.timers_fired >= 10
    assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_demo_risk_management_is_alive(session, seeded):
    """LG-RM-REG/INDEP/MAJOR, DEC-RM-LOOP, LG-BIND-LUMPSUM in the seeded data."""
    regs = {
        p.credit_code: r.status
        for r, p in session.execute(
            select(AgencyRegistration, Party).join(Party, Party.id == AgencyRegistration.party_id)
        )
    }
    assert sorted(regs.values()) == ["applied", "refused", "registered", "registered", "registered"]
    refused = session.scalars(select(Engagement).where(Engagement.status == "refused")).one()
    assert "LG-RM-INDEP" in refused.reason and "subsidiary" in refused.reason
    orders = session.scalars(select(Rectification).order_by(Rectification.id)).all()
    assert [o.status for o in orders] == ["closed", "open", "open", "open"]
    assert (
        orders[1].escalation_level == 2
    )  # serious, overdue: reminder, then insurer and developer
    assert [t.lane for t in tasks.list_tasks(session, lanes=["authority_officer"], limit=50)].count(
        "authority_officer"
    ) == 3  # major-risk copy, exemption decision, agency registration
    assert [
        p.accepted
        for p in session.scalars(
            select(Payment)
            .join(Policy)
            .join(Project)
            .where(Project.project_no == "LG-2029-006")
            .order_by(Payment.id)
        )
    ] == [False, True]
    assert session.scalars(select(Exemption.status).order_by(Exemption.id)).all() == [
        "approved",
        "denied",
        "requested",
    ]
    undelivered = session.scalars(select(Notice.unit_no).where(Notice.delivered_on.is_(None))).all()
    assert sorted(undelivered) == ["6-601", "6-602"]  # LG-NOTICE-DELIVER: two units still to hand over


def _claim_state(session, claim: Claim) -> tuple[str, str, list[str]]:
    return claim.status, claim.outcome, _open(session, claim.claim_no)


def test_demo_has_claims_in_every_state(session, seeded):
    """Issue 5 item 7: every claim of the catalogue ends where its steps leave it, driven through the engine:
    awaiting survey (late), surveyed, rejected, appraisal, loss assessment, repair ordered, awaiting acceptance,
    paid, contractor-tracked, expired, not in scope, withdrawn."""
    claims = {c.claim_no: c for c in session.scalars(select(Claim))}
    assert sorted(seeded.claim_nos.values()) == sorted(claims) == sorted(seeded.claims)
    states = {key: _claim_state(session, claims[no]) for key, no in seeded.claim_nos.items()}
    assert states == {spec["key"]: (spec["expect"][0], spec["expect"][1], sorted(spec["expect"][2]))
                      for spec in CLAIMS}
    assert {status for status, _, _ in states.values()} >= {
        "routed_insurer", "surveyed", "appraisal_entrusted", "loss_assessment_entrusted", "repair_ordered",
        "repair_completed", "contractor_pending", "closed"}
    assert {outcome for _, outcome, _ in states.values()} >= {
        "paid", "rejected", "expired", "not_in_scope", "withdrawn"}
    routes = {key: claims[no].route for key, no in seeded.claim_nos.items()}
    assert (routes["contractor"], routes["expired"], routes["not_in_scope"], routes["paid_subrogated"]) == (
        "contractor", "expired", "not_in_scope", "insurer")  # DEC-ROUTE on the stored dates
    assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_demo_claims_escalate_to_the_supervisor_and_recover(session, seeded):
    """DEC-SLA, LG-CLM-SUBRO, LG-CREDIT, LG-DSP-*: the late survey waits in the supervisor's inbox; the late
    repair start was handled with a reminder; subrogation recovered and fed a credit record; the bodies."""
    late = seeded.claim_nos["awaiting_survey_late"]
    supervisor = [(t.business_key, t.task_name, t.title)
                  for t in tasks.list_tasks(session, lanes=["claims_supervisor"], limit=50)]
    assert supervisor == [(late, "Task_handle_breach_survey", "处理超时：查勘")]
    repair = session.scalars(select(Claim).where(Claim.claim_no == seeded.claim_nos["repair_ordered"])).one()
    assert [(b.sla, b.escalated_to) for b in repair.breaches] == [("repair_start", "claims_supervisor")]
    assert [h["event"] for h in repair.history if "event" in h] == ["sla_breach", "sla_breach_handled"]
    assert count_breaches(session) == 2
    paid = session.scalars(select(Claim).where(Claim.claim_no == seeded.claim_nos["paid_subrogated"])).one()
    [subrogation] = session.scalars(select(Subrogation)).all()
    assert (subrogation.claim_id, subrogation.against_party_code, subrogation.amount_recovered) == (
        paid.id, CONTRACTORS["C1"]["credit_code"], Decimal("12000.00"))
    [credit] = credit_records(session)
    assert (credit.subject_code, credit.event_type, credit.claim_id) == (
        CONTRACTORS["C1"]["credit_code"], "established_defect_liability", paid.id)
    assert [p.amount for p in session.scalars(select(ClaimPayment))] == [Decimal("12000.00")]
    bodies = {b.credit_code for b in session.scalars(select(ExpertBody))}
    assert bodies == {b["credit_code"] for b in EXPERT_BODIES}
    [appraisal] = session.scalars(select(Appraisal)).all()
    [assessment] = session.scalars(select(LossAssessment)).all()
    assert (appraisal.result, assessment.licence_no, assessment.fee_payer) == ("", "浙司鉴-330301", "shared")
    withdrawn = session.scalars(select(Claim).where(Claim.claim_no == seeded.claim_nos["withdrawn"])).one()
    assert withdrawn.history[-1]["note"] == "withdrawn"


def test_demo_is_idempotent(session, seeded):
    counts = (
        session.scalar(select(func.count()).select_from(Project)),
        session.scalar(select(func.count()).select_from(ProcessInstance)),
    )
    again = demo.seed(session, workflow_bundle())
    commit(session)
    assert again.projects == {} and "not seeded again" in again.notes[0]
    assert counts == (
        session.scalar(select(func.count()).select_from(Project)),
        session.scalar(select(func.count()).select_from(ProcessInstance)),
    )


def test_demo_refuses_a_clock_past_its_start(session, fixed_clock):
    clock.simulate(session, dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(demo.DemoRefused, match="new database"):
        demo.seed(session, workflow_bundle())


def test_cli_demo_if_empty_seeds_once_and_fast(db_url):
    """`idiflow demo --if-empty` as scripts/run.sh calls it: users, projects, under 60 s; then nothing."""
    runner = CliRunner()
    started = time.perf_counter()
    first = runner.invoke(main, ["--db", db_url, "demo", "--if-empty"], catch_exceptions=False)
    elapsed = time.perf_counter() - started
    assert first.exit_code == 0, first.output
    assert elapsed < 60, elapsed
    assert "project LG-2025-004  policy insured" in first.output
    assert "password demo-developer" in first.output
    second = runner.invoke(main, ["--db", db_url, "demo", "--if-empty"], catch_exceptions=False)
    assert "nothing to do" in second.output
    from conftest import make_db

    engine, factory = make_db(db_url)
    try:
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Project)) == len(PROJECTS)
            owner = session.scalars(select(User).where(User.username == "owner")).one()
            assert owner.attributes["units"] == ["11-101", "11-102"]  # the owner portal's units
            engineer = session.scalars(select(User).where(User.username == "risk_engineer")).one()
            assert engineer.attributes["agency_code"] == "91330300RMA0000001"  # agency A1's engineer
    finally:
        engine.dispose()
