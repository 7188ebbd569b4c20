"""Registration, scope, quote, signing, payment and the permit gate (LG-SCOPE, LG-PREM-*, LG-BIND-*)."""

from __future__ import annotations

from decimal import Decimal

from engine import BpmnError, handler

from . import credit, master_data
from .dates import parse_date
from .models import Payment, Policy, Project
from .records import local_today, money, policy_by_no, project_by_no, set_status, upsert_party

CLAUSE_MISSING = (
    "承发包合同未载明工程质量潜在缺陷保险 (LG-BIND-CONTRACT): the construction contract does not state "
    "the IDI; the permit gate stays closed until the contract is amended."
)


def _scope_refusal(project: dict) -> str:
    """Why a project is outside LG-SCOPE, or '' when it is in scope."""
    reasons = []
    if not project.get("in_longgang"):
        reasons.append("项目不在龙港市行政管辖范围内 (the project is outside Longgang's administrative area)")
    if project.get("project_type") not in master_data.get("in_scope_project_types"):
        reasons.append(
            "项目不是新建楼宇或住宅建筑工程 (the project is not a new building or residential work)"
        )
    return "; ".join(reasons)


@handler("idi.register_project", params=("project_no", "project"))
def register_project(ctx, project_no: str, project: dict) -> dict:
    """LG-SCOPE, LG-BIND-CONTRACT: store project and parties; refuse with the reason if out of scope."""
    parties = project.get("parties") or {}
    developer = upsert_party(ctx.session, "developer", parties["developer"])
    contractor = upsert_party(ctx.session, "contractor", parties["contractor"])
    designer = upsert_party(ctx.session, "designer", parties["designer"]) if parties.get("designer") else None
    supervisor = (
        upsert_party(ctx.session, "supervisor", parties["supervisor"]) if parties.get("supervisor") else None
    )
    refusal = _scope_refusal(project)
    clause = bool(project.get("idi_clause_present"))
    row = Project(
        project_no=project_no,
        name=project["name"],
        address=project.get("address", ""),
        district=project.get("district", ""),
        in_longgang=bool(project.get("in_longgang")),
        project_type=project["project_type"],
        construction_cost=money(project["construction_cost"]),
        developer_id=developer.id,
        contractor_id=contractor.id,
        designer_id=designer.id if designer else None,
        supervisor_id=supervisor.id if supervisor else None,
        contract_no=project.get("contract_no", ""),
        idi_clause_present=clause,
        compliance_flag="" if clause else CLAUSE_MISSING,
        permit_applied_on=parse_date(project.get("permit_applied_on")),
        status="refused" if refusal else "registered",
        refusal_reason=refusal,
        units=list(project.get("units") or []),
        registered_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return {
        "in_scope": not refusal,
        "reason": refusal,
        "construction_cost": str(row.construction_cost),
        "contractor_qualification": contractor.qualification_grade,
        # LG-CREDIT: credit records against the developer or contractor lower the grade (handlers/credit.py)
        "credit_grade": credit.grade_for(ctx.session, [developer.credit_code, contractor.credit_code],
                                         developer.credit_grade, ctx.now)["grade"],
        "idi_clause_present": clause,
        "compliance_flag": row.compliance_flag,
    }


def _factors(names: list, values: list) -> dict[str, Decimal]:
    """The rate factors collected by the premium_rate decision table, by name."""
    if len(names) != len(values):
        raise ValueError(
            "premium_rate must give one rate_value for every rate_factor; fix the decision table"
        )
    found: dict[str, Decimal] = {}
    for name, value in zip(names, values, strict=True):
        if name in found:
            raise ValueError(f"premium_rate matched two rules for '{name}'; make its rules exclusive")
        found[name] = Decimal(str(value))
    missing = {"base_rate", "floor", "qualification", "credit"} - set(found)
    if missing:
        raise ValueError(f"premium_rate gave no {', '.join(sorted(missing))}; add a rule for each")
    return found


@handler("idi.compute_quote", params=("project_no", "rate_factor", "rate_value"))
def compute_quote(ctx, project_no: str, rate_factor: list, rate_value: list) -> dict:
    """DEC-RATE, LG-PREM-BASE, LG-PREM-RATE: premium = cost × max(base × factors, floor), half-up to 0.01."""
    project = project_by_no(ctx.session, project_no)
    factors = _factors(rate_factor, rate_value)
    contractor_grade = ctx.data.get("registration", {}).get("contractor_qualification", "")
    credit_grade = ctx.data.get("registration", {}).get("credit_grade", "")
    raw_rate = factors["base_rate"] * factors["qualification"] * factors["credit"]
    rate = max(raw_rate, factors["floor"])
    premium = money(project.construction_cost * rate)
    quote = {
        "premium_base": str(project.construction_cost),
        "base_rate": str(factors["base_rate"]),
        "qualification_grade": contractor_grade,
        "qualification_factor": str(factors["qualification"]),
        "credit_grade": credit_grade,
        "credit_factor": str(factors["credit"]),
        "rate_before_floor": str(raw_rate),
        "floor": str(factors["floor"]),
        "floor_applied": raw_rate < factors["floor"],
        "rate": str(rate),
        "premium": str(premium),
        "includes_risk_management_fee": True,
    }
    policy = Policy(
        policy_no=f"IDI-{project_no}",
        project_id=project.id,
        insurer_name=master_data.get("insurer")["name"],
        status="draft",
        premium_base=project.construction_cost,
        rate=rate,
        premium=premium,
        quote=quote,
    )
    ctx.session.add(policy)
    ctx.session.flush()
    set_status(policy, "quoted")
    return {"policy_no": policy.policy_no, **quote}


@handler("idi.set_policy_status", params=("policy_no", "status", "reason"))
def set_policy_status(ctx, policy_no: str, status: str, reason: str = "") -> dict:
    """Move the policy to `status` (timers and refusals); a cancelled policy keeps its status."""
    policy = policy_by_no(ctx.session, policy_no)
    if policy.status != "cancelled":
        set_status(policy, status, reason)
    return {"status": policy.status}


@handler("idi.sign_policy", params=("policy_no", "permit_status", "permit_applied_on"))
def sign_policy(ctx, policy_no: str, permit_status: str, permit_applied_on: str | None = None) -> dict:
    """LG-BIND-PREPERMIT: the policy is signed before the construction permit is applied for, else refused."""
    policy = policy_by_no(ctx.session, policy_no)
    project = policy.project
    applied = parse_date(permit_applied_on) or project.permit_applied_on
    if permit_status == "applied" or applied is not None:
        when = f" on {applied.isoformat()}" if applied else ""
        raise BpmnError(
            "SIGNING_REFUSED",
            f"施工许可已申请{when}，不能再签订保险合同 (LG-BIND-PREPERMIT): the construction permit was "
            f"already applied for{when}; the IDI policy must be signed before the permit application.",
        )
    policy.signed_at = ctx.now
    set_status(policy, "signed")
    return {"signed_at": ctx.now.isoformat(), "signed_on": local_today().isoformat()}


@handler("idi.record_payment", params=("policy_no", "payment"))
def record_payment(ctx, policy_no: str, payment: dict) -> dict:
    """LG-BIND-LUMPSUM: only one payment of the full premium makes the policy effective."""
    policy = policy_by_no(ctx.session, policy_no)
    amount = money(payment["amount"])
    effective = amount == policy.premium and policy.status == "signed"
    if effective:
        reason = ""
    elif policy.status != "signed":
        reason = f"The policy is {policy.status}; a payment is accepted only on a signed policy."
    else:
        reason = (
            f"一次性足额支付 (LG-BIND-LUMPSUM): a payment of {amount} is not the full premium of "
            f"{policy.premium}; it is returned and the policy is not effective until the full premium is "
            "paid in one payment."
        )
    ctx.session.add(
        Payment(
            policy_id=policy.id,
            amount=amount,
            paid_at=ctx.now,
            reference=str(payment.get("reference", "")),
            accepted=effective,
            reason=reason,
        )
    )
    if effective:
        policy.effective_at = ctx.now
        set_status(policy, "construction", "premium paid in full")
    ctx.session.flush()
    return {"effective": effective, "reason": reason, "amount": str(amount)}


@handler("idi.check_permit_gate", params=("policy_no",))
def check_permit_gate(ctx, policy_no: str) -> dict:
    """LG-BIND-CONTRACT, LG-BIND-LUMPSUM: the permit gate opens for an effective policy with the clause."""
    policy = policy_by_no(ctx.session, policy_no)
    project = policy.project
    if not project.idi_clause_present:
        raise BpmnError("PERMIT_GATE_BLOCKED", project.compliance_flag or CLAUSE_MISSING)
    if policy.effective_at is None:
        raise BpmnError(
            "PERMIT_GATE_BLOCKED", "The policy is not effective: the full premium has not been paid."
        )
    project.permit_gate_open = True
    return {"permit_gate_open": True}


@handler("idi.amend_contract", params=("project_no", "contract"))
def amend_contract(ctx, project_no: str, contract: dict) -> dict:
    """LG-BIND-CONTRACT: record the amended contract; the flag clears once the clause is there."""
    project = project_by_no(ctx.session, project_no)
    project.contract_no = contract.get("contract_no") or project.contract_no
    project.idi_clause_present = bool(contract.get("idi_clause_present"))
    project.compliance_flag = "" if project.idi_clause_present else CLAUSE_MISSING
    return {"idi_clause_present": project.idi_clause_present, "compliance_flag": project.compliance_flag}
