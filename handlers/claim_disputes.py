"""Claim disputes and recovery: coverage appraisal, loss assessment, subrogation and credit feedback.

LG-DSP-APPRAISAL, LG-DSP-AMOUNT, LG-CLM-SUBRO, LG-CREDIT (RULES.md sections 6-8).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import BpmnError, clock, handler
from engine.errors import EngineError

from .claim_models import Appraisal, Claim, CreditRecord, ExpertBody, LossAssessment, Subrogation
from .claims import agreed, claim_by_no, note
from .records import money

#: Who pays a loss assessor's fee is recorded per case (RULES.md LG-DSP-AMOUNT [DECISION]).
LOSS_FEE_PAYERS = ("insurer", "owner", "shared")


#: a unified social credit code (统一社会信用代码): 18 digits and capital letters
CREDIT_CODE = re.compile(r"[0-9A-Z]{18}")


class ExpertBodyRefused(EngineError, ValueError):
    """An appraisal or loss-assessment body cannot be registered as given."""

    http_status = 422


class ExpertBodyExists(EngineError, ValueError):
    """A body with this credit code is registered already."""

    http_status = 409


def expert_body(session: Session, credit_code: str) -> ExpertBody | None:
    """The registered appraisal or loss-assessment body with this credit code."""
    return session.scalars(select(ExpertBody).where(ExpertBody.credit_code == credit_code)).first()


def register_expert_body(session: Session, credit_code: str, name: str, qualification_no: str = "",
                         judicial_licence_no: str = "", licence_valid_until: dt.date | None = None) -> ExpertBody:
    """LG-DSP-APPRAISAL LG-DSP-AMOUNT: register a body with its appraisal qualification and/or its
    judicial-appraisal (司法鉴定) licence; the entrustment steps check these."""
    if not CREDIT_CODE.fullmatch(credit_code or ""):
        raise ExpertBodyRefused(f"'{credit_code}' is not a unified social credit code; give the 18 digits and "
                                "capital letters on the body's business licence.", field="credit_code")
    if not (name or "").strip():
        raise ExpertBodyRefused("Give the body's registered name.", field="name")
    if not (qualification_no or judicial_licence_no):
        raise ExpertBodyRefused(f"{name}: give an appraisal qualification number (coverage appraisal, "
                                "LG-DSP-APPRAISAL) or a judicial-appraisal licence number (loss assessment, "
                                "LG-DSP-AMOUNT), or both.", field="qualification_no")
    if licence_valid_until is not None and not judicial_licence_no:
        raise ExpertBodyRefused("licence_valid_until belongs to a judicial-appraisal licence; give "
                                "judicial_licence_no too.", field="judicial_licence_no")
    if expert_body(session, credit_code) is not None:
        raise ExpertBodyExists(f"A body with credit code {credit_code} is registered already.",
                               credit_code=credit_code)
    body = ExpertBody(credit_code=credit_code, name=name.strip(), qualification_no=qualification_no or "",
                      judicial_licence_no=judicial_licence_no or "", licence_valid_until=licence_valid_until)
    session.add(body)
    session.flush()
    return body


def list_expert_bodies(session: Session, kind: str | None = None) -> list[ExpertBody]:
    """Registered bodies by name; kind `appraisal` (qualified) or `loss_assessment` (judicial licence)."""
    query = select(ExpertBody).order_by(ExpertBody.name)
    if kind == "appraisal":
        query = query.where(ExpertBody.qualification_no != "")
    elif kind == "loss_assessment":
        query = query.where(ExpertBody.judicial_licence_no != "")
    elif kind:
        raise ExpertBodyRefused(f"Unknown kind '{kind}'; use appraisal or loss_assessment.", field="kind")
    return list(session.scalars(query))


def describe_body(body: ExpertBody, today: dt.date) -> dict:
    """A JSON-safe view of a body: what it may be entrusted with today."""
    return {"credit_code": body.credit_code, "name": body.name, "qualification_no": body.qualification_no,
            "judicial_licence_no": body.judicial_licence_no,
            "licence_valid_until": body.licence_valid_until.isoformat() if body.licence_valid_until else None,
            "may_appraise": bool(body.qualification_no), "may_assess_loss": holds_judicial_licence(body, today)}


def holds_judicial_licence(body: ExpertBody | None, today: dt.date) -> bool:
    """LG-DSP-AMOUNT: the body is registered with a judicial-appraisal licence valid on `today`."""
    return body is not None and bool(body.judicial_licence_no) and (
        body.licence_valid_until is None or body.licence_valid_until >= today)


def _latest(session: Session, model, claim: Claim):
    return session.scalars(select(model).where(model.claim_id == claim.id).order_by(model.id.desc())).first()


@handler("claims.entrust_appraisal", params=("claim_no", "body_code"))
def entrust_appraisal(ctx, claim_no: str, body_code: str) -> dict:
    """LG-DSP-APPRAISAL: owner and insurer jointly entrust a qualified appraisal body (refused otherwise)."""
    claim = claim_by_no(ctx.session, claim_no)
    body = expert_body(ctx.session, body_code)
    if body is None or not body.qualification_no:
        raise BpmnError("BODY_NOT_QUALIFIED", f"'{body_code}' is not a registered appraisal body with a "
                        "qualification; choose a qualified body (LG-DSP-APPRAISAL).")
    appraisal = Appraisal(claim_id=claim.id, body_id=body.id, jointly_entrusted_by=["owner", "insurer"],
                          entrusted_at=ctx.now)
    ctx.session.add(appraisal)
    note(claim, "appraisal_entrusted", body.name)
    ctx.session.flush()
    return {"appraisal_id": appraisal.id, "body_name": body.name}


@handler("claims.settle_appraisal", params=("claim_no", "appraisal"))
def settle_appraisal(ctx, claim_no: str, appraisal: dict) -> dict:
    """LG-DSP-APPRAISAL: covered → the insurer pays the fee and the claim resumes; not covered → the owner."""
    claim = claim_by_no(ctx.session, claim_no)
    row = _latest(ctx.session, Appraisal, claim)
    covered = appraisal["result"] == "covered"
    row.result, row.fee, row.report_no = appraisal["result"], money(appraisal.get("fee") or 0), \
        appraisal.get("report_no", "")
    row.fee_payer, row.decided_at = ("insurer" if covered else "owner"), ctx.now
    if appraisal.get("responsible_party_code"):
        row.responsible_party_code = appraisal["responsible_party_code"]
        claim.responsible_party_code = appraisal["responsible_party_code"]
        claim.responsible_basis = "appraisal"
    note(claim, "appraised_covered" if covered else "appraised_not_covered", f"fee paid by {row.fee_payer}")
    return {"covered": covered, "fee_payer": row.fee_payer}


@handler("claims.entrust_loss_assessment", params=("claim_no", "body_code", "fee_payer"))
def entrust_loss_assessment(ctx, claim_no: str, body_code: str, fee_payer: str) -> dict:
    """LG-DSP-AMOUNT: only a body with a valid judicial-appraisal (司法鉴定) licence assesses the loss."""
    claim = claim_by_no(ctx.session, claim_no)
    body = expert_body(ctx.session, body_code)
    if not holds_judicial_licence(body, clock.to_local(ctx.now).date()):
        raise BpmnError("NO_JUDICIAL_LICENCE", f"'{body_code}' holds no valid judicial-appraisal licence; "
                        "the amount must be assessed by a licensed body (LG-DSP-AMOUNT).")
    if fee_payer not in LOSS_FEE_PAYERS:
        raise ValueError(f"fee_payer must be one of {LOSS_FEE_PAYERS}, not '{fee_payer}'.")
    row = LossAssessment(claim_id=claim.id, body_id=body.id, licence_no=body.judicial_licence_no,
                         entrusted_at=ctx.now, fee_payer=fee_payer)
    ctx.session.add(row)
    note(claim, "loss_assessment_entrusted", body.name)
    ctx.session.flush()
    return {"assessment_id": row.id, "body_name": body.name, "licence_no": body.judicial_licence_no}


@handler("claims.settle_loss_assessment", params=("claim_no", "assessment"))
def settle_loss_assessment(ctx, claim_no: str, assessment: dict) -> dict:
    """LG-DSP-AMOUNT: the assessed amount binds the agreement; the fee payer was recorded at entrustment."""
    claim = claim_by_no(ctx.session, claim_no)
    row = _latest(ctx.session, LossAssessment, claim)
    row.assessed_amount, row.fee = money(assessment["assessed_amount"]), money(assessment.get("fee") or 0)
    row.report_no, row.decided_at = assessment.get("report_no", ""), ctx.now
    claim.agreed_amount = row.assessed_amount
    note(claim, "agreed", f"amount set by loss assessment: {row.assessed_amount}")
    return agreed(claim, ctx.now)


@handler("claims.record_subrogation", params=("claim_no", "subrogation"))
def record_subrogation(ctx, claim_no: str, subrogation: dict) -> dict:
    """LG-CLM-SUBRO LG-CREDIT: pursue the responsible unit; established liability feeds the credit record."""
    claim = claim_by_no(ctx.session, claim_no)
    against = subrogation.get("against_party_code") or claim.responsible_party_code
    if not against:
        raise ValueError(f"Claim {claim_no}: subrogation needs the responsible unit's credit code.")
    established = bool(subrogation.get("liability_established"))
    basis = claim.responsible_basis or "survey"
    row = Subrogation(claim_id=claim.id, against_party_code=against, basis=basis,
                      amount_claimed=money(subrogation.get("amount_claimed") or 0),
                      amount_recovered=money(subrogation.get("amount_recovered") or 0),
                      liability_established=established, status="closed", opened_at=ctx.now,
                      closed_at=ctx.now)
    ctx.session.add(row)
    if established:
        ctx.session.add(CreditRecord(
            subject_code=against, event_type="established_defect_liability", claim_id=claim.id,
            evidence_ref=f"{claim.claim_no}/{row.basis}", recorded_at=ctx.now,
            detail=f"Defect liability established in subrogation on claim {claim.claim_no} (item "
                   f"{claim.category}); claimed {row.amount_claimed}, recovered {row.amount_recovered}."))
    note(claim, "subrogation", f"against {against}: recovered {row.amount_recovered}")
    return {"against": against, "recovered": str(row.amount_recovered), "credit_feedback": established}


def credit_records(session: Session, subject_code: str | None = None) -> list[CreditRecord]:
    """LG-CREDIT: credit feedback records the authority (and later rating decisions) read."""
    query = select(CreditRecord).order_by(CreditRecord.id)
    if subject_code:
        query = query.where(CreditRecord.subject_code == subject_code)
    return list(session.scalars(query))
