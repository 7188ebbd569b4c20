"""How the IDI domain rows look in the API's JSON answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.models import (
    AgencyRegistration,
    CancellationRequest,
    Engagement,
    Exemption,
    Finding,
    Inspection,
    Notice,
    Party,
    Payment,
    Policy,
    Project,
    Rectification,
)

from .representations import iso


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def party_json(party: Party | None) -> dict | None:
    """A party's identity and grades."""
    if party is None:
        return None
    return {
        "credit_code": party.credit_code,
        "name": party.name,
        "kind": party.kind,
        "qualification_grade": party.qualification_grade,
        "credit_grade": party.credit_grade,
    }


def phase_of(project: Project, policy: Policy | None) -> str:
    """Where the project stands: the policy's status, or the project's own before a policy exists."""
    return policy.status if policy is not None else project.status


def project_brief(project: Project, policy: Policy | None) -> dict:
    """One row of the project list."""
    return {
        "project_no": project.project_no,
        "name": project.name,
        "project_type": project.project_type,
        "district": project.district,
        "status": project.status,
        "phase": phase_of(project, policy),
        "policy_no": policy.policy_no if policy else None,
        "premium": _money(policy.premium) if policy else None,
        "completion_date": _day(project.completion_date),
        "registered_at": iso(project.registered_at),
    }


def cover_json(policy: Policy) -> dict:
    """The cover dates stored once at completion acceptance (DEC-DATES)."""
    return {
        "contractor_start": _day(policy.contractor_start),
        "contractor_end": _day(policy.contractor_end),
        "cover_start": _day(policy.cover_start),
        "end_items_1_4": _day(policy.end_items_1_4),
        "end_item_5": _day(policy.end_item_5),
        "end_items_6_8": _day(policy.end_items_6_8),
    }


def flags_json(project: Project, policy: Policy | None) -> dict:
    """Compliance and gate flags (LG-BIND-CONTRACT, LG-BIND-PREPERMIT, LG-FUND-*)."""
    return {
        "idi_clause_present": project.idi_clause_present,
        "compliance_flag": project.compliance_flag,
        "permit_applied_on": _day(project.permit_applied_on),
        "permit_gate_open": project.permit_gate_open,
        "refusal_reason": project.refusal_reason,
        "fund_exempt": policy.fund_exempt if policy else False,
        "cancellable": policy.cancellable if policy else None,
    }


def rectification_json(row: Rectification | None) -> dict | None:
    """A rectification order with its deadline and escalations (DEC-RM-LOOP)."""
    if row is None:
        return None
    return {
        "id": row.id,
        "finding_id": row.finding_id,
        "status": row.status,
        "issued_at": iso(row.issued_at),
        "due_at": iso(row.due_at),
        "escalation_level": row.escalation_level,
        "escalations": row.escalations,
        "evidence": row.evidence,
        "rechecks": row.rechecks,
        "closed_at": iso(row.closed_at),
    }


def finding_json(session: Session, row: Finding) -> dict:
    """A graded finding and its rectification order, if any."""
    order = session.scalars(select(Rectification).where(Rectification.finding_id == row.id)).first()
    return {
        "id": row.id,
        "item_no": row.item_no,
        "grade": row.grade,
        "major": row.major,
        "description": row.description,
        "rectification": rectification_json(order),
    }


def inspection_json(session: Session, row: Inspection) -> dict:
    """An inspection's report with findings and the authority copy of a major-risk report (LG-RM-MAJOR)."""
    return {
        "id": row.id,
        "stage": row.stage,
        "report_no": row.report_no,
        "inspected_at": iso(row.inspected_at),
        "has_major": row.has_major,
        "authority_copy_due_at": iso(row.authority_copy_due_at),
        "authority_copied_at": iso(row.authority_copied_at),
        "authority_acknowledged_at": iso(row.authority_acknowledged_at),
        "findings": [finding_json(session, f) for f in sorted(row.findings, key=lambda f: f.item_no)],
    }


