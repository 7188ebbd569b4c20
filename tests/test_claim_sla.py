"""Claim service levels on the simulated clock: due dates in the inbox, breaches on the right day, escalation
to the claims supervisor and the breach count (DEC-SLA, DEC-DAYS)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from test_claim_support import (
    COVERED,
    SURVEY,
    advance_to,
    at,
    claim_of,
    complete,
    deploy_claims,
    gen_policy,
    open_tasks,
    report,
    task_row,
)

from engine import tasks
from engine.errors import FormInvalid
from engine.models import AuditEvent, HumanTask
from handlers.claims import count_breaches

pytestmark = pytest.mark.backends("sqlite")
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _policy(session, fixed_clock):
    deploy_claims(session)
    gen_policy(session)


def _end_of(year: int, month: int, day: int) -> dt.datetime:
    """24:00 Asia/Shanghai of a day: the DEC-DAYS deadline instant."""
    return at(year, month, day, 0) + dt.timedelta(days=1)


def _supervisor_inbox(session, claim_no: str) -> list[str]:
    return [t.task_name for t in tasks.list_tasks(session, lanes=["claims_supervisor"]) if t.business_key == claim_no]


def _assert_breaches_at(session, deadline: dt.datetime, sla: str, claim_no: str) -> None:
    """DEC-SLA: nothing before the deadline; just after it the breach is counted and the claims supervisor
    has a work item for it in their inbox."""
    assert advance_to(session, deadline - SECOND) == [], f"{sla} breached before {deadline}"
    assert count_breaches(session, sla) == 0
    assert _supervisor_inbox(session, claim_no) == []
    fired = advance_to(session, deadline + SECOND)
    assert [f.task_name for f in fired] == [f"Timer_{sla}_sla"]
    assert count_breaches(session, sla) == 1
    claim = claim_of(session, claim_no)
    assert claim.breach_count == 1 and [(b.sla, b.escalated_to) for b in claim.breaches] == [
        (sla, "claims_supervisor")
    ]
    assert _supervisor_inbox(session, claim_no) == [f"Task_handle_breach_{sla}"]


def test_decision_due_saturday_moves_to_monday(session, fixed_clock):
    """DEC-SLA DEC-DAYS: registered Saturday 2031-03-01, the 7-day decision falls on Saturday 2031-03-08 and
    moves to Monday 2031-03-10; the breach fires only after 24:00 of that Monday."""
    claim_no = report(session, fixed_clock, at(2031, 3, 1, 10), category=4)
    fixed_clock.set(at(2031, 3, 2, 10))
    complete(session, claim_no, "Task_survey", SURVEY)
    assert task_row(session, claim_no, "Task_decide_coverage").due_at == _end_of(2031, 3, 10)
    assert advance_to(session, _end_of(2031, 3, 8)) == []  # the unmoved deadline would have fired here
    _assert_breaches_at(session, _end_of(2031, 3, 10), "decision", claim_no)
    # Non-interrupting: the late task stays with the handler; the supervisor has a work item (audited).
    assert open_tasks(session, claim_no) == ["Task_decide_coverage", "Task_handle_breach_decision"]
    assert task_row(session, claim_no, "Task_handle_breach_decision").title == "处理超时：核定"
    [escalation] = session.scalars(select(AuditEvent).where(AuditEvent.action == "escalate")).all()
    assert (
        escalation.data["to_role"] == "claims_supervisor" and escalation.task_name == "Task_decide_coverage"
    )


def test_survey_due_two_days_after_the_report_moved_off_the_weekend(session, fixed_clock):
    """DEC-SLA DEC-DAYS: reported Friday 2030-01-11, the 2-day survey falls on Sunday → due end of Monday."""
    claim_no = report(session, fixed_clock, at(2030, 1, 11, 22, 45), category=5)
    assert task_row(session, claim_no, "Task_survey").due_at == _end_of(2030, 1, 14)
    _assert_breaches_at(session, _end_of(2030, 1, 14), "survey", claim_no)
    assert open_tasks(session, claim_no) == ["Task_handle_breach_survey", "Task_survey"]
    assert task_row(session, claim_no, "Task_handle_breach_survey").title == "处理超时：查勘"


def test_supervisor_reassigns_the_late_survey_and_the_breach_stays_counted(session, fixed_clock):
    """DEC-SLA: the supervisor's work item reassigns the late survey to another handler; the survey stays
    open (now with that handler), the breach stays counted and the action is in the claim's history."""
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    advance_to(session, _end_of(2030, 1, 14) + SECOND)
    action = {"breach_action": {"action": "reassigned", "reassign_to": "handler2", "note": "原经办人休假"}}
    complete(session, claim_no, "Task_handle_breach_survey", action, actor="supervisor1")
    assert _supervisor_inbox(session, claim_no) == []
    survey = task_row(session, claim_no, "Task_survey")
    assert (survey.lane, survey.assignee) == ("claims_handler", "handler2")
    claim = claim_of(session, claim_no)
    assert claim.breach_count == 1 and claim.status == "routed_insurer"
    assert [h["event"] for h in claim.history if "event" in h] == ["sla_breach", "sla_breach_handled"]
    assert "reassigned to handler2; 原经办人休假" in claim.history[-1]["note"]
    complete(session, claim_no, "Task_survey", SURVEY, actor="handler2")
    assert open_tasks(session, claim_no) == ["Task_decide_coverage"]


