"""Policies: read one (quote factors, status, payments, cover); review, sign, pay, appoint, exempt, cancel.

Every write is a step of the policy's process: a task completed as the caller, or a message correlated.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import func, select

from engine import instances, messages
from engine.models import ProcessInstance
from handlers.models import Payment, Policy

from ..db import commits, get_session
from .access import require_role
from .domain_access import complete_step, visible_policy
from .domain_json import payment_json, policy_json
from .params import field, json_body

bp = Blueprint("policies", __name__)

PAYMENT_ROLES = ("underwriter",)


def _answer(policy: Policy, status: int = 200):
    session = get_session()
    session.flush()
    session.expire_all()
    return jsonify(policy_json(session, session.get(Policy, policy.id))), status


@bp.get("/policies/<policy_no>")
def get(policy_no: str):
    """GET /policies/<no>: quote with each factor, status and history, payments, cover dates, agency."""
    session = get_session()
    return jsonify(policy_json(session, visible_policy(session, policy_no)))


@bp.post("/policies/<policy_no>/review")
@commits
def review(policy_no: str):
    """POST /policies/<no>/review: the underwriter accepts or declines the risk (LG-PREM-RATE)."""
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    data = {
        "review_decision": field(body, "review_decision", str, required=True),
        "review_note": field(body, "review_note", str, default=""),
    }
    complete_step(session, policy.project.project_no, "Task_review_quote", "review the quote", data)
    return _answer(policy)


@bp.post("/policies/<policy_no>/sign")
@commits
def sign(policy_no: str):
    """POST /policies/<no>/sign: the developer signs before the permit application (LG-BIND-PREPERMIT)."""
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    data = {
        "permit_status": field(body, "permit_status", str, required=True),
        "permit_applied_on": field(body, "permit_applied_on", str),
    }
    complete_step(session, policy.project.project_no, "Task_sign_policy", "sign the policy", data)
    return _answer(policy)


@bp.post("/policies/<policy_no>/payments")
@commits
def pay(policy_no: str):
    """POST /policies/<no>/payments: a premium payment arrived (LG-BIND-LUMPSUM); answers the payment."""
    user = require_role(*PAYMENT_ROLES)
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    amount = field(body, "amount", (str, int), required=True)
    payload = {"amount": str(amount), "reference": field(body, "reference", str, default="")}
    messages.correlate_message(
        session, "premium_paid", payload, business_key=policy.project.project_no, actor=user.username
    )
    session.flush()
    session.expire_all()
    payment = session.scalars(
        select(Payment).where(Payment.policy_id == policy.id).order_by(Payment.id.desc())
    ).first()
    return jsonify(
        {"payment": payment_json(payment), "policy": policy_json(session, session.get(Policy, policy.id))}
    ), 201


@bp.post("/policies/<policy_no>/agency")
@commits
def appoint_agency(policy_no: str):
    """POST /policies/<no>/agency: engage a registered, independent agency (LG-RM-HIRE, -REG, -INDEP)."""
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    data = {"agency_code": field(body, "agency_code", str, required=True)}
    complete_step(session, policy.project.project_no, "Task_appoint_agency", "appoint an agency", data)
    return _answer(policy)


@bp.post("/policies/<policy_no>/exemption")
@commits
def request_exemption(policy_no: str):
    """POST /policies/<no>/exemption: the developer asks for the fund exemption (or declines to); the
    authority decides it as a task in its inbox (LG-FUND-EXEMPT)."""
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    data = {"request_exemption": field(body, "request_exemption", bool, default=True)}
    complete_step(
        session,
        policy.project.project_no,
        "Task_request_exemption",
        "answer the maintenance-fund question",
        data,
    )
    return _answer(policy)


@bp.post("/policies/<policy_no>/cancellation")
@commits
def cancel(policy_no: str):
    """POST /policies/<no>/cancellation: ask to cancel; refused once exempted (LG-FUND-NOCANCEL)."""
    user = require_role("developer")
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    reason = field(body, "reason", str, required=True)
    count = (
        session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.business_key.startswith(f"CX-{policy_no}-"))
        )
        or 0
    )
    key = f"CX-{policy_no}-{count + 1}"
    instances.start_instance(
        session,
        "idi_cancellation",
        {"policy_no": policy_no},
        user.username,
        business_key=key,
        title=f"解除保险合同 {policy_no}",
    )
    complete_step(
        session,
        key,
        "Task_request_cancellation",
        "take the cancellation request",
        {"cancellation_reason": reason},
    )
    return _answer(policy, 201)
