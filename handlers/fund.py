"""Maintenance-fund exemption and policy cancellation (LG-FUND-EXEMPT, LG-FUND-NOCANCEL)."""

from __future__ import annotations

from sqlalchemy import select

from engine import handler
from engine.instances import cancel_instance
from engine.models import ProcessInstance

from . import master_data
from .models import CancellationRequest, Exemption
from .records import policy_by_no, set_status

#: Cover years per item as the policy grants them (RULES.md section 2).
POLICY_YEARS = {"1": 10, "2": 10, "3": 10, "4": 10, "5": 6, "6": 2, "7": 2, "8": 2}


@handler("idi.check_exemption", params=("policy_no",))
def check_exemption(ctx, policy_no: str) -> dict:
    """LG-FUND-EXEMPT: record the request; check the cover meets the warranty scope and periods."""
    policy = policy_by_no(ctx.session, policy_no)
    required = master_data.get("exemption_minimum_years")
    gaps = [
        f"item {item}: cover {POLICY_YEARS.get(item, 0)} years < required {years}"
        for item, years in sorted(required.items())
        if POLICY_YEARS.get(item, 0) < years
    ]
    if policy.cover_start is None:
        gaps.append("the cover dates are not fixed yet (completion acceptance not recorded)")
    row = Exemption(
        policy_id=policy.id,
        requested_at=ctx.now,
        eligible=not gaps,
        gaps=gaps,
        status="requested" if not gaps else "ineligible",
    )
    ctx.session.add(row)
    ctx.session.flush()
    return {"exemption_id": row.id, "eligible": not gaps, "gaps": gaps}


@handler("idi.decide_exemption", params=("exemption_id", "decision"))
def decide_exemption(ctx, exemption_id: int, decision: dict) -> dict:
    """LG-FUND-EXEMPT, LG-FUND-NOCANCEL: an approved exemption makes the policy non-cancellable."""
    row = ctx.session.get(Exemption, exemption_id)
    approved = bool(decision.get("approved"))
    row.status, row.decided_at, row.ref_no = (
        ("approved" if approved else "denied"),
        ctx.now,
        decision.get("ref_no", ""),
    )
    if approved:
        policy = policy_by_no(ctx.session, ctx.data["policy_no"])
        policy.fund_exempt, policy.cancellable = True, False
    return {"status": row.status}


@handler("idi.check_cancellation", params=("policy_no", "reason"))
def check_cancellation(ctx, policy_no: str, reason: str = "") -> dict:
    """LG-FUND-NOCANCEL: a policy exempted from the maintenance fund cannot be cancelled."""
    policy = policy_by_no(ctx.session, policy_no)
    refusal = ""
    if policy.fund_exempt or not policy.cancellable:
        refusal = (
            "已办理免缴物业保修金手续，不得解除保险合同 (LG-FUND-NOCANCEL): the developer was exempted from "
            "the property maintenance fund, so the policy cannot be cancelled."
        )
    elif policy.status in ("cancelled", "expired", "refused", "declined"):
        refusal = f"The policy is {policy.status}; there is nothing to cancel."
    row = CancellationRequest(
        policy_id=policy.id,
        requested_at=ctx.now,
        reason=reason,
        status="refused" if refusal else "requested",
        outcome_reason=refusal,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return {"allowed": not refusal, "reason": refusal, "request_id": row.id}


@handler("idi.cancel_policy", params=("policy_no", "request_id"))
def cancel_policy(ctx, policy_no: str, request_id: int) -> dict:
    """Cancel a cancellable policy and stop its lifecycle instance (timers included)."""
    policy = policy_by_no(ctx.session, policy_no)
    if not policy.cancellable:  # checked again: an exemption may have been approved meanwhile
        raise ValueError(
            "The policy became non-cancellable (LG-FUND-NOCANCEL) after the request was checked."
        )
    request = ctx.session.get(CancellationRequest, request_id)
    request.status = "approved"
    set_status(policy, "cancelled", request.reason)
    policy.cancelled_at = ctx.now
    lifecycle = ctx.session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.business_key == policy.project.project_no,
            ProcessInstance.process_id == "idi_policy",
            ProcessInstance.status == "running",
        )
    ).first()
    if lifecycle is not None:
        cancel_instance(ctx.session, lifecycle.id, ctx.actor, reason=f"policy {policy_no} cancelled")
    return {"status": policy.status}