def test_reassignment_without_a_user_is_refused_by_the_form(session, fixed_clock):  # DEC-SLA
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    advance_to(session, _end_of(2030, 1, 14) + SECOND)
    with pytest.raises(FormInvalid):
        complete(session, claim_no, "Task_handle_breach_survey", {"breach_action": {"action": "reassigned"}})


def test_survey_due_date_skips_a_statutory_holiday(session, fixed_clock):
    """DEC-DAYS: reported Monday 2025-09-29, day 2 is National Day (a statutory holiday to 10-08) → 10-09."""
    gen_policy(session, completion="2023-06-30", policy_no="IDI-CLM-T2")
    claim_no = report(session, fixed_clock, at(2025, 9, 29, 10), category=4, policy_no="IDI-CLM-T2")
    assert task_row(session, claim_no, "Task_survey").due_at == _end_of(2025, 10, 9)


def test_survey_on_time_is_no_breach(session, fixed_clock):  # DEC-SLA
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    fixed_clock.set(at(2030, 1, 14, 23, 0))
    complete(session, claim_no, "Task_survey", SURVEY)
    advance_to(session, at(2030, 1, 16, 12))
    assert count_breaches(session) == 0


def test_complex_claim_has_thirty_days_to_decide(session, fixed_clock):
    """DEC-SLA: marked complex at survey, the decision is due 30 days after the report (2030-02-09, Saturday,
    moved to Monday 2030-02-11), not 7."""
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    complete(
        session, claim_no, "Task_survey", {"survey": {"findings": "多户渗漏，需检测", "is_complex": True}}
    )
    assert task_row(session, claim_no, "Task_decide_coverage").due_at == _end_of(2030, 2, 11)
    assert advance_to(session, _end_of(2030, 1, 17) + SECOND) == []
    _assert_breaches_at(session, _end_of(2030, 2, 11), "decision", claim_no)


def test_rejection_notice_due_three_days_after_the_decision(session, fixed_clock):
    """DEC-SLA LG-COV-EXCL: decided Thursday 2030-01-17, notice due Sunday 01-20 → end of Monday 01-21."""
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    complete(session, claim_no, "Task_survey", SURVEY)
    fixed_clock.set(at(2030, 1, 17, 16))
    complete(
        session,
        claim_no,
        "Task_decide_coverage",
        {"decision": {"covered": False, "exclusion": "third_party", "reasons": "邻户装修破坏"}},
    )
    assert task_row(session, claim_no, "Task_send_rejection_notice").due_at == _end_of(2030, 1, 21)
    _assert_breaches_at(session, _end_of(2030, 1, 21), "rejection_notice", claim_no)


@pytest.mark.parametrize(
    "method, task, sla, lane",
    [
        ("repair", "Task_start_repair", "repair_start", "repairer"),
        ("payment", "Task_pay_indemnity", "payment", "claims_handler"),
    ],
)
def test_repair_start_or_payment_due_seven_days_after_agreement(
    session, fixed_clock, method, task, sla, lane
):
    """DEC-SLA: agreed Tuesday 2030-01-15, repair must start (or payment be made) by the end of 01-22."""
    claim_no = report(session, fixed_clock, at(2030, 1, 10, 10), category=5)
    complete(session, claim_no, "Task_survey", SURVEY)
    complete(session, claim_no, "Task_decide_coverage", COVERED)
    fixed_clock.set(at(2030, 1, 15, 11))
    complete(session, claim_no, "Task_agree_settlement", {"settlement": {"method": method, "amount": "3000"}})
    complete(session, claim_no, "Task_owner_confirm_settlement", {"owner_reply": {"accepts": True}}, "owner1")
    assert task_row(session, claim_no, task).due_at == _end_of(2030, 1, 22)
    _assert_breaches_at(session, _end_of(2030, 1, 22), sla, claim_no)
    assert session.scalars(select(HumanTask.lane).where(HumanTask.task_name == task)).one() == lane