def engagement_json(session: Session, row: Engagement) -> dict:
    """An agency engagement for a policy, refused with its reason or active with its plan (LG-RM-*)."""
    policy = session.get(Policy, row.policy_id)
    return {
        "id": row.id,
        "policy_no": policy.policy_no,
        "project_no": policy.project.project_no,
        "agency": party_json(session.get(Party, row.agency_id)),
        "status": row.status,
        "reason": row.reason,
        "checked_at": iso(row.checked_at),
        "plan_no": row.plan_no,
        "plan_stages": row.plan_stages,
        "plan_filed_at": iso(row.plan_filed_at),
    }


def registration_json(row: AgencyRegistration) -> dict:
    """An agency's registration with the authority (LG-RM-REG)."""
    return {
        "id": row.id,
        "status": row.status,
        "reg_no": row.reg_no,
        "applied_at": iso(row.applied_at),
        "decided_at": iso(row.decided_at),
        "reason": row.reason,
    }


def payment_json(row: Payment) -> dict:
    """A premium payment and whether it made the policy effective (LG-BIND-LUMPSUM)."""
    return {
        "id": row.id,
        "amount": _money(row.amount),
        "paid_at": iso(row.paid_at),
        "reference": row.reference,
        "accepted": row.accepted,
        "reason": row.reason,
    }


def exemption_json(row: Exemption) -> dict:
    """A maintenance-fund exemption request and decision (LG-FUND-EXEMPT)."""
    return {
        "id": row.id,
        "requested_at": iso(row.requested_at),
        "eligible": row.eligible,
        "gaps": row.gaps,
        "status": row.status,
        "decided_at": iso(row.decided_at),
        "ref_no": row.ref_no,
    }


def cancellation_json(row: CancellationRequest) -> dict:
    """A cancellation request and its outcome (LG-FUND-NOCANCEL)."""
    return {
        "id": row.id,
        "requested_at": iso(row.requested_at),
        "reason": row.reason,
        "status": row.status,
        "outcome_reason": row.outcome_reason,
    }


def notice_json(row: Notice) -> dict:
    """A unit's 告知书 and its delivery (LG-NOTICE, LG-NOTICE-DELIVER), with links to HTML and PDF."""
    return {
        "id": row.id,
        "unit_no": row.unit_no,
        "generated_at": iso(row.generated_at),
        "delivered_on": _day(row.delivered_on),
        "delivered_by": row.delivered_by,
        "recipient": row.recipient,
        "html": f"/api/v1/notices/{row.id}/html",
        "pdf": f"/api/v1/notices/{row.id}/pdf",
    }


def _rows(session: Session, model, policy: Policy) -> list:
    return list(session.scalars(select(model).where(model.policy_id == policy.id).order_by(model.id)))


def policy_json(session: Session, policy: Policy) -> dict:
    """A policy: quote with its factors, status and history, payments, cover dates, agency, fund, notices."""
    return {
        "policy_no": policy.policy_no,
        "project_no": policy.project.project_no,
        "insurer": policy.insurer_name,
        "status": policy.status,
        "status_reason": policy.status_reason,
        "status_history": policy.status_history,
        "premium_base": _money(policy.premium_base),
        "rate": str(policy.rate),
        "premium": _money(policy.premium),
        "quote": policy.quote,
        "signed_at": iso(policy.signed_at),
        "effective_at": iso(policy.effective_at),
        "cover": cover_json(policy),
        "fund_exempt": policy.fund_exempt,
        "cancellable": policy.cancellable,
        "cancelled_at": iso(policy.cancelled_at),
        "payments": [payment_json(p) for p in _rows(session, Payment, policy)],
        "engagements": [engagement_json(session, e) for e in _rows(session, Engagement, policy)],
        "exemptions": [exemption_json(e) for e in _rows(session, Exemption, policy)],
        "cancellations": [cancellation_json(c) for c in _rows(session, CancellationRequest, policy)],
        "notices": [notice_json(n) for n in _rows(session, Notice, policy)],
    }
