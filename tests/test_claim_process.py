"""The insurer claim through the engine: decision, rejection and appraisal, agreement and loss assessment,
repair with rework, payment, subrogation, credit feedback (LG-CLM-PROC LG-COV-EXCL LG-DSP-* LG-CLM-SUBRO)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from test_claim_support import (
    CONTRACTOR_CODE,
    at,
    claim_of,
    complete,
    deploy_claims,
    gen_body,
    gen_policy,
    open_tasks,
    to_decision,
    to_settlement,
)

from engine.errors import FormInvalid
from handlers.claim_disputes import credit_records
from handlers.claim_models import Appraisal, ClaimPayment, Decision, LossAssessment, RepairOrder, Subrogation

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(autouse=True)
def _policy(session, fixed_clock):
    deploy_claims(session)
    gen_policy(session)


def _one(session, model, claim_no):
    claim = claim_of(session, claim_no)
    return session.scalars(select(model).where(model.claim_id == claim.id).order_by(model.id.desc())).first()


def _reject(session, claim_no, exclusion="improper_use"):
    complete(
        session,
        claim_no,
        "Task_decide_coverage",
        {"decision": {"covered": False, "exclusion": exclusion, "reasons": "业主自行改造卫生间防水层"}},
    )
    complete(
        session,
        claim_no,
        "Task_send_rejection_notice",
        {"rejection": {"reasons": "业主自行改造卫生间防水层"}},
    )


@pytest.mark.parametrize("exclusion", ["improper_use", "third_party", "force_majeure"])
def test_exclusion_rejects_with_a_notice_giving_reasons(session, fixed_clock, exclusion):
    """LG-COV-EXCL: the rejection notice names the exclusion, its reasons and the right to an appraisal."""
    claim_no = to_decision(session, fixed_clock)
    _reject(session, claim_no, exclusion)
    decision = _one(session, Decision, claim_no)
    assert not decision.covered and decision.exclusion == exclusion and decision.notice_sent_at is not None
    assert "LG-COV-EXCL" in decision.notice_text and "业主自行改造" in decision.notice_text
    assert "LG-DSP-APPRAISAL" in claim_of(session, claim_no).notice
    assert open_tasks(session, claim_no) == ["Task_owner_dispute"]
    complete(session, claim_no, "Task_owner_dispute", {"dispute": {"disputes": False}}, "owner1")
    claim = claim_of(session, claim_no)
    assert (claim.status, claim.outcome) == ("closed", "rejected")


def test_a_rejection_must_name_an_exclusion(session, fixed_clock):  # LG-COV-EXCL
    claim_no = to_decision(session, fixed_clock)
    with pytest.raises(FormInvalid, match="exclusion"):
        complete(
            session, claim_no, "Task_decide_coverage", {"decision": {"covered": False, "reasons": "不像缺陷"}}
        )
    session.rollback()
    assert claim_of(session, claim_no).status == "surveyed" and _one(session, Decision, claim_no) is None
    assert open_tasks(session, claim_no) == ["Task_decide_coverage"]


def _dispute(session, claim_no, body_code="JD-APR-1"):
    _reject(session, claim_no)
    complete(
        session,
        claim_no,
        "Task_owner_dispute",
        {"dispute": {"disputes": True, "grounds": "非使用不当"}},
        "owner1",
    )
    complete(session, claim_no, "Task_propose_appraisal_body", {"appraisal_body": {"body_code": body_code}})
    complete(
        session, claim_no, "Task_owner_agree_appraisal_body", {"body_agreement": {"agree": True}}, "owner1"
    )


def test_appraisal_finds_covered_insurer_pays_fee_and_claim_resumes(session, fixed_clock):
    """LG-DSP-APPRAISAL: a jointly entrusted qualified body; covered → insurer pays the fee; claim resumes."""
    gen_body(session, "JD-APR-1")
    claim_no = to_decision(session, fixed_clock)
    _dispute(session, claim_no)
    assert open_tasks(session, claim_no) == ["Task_record_appraisal"]
    complete(
        session,
        claim_no,
        "Task_record_appraisal",
        {
            "appraisal": {
                "result": "covered",
                "fee": "8000.00",
                "report_no": "JD-2030-17",
                "responsible_party_code": CONTRACTOR_CODE,
            }
        },
        "appraiser1",
    )
    appraisal = _one(session, Appraisal, claim_no)
    assert (appraisal.result, appraisal.fee_payer, appraisal.fee) == (
        "covered",
        "insurer",
        Decimal("8000.00"),
    )
    assert appraisal.jointly_entrusted_by == ["owner", "insurer"]
    claim = claim_of(session, claim_no)
    assert (claim.responsible_party_code, claim.responsible_basis) == (CONTRACTOR_CODE, "appraisal")
    assert open_tasks(session, claim_no) == ["Task_agree_settlement"]


def test_appraisal_finds_not_covered_owner_pays_fee_and_claim_closes(
    session, fixed_clock
):  # LG-DSP-APPRAISAL
    gen_body(session, "JD-APR-1")
    claim_no = to_decision(session, fixed_clock)
    _dispute(session, claim_no)
    complete(
        session,
        claim_no,
        "Task_record_appraisal",
        {"appraisal": {"result": "not_covered", "fee": "6000"}},
        "appraiser1",
    )
    assert _one(session, Appraisal, claim_no).fee_payer == "owner"
    claim = claim_of(session, claim_no)
    assert (claim.status, claim.outcome) == ("closed", "rejected_after_appraisal")
    assert open_tasks(session, claim_no) == []


def test_unqualified_appraisal_body_is_refused_and_another_chosen(session, fixed_clock):  # LG-DSP-APPRAISAL
    gen_body(session, "JD-NOQ", qualification_no="")
    gen_body(session, "JD-APR-1")
    claim_no = to_decision(session, fixed_clock)
    _dispute(session, claim_no, body_code="JD-NOQ")
    assert open_tasks(session, claim_no) == ["Task_propose_appraisal_body"]
    assert _one(session, Appraisal, claim_no) is None
    complete(session, claim_no, "Task_propose_appraisal_body", {"appraisal_body": {"body_code": "JD-APR-1"}})
    complete(
        session, claim_no, "Task_owner_agree_appraisal_body", {"body_agreement": {"agree": False}}, "owner1"
    )
    assert open_tasks(session, claim_no) == ["Task_propose_appraisal_body"]


def _agree(session, claim_no, accepts=True, **settlement):
    settlement = {
        "method": "repair",
        "amount": "12000.00",
        "performer": "third_party",
        "repair_org_code": "REP-1",
        "repair_org_name": "龙港维修公司",
        "scope": "卫生间防水",
        **settlement,
    }
    complete(session, claim_no, "Task_agree_settlement", {"settlement": settlement})
    complete(
        session, claim_no, "Task_owner_confirm_settlement", {"owner_reply": {"accepts": accepts}}, "owner1"
    )


def test_repair_by_third_party_with_rework_then_payment_and_subrogation(session, fixed_clock):
    """LG-CLM-PROC LG-CLM-SUBRO LG-CREDIT: repair order, owner refuses once (rework), accepts, bill paid,
    subrogation against the unit found in survey, established liability writes a credit record."""
    survey = {"survey": {"findings": "防水层施工缺陷", "responsible_party_code": CONTRACTOR_CODE}}
    claim_no = to_settlement(session, fixed_clock, survey=survey)
    _agree(session, claim_no)
    assert open_tasks(session, claim_no) == ["Task_start_repair"]
    complete(session, claim_no, "Task_start_repair", {"repair_start": {"started": True}}, "rep1")
    complete(session, claim_no, "Task_complete_repair", {"repair": {"cost": "11800.00"}}, "rep1")
    complete(
        session,
        claim_no,
        "Task_owner_acceptance",
        {"acceptance": {"accepted": False, "remarks": "仍渗漏"}},
        "owner1",
    )
    assert open_tasks(session, claim_no) == ["Task_complete_repair"]
    complete(session, claim_no, "Task_complete_repair", {"repair": {"cost": "12500.00"}}, "rep1")
    complete(session, claim_no, "Task_owner_acceptance", {"acceptance": {"accepted": True}}, "owner1")
    order = _one(session, RepairOrder, claim_no)
    assert (order.performer, order.rework_count, order.status, order.cost) == (
        "third_party",
        1,
        "accepted",
        Decimal("12500.00"),
    )
    payment = _one(session, ClaimPayment, claim_no)
    assert (payment.kind, payment.payee, payment.amount) == ("repair", "龙港维修公司", Decimal("12500.00"))
    assert open_tasks(session, claim_no) == ["Task_pursue_subrogation"]
    complete(
        session,
        claim_no,
        "Task_pursue_subrogation",
        {
            "subrogation": {
                "amount_claimed": "12500.00",
                "amount_recovered": "10000.00",
                "liability_established": True,
            }
        },
    )
    sub = _one(session, Subrogation, claim_no)
    assert (sub.against_party_code, sub.basis, sub.amount_recovered) == (
        CONTRACTOR_CODE,
        "survey",
        Decimal("10000.00"),
    )
    [record] = credit_records(session, CONTRACTOR_CODE)
    assert record.event_type == "established_defect_liability" and claim_no in record.evidence_ref
    assert record.sent_to == "authority_officer"
    claim = claim_of(session, claim_no)
    assert (claim.status, claim.outcome) == ("closed", "paid")


def test_subrogation_without_established_liability_sends_no_credit_feedback(session, fixed_clock):
    """LG-CLM-SUBRO LG-CREDIT: only established liability feeds the credit evaluation."""
    survey = {"survey": {"findings": "x", "responsible_party_code": CONTRACTOR_CODE}}
    claim_no = to_settlement(session, fixed_clock, survey=survey)
    _agree(session, claim_no, method="payment")
    complete(session, claim_no, "Task_pay_indemnity", {"payment": {"reference": "PAY-1"}})
    complete(
        session,
        claim_no,
        "Task_pursue_subrogation",
        {
            "subrogation": {
                "amount_claimed": "12000.00",
                "amount_recovered": "0",
                "liability_established": False,
            }
        },
    )
    assert credit_records(session) == []
    assert claim_of(session, claim_no).outcome == "paid"


def test_cash_settlement_pays_the_owner_and_closes_without_subrogation(session, fixed_clock):  # LG-CLM-PROC
    claim_no = to_settlement(session, fixed_clock)
    _agree(session, claim_no, method="payment", amount="9000.50")
    complete(session, claim_no, "Task_pay_indemnity", {"payment": {"reference": "PAY-9"}})
    payment = _one(session, ClaimPayment, claim_no)
    assert (payment.kind, payment.payee, payment.amount) == ("indemnity", "owner1", Decimal("9000.50"))
    assert claim_of(session, claim_no).outcome == "paid" and open_tasks(session, claim_no) == []


def _amount_dispute(session, claim_no, body_code, fee_payer="shared"):
    _agree(session, claim_no, accepts=False, method="payment", amount="5000.00")
    assert open_tasks(session, claim_no) == ["Task_propose_loss_assessor"]
    complete(
        session,
        claim_no,
        "Task_propose_loss_assessor",
        {"loss_body": {"body_code": body_code, "fee_payer": fee_payer}},
    )
    complete(
        session, claim_no, "Task_owner_agree_loss_assessor", {"body_agreement": {"agree": True}}, "owner1"
    )


def test_amount_set_by_a_licensed_loss_assessor_binds_and_fee_payer_is_recorded(session, fixed_clock):
    """LG-DSP-AMOUNT: an unlicensed (or lapsed) body is refused; a licensed one's amount is paid."""
    gen_body(session, "SF-NOLIC", judicial_licence_no="")
    gen_body(session, "SF-LAPSED", judicial_licence_no="司鉴-01", valid_until=dt.date(2029, 12, 31))
    gen_body(session, "SF-OK", judicial_licence_no="司鉴-02", valid_until=dt.date(2035, 12, 31))
    claim_no = to_settlement(session, fixed_clock)
    _amount_dispute(session, claim_no, "SF-NOLIC")
    assert open_tasks(session, claim_no) == ["Task_propose_loss_assessor"]
    assert _one(session, LossAssessment, claim_no) is None
    complete(
        session,
        claim_no,
        "Task_propose_loss_assessor",
        {"loss_body": {"body_code": "SF-LAPSED", "fee_payer": "owner"}},
    )
    complete(
        session, claim_no, "Task_owner_agree_loss_assessor", {"body_agreement": {"agree": True}}, "owner1"
    )
    assert open_tasks(session, claim_no) == ["Task_propose_loss_assessor"]
    complete(
        session,
        claim_no,
        "Task_propose_loss_assessor",
        {"loss_body": {"body_code": "SF-OK", "fee_payer": "shared"}},
    )
    complete(
        session, claim_no, "Task_owner_agree_loss_assessor", {"body_agreement": {"agree": True}}, "owner1"
    )
    complete(
        session,
        claim_no,
        "Task_record_loss_assessment",
        {"assessment": {"assessed_amount": "7300.00", "fee": "3000", "report_no": "SF-2030-3"}},
        "apr1",
    )
    assessment = _one(session, LossAssessment, claim_no)
    assert (assessment.licence_no, assessment.fee_payer, assessment.assessed_amount) == (
        "司鉴-02",
        "shared",
        Decimal("7300.00"),
    )
    complete(session, claim_no, "Task_pay_indemnity", {"payment": {"reference": "PAY-2"}})
    assert _one(session, ClaimPayment, claim_no).amount == Decimal("7300.00")


def test_forms_refuse_bad_amounts(session, fixed_clock):  # LG-CLM-PROC
    claim_no = to_settlement(session, fixed_clock)
    with pytest.raises(FormInvalid, match="amount"):
        complete(
            session,
            claim_no,
            "Task_agree_settlement",
            {"settlement": {"method": "repair", "amount": "12,000"}},
        )


def test_dispute_window_without_reply_closes_the_rejection(session, fixed_clock):
    """LG-DSP-APPRAISAL DEC-DAYS: no reply in the 60-day window (a diagram default) → closed rejected."""
    from test_claim_support import advance_to

    claim_no = to_decision(session, fixed_clock)
    _reject(session, claim_no)
    assert advance_to(session, at(2030, 3, 11, 23, 59)) == []  # notice 2030-01-10 + 60 = 2030-03-11
    assert len(advance_to(session, at(2030, 3, 12, 0, 1))) == 1
    claim = claim_of(session, claim_no)
    assert (claim.status, claim.outcome) == ("closed", "rejected")
