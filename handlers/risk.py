"""Risk management: agency registration, independence, plan filing, inspections, rectification (LG-RM-*)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from engine import handler

from . import credit, master_data
from .dates import deadline_days, deadline_working_days
from .models import AgencyRegistration, Engagement, Finding, Inspection, Party, Rectification
from .records import DomainRecordMissing, party_by_code, policy_by_no, upsert_party

ORDER_GRADES = ("serious", "moderate", "minor")


@handler("idi.submit_agency_registration", params=("agency",))
def submit_agency_registration(ctx, agency: dict) -> dict:
    """LG-RM-REG: an agency applies to the Longgang construction authority for registration."""
    party = upsert_party(ctx.session, "agency", agency)
    reg = AgencyRegistration(party_id=party.id, status="applied", applied_at=ctx.now)
    ctx.session.add(reg)
    ctx.session.flush()
    return {"registration_id": reg.id, "agency_code": party.credit_code}


@handler("idi.decide_agency_registration", params=("registration_id", "decision"))
def decide_agency_registration(ctx, registration_id: int, decision: dict) -> dict:
    """LG-RM-REG: the authority registers the agency (with a number) or refuses it with a reason."""
    reg = ctx.session.get(AgencyRegistration, registration_id)
    if reg is None:
        raise DomainRecordMissing(f"No agency registration {registration_id}.")
    reg.status = "registered" if decision.get("approved") else "refused"
    reg.reg_no = decision.get("reg_no", "") if decision.get("approved") else ""
    reg.reason = decision.get("reason", "")
    reg.decided_at = ctx.now
    return {"status": reg.status, "reg_no": reg.reg_no}


def registration_of(session, party: Party) -> AgencyRegistration | None:
    """The agency's current registration with the authority, if registered."""
    return session.scalars(
        select(AgencyRegistration)
        .where(AgencyRegistration.party_id == party.id, AgencyRegistration.status == "registered")
        .order_by(AgencyRegistration.id.desc())
    ).first()


def affiliations(session, agency: Party, participants: dict[str, Party]) -> list[str]:
    """LG-RM-INDEP: every relation between the agency and a participating unit, named."""
    found = []
    for role, party in participants.items():
        for rel in agency.relations:
            if rel.related_code == party.credit_code:
                found.append(f"{agency.name} is {rel.relation} of the {role} {party.name}")
        for rel in party.relations:
            if rel.related_code == agency.credit_code:
                found.append(f"the {role} {party.name} is {rel.relation} of {agency.name}")
        if agency.group_parent_code and agency.group_parent_code in (
            party.group_parent_code,
            party.credit_code,
        ):
            found.append(
                f"{agency.name} and the {role} {party.name} belong to the same group "
                f"({agency.group_parent_code})"
            )
    return found


@handler("idi.engage_agency", params=("policy_no", "agency_code"))
def engage_agency(ctx, policy_no: str, agency_code: str) -> dict:
    """LG-RM-HIRE, LG-RM-REG, LG-RM-INDEP: engage a registered, independent agency; else refuse with why."""
    policy = policy_by_no(ctx.session, policy_no)
    project = policy.project
    agency = party_by_code(ctx.session, agency_code)
    reasons = []
    if agency is None or agency.kind != "agency":
        return {"engaged": False, "reason": f"No risk management agency with credit code '{agency_code}'."}
    if registration_of(ctx.session, agency) is None:
        reasons.append(
            f"风险管理机构未在龙港市建设行政主管部门登记 (LG-RM-REG): {agency.name} is not registered "
            "with the Longgang construction authority"
        )
    participants = {
        role: ctx.session.get(Party, pid)
        for role, pid in (
            ("developer", project.developer_id),
            ("contractor", project.contractor_id),
            ("designer", project.designer_id),
            ("supervisor", project.supervisor_id),
        )
        if pid
    }
    related = affiliations(ctx.session, agency, participants)
    if related:
        reasons.append("风险管理机构与参建单位有关联关系 (LG-RM-INDEP): " + "; ".join(related))
    reason = "; ".join(reasons)
    row = Engagement(
        policy_id=policy.id,
        agency_id=agency.id,
        status="refused" if reasons else "active",
        reason=reason,
        checked_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return {"engaged": not reasons, "reason": reason, "engagement_id": row.id}


def _active_engagement(session, policy_id: int) -> Engagement:
    row = session.scalars(
        select(Engagement)
        .where(Engagement.policy_id == policy_id, Engagement.status == "active")
        .order_by(Engagement.id.desc())
    ).first()
    if row is None:
        raise DomainRecordMissing(
            "The policy has no active risk management engagement; engage an agency first."
        )
    return row


@handler("idi.file_plan", params=("policy_no", "plan"))
def file_plan(ctx, policy_no: str, plan: dict) -> dict:
    """LG-RM-REG, DEC-RM-LOOP: the agency files its plan (inspection stages) with the authority."""
    policy = policy_by_no(ctx.session, policy_no)
    engagement = _active_engagement(ctx.session, policy.id)
    known = master_data.get("inspection_stages")
    stages = list(plan.get("stages") or [])
    unknown = [s for s in stages if s not in known]
    if unknown:
        raise ValueError(f"Unknown inspection stage(s) {unknown}; the plan may use {known}.")
    engagement.plan_no, engagement.plan_stages, engagement.plan_filed_at = plan["plan_no"], stages, ctx.now
    return {"plan_no": engagement.plan_no, "stages": stages}


@handler("idi.next_inspection_stage", params=("policy_no",))
def next_inspection_stage(ctx, policy_no: str) -> dict:
    """DEC-RM-LOOP: the next stage of the filed plan not yet inspected (None when the plan is done)."""
    policy = policy_by_no(ctx.session, policy_no)
    engagement = _active_engagement(ctx.session, policy.id)
    if engagement.plan_filed_at is None:
        raise DomainRecordMissing("The risk management plan is not filed; file it before any inspection.")
    agency = ctx.session.get(Party, engagement.agency_id)
    if registration_of(ctx.session, agency) is None:
        raise DomainRecordMissing(
            f"{agency.name} is no longer registered with the authority (LG-RM-REG); no inspection may start."
        )
    done = set(ctx.session.scalars(select(Inspection.stage).where(Inspection.engagement_id == engagement.id)))
    remaining = [s for s in engagement.plan_stages if s not in done]
    return {"stage": remaining[0] if remaining else None, "remaining": len(remaining)}


def _after(iso_instant: str, days: int) -> str:
    return (dt.datetime.fromisoformat(iso_instant) + dt.timedelta(days=days)).isoformat()


@handler("idi.record_inspection", params=("policy_no", "stage", "report"))
def record_inspection(ctx, policy_no: str, stage: str, report: dict) -> dict:
    """DEC-RM-LOOP: store the report; each graded finding gets a rectification order and deadline."""
    policy = policy_by_no(ctx.session, policy_no)
    engagement = _active_engagement(ctx.session, policy.id)
    findings = list(report.get("findings") or [])
    inspection = Inspection(
        project_id=policy.project_id,
        engagement_id=engagement.id,
        stage=stage,
        report_no=report["report_no"],
        inspected_at=ctx.now,
        has_major=any(f.get("major") for f in findings),
    )
    ctx.session.add(inspection)
    days_by_grade = master_data.get("rectification_days")
    steps = master_data.get("escalation_steps")
    orders = []
    for item in findings:
        finding = Finding(
            item_no=int(item["item_no"]),
            grade=item["grade"],
            major=bool(item.get("major")),
            description=item["description"],
        )
        inspection.findings.append(finding)
        if item["grade"] not in ORDER_GRADES:
            continue
        due = deadline_days(ctx.now, days_by_grade[item["grade"]])
        order = Rectification(issued_at=ctx.now, due_at=dt.datetime.fromisoformat(due))
        ctx.session.flush()
        order.finding_id = finding.id
        ctx.session.add(order)
        ctx.session.flush()
        orders.append(
            {
                "order_id": order.id,
                "grade": item["grade"],
                "description": item["description"],
                "due_at": due,
                **{f"escalate_{s['level']}_at": _after(due, s["after_days"]) for s in steps},
            }
        )
    ctx.session.flush()
    return {"inspection_id": inspection.id, "has_major": inspection.has_major, "orders": orders}


@handler("idi.copy_major_report", params=("inspection_id",))
def copy_major_report(ctx, inspection_id: int) -> dict:
    """LG-RM-MAJOR: copy a report with a major finding to the authority within 1 working day."""
    inspection = ctx.session.get(Inspection, inspection_id)
    due = deadline_working_days(inspection.inspected_at, master_data.get("major_copy_working_days"))
    inspection.authority_copy_due_at = dt.datetime.fromisoformat(due)
    inspection.authority_copied_at = ctx.now
    return {"copied_at": ctx.now.isoformat(), "copy_due_at": due}


@handler("idi.acknowledge_major_report", params=("inspection_id",))
def acknowledge_major_report(ctx, inspection_id: int) -> dict:
    """LG-RM-MAJOR, LG-OVERSIGHT: the authority has read the copied report."""
    inspection = ctx.session.get(Inspection, inspection_id)
    inspection.authority_acknowledged_at = ctx.now
    return {"acknowledged_at": ctx.now.isoformat()}


@handler("idi.escalate_rectification", params=("order_id", "level"))
def escalate_rectification(ctx, order_id: int, level: int) -> dict:
    """DEC-RM-LOOP: an overdue order escalates (reminder, then insurer and developer, then the authority)."""
    order = ctx.session.get(Rectification, order_id)
    if order.status == "closed" or order.escalation_level >= level:
        return {"escalated": False, "level": order.escalation_level}
    step = next(s for s in master_data.get("escalation_steps") if s["level"] == level)
    order.escalation_level = level
    order.escalations = [*order.escalations, {"level": level, "to": step["to"], "at": ctx.now.isoformat()}]
    if level == max(s["level"] for s in master_data.get("escalation_steps")):
        credit.record_unremedied_finding(ctx.session, order, ctx.now)  # LG-CREDIT: the authority is told
    return {"escalated": True, "level": level, "to": step["to"]}


@handler("idi.submit_rectification", params=("order_id", "evidence"))
def submit_rectification(ctx, order_id: int, evidence: str) -> dict:
    """DEC-RM-LOOP: the responsible party submits rectification evidence for re-check."""
    order = ctx.session.get(Rectification, order_id)
    order.status, order.evidence = "submitted", evidence
    return {"status": order.status}


@handler("idi.record_recheck", params=("order_id", "closed"))
def record_recheck(ctx, order_id: int, closed: bool) -> dict:
    """DEC-RM-LOOP: the agency re-checks; the order closes or goes back to the responsible party."""
    order = ctx.session.get(Rectification, order_id)
    order.rechecks += 1
    order.status = "closed" if closed else "open"
    order.closed_at = ctx.now if closed else None
    return {"closed": bool(closed)}
