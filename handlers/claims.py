"""Claims handlers: routing, survey, decision, notices, settlement, repair, payment, SLA breaches, closing.

Every operator takes the claim number; the claim row is the truth the API and reports read. Disputes
(appraisal, loss assessment) and subrogation live in handlers/claim_disputes.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, handler, tasks
from engine.errors import EngineError
from engine.models import HumanTask, Timer
from engine.timers import escalate
from engine.workdays import deadline_days

from .claim_models import Claim, ClaimPayment, Decision, RepairOrder, SlaBreach, Survey
from .cover import EXCLUSIONS, ITEM_END, route_defect
from .dates import parse_date
from .models import Policy
from .records import money

CATEGORIES = {1: "整体或局部倒塌 collapse", 2: "地基不均匀沉降 uneven foundation settlement",
              3: "悬挑构件和外墙 cantilevered members and exterior walls",
              4: "主体承重结构 main load-bearing structure", 5: "防水渗漏 waterproofing and leakage",
              6: "供热与供冷系统 heating and cooling", 7: "电气管线、给排水管道、设备安装 MEP installation",
              8: "装修工程 decoration works"}
ROUTE_TITLES = {"contractor": "由施工单位维修 Repair by the construction contractor",
                "insurer": "保险理赔 Insurer claim", "expired": "保险期间已届满 Cover has expired",
                "not_in_scope": "不属于保险范围 Not in the scope of cover"}
SUPERVISOR = "claims_supervisor"
#: What the claims supervisor may do about a missed service level (workflows/forms/claim_breach_action).
BREACH_ACTIONS = ("reminded", "reassigned", "taken_over", "noted")


class ClaimNotFound(EngineError, LookupError):
    """No claim with that number."""

    http_status = 404


class ClaimRefused(EngineError, ValueError):
    """A claim step was refused because its data breaks a rule; the message names the rule."""

    http_status = 422


def claim_by_no(session: Session, claim_no: str) -> Claim:
    """The claim with this number, or ClaimNotFound."""
    row = session.scalars(select(Claim).where(Claim.claim_no == claim_no)).first()
    if row is None:
        raise ClaimNotFound(f"No claim numbered '{claim_no}'; check the number on the report receipt.",
                            claim_no=claim_no)
    return row


def note(claim: Claim, status: str, text: str = "") -> None:
    """Move a claim to `status`, keeping a dated history entry."""
    now = clock.now()
    claim.history = [*(claim.history or []), {"status": status, "at": now.isoformat(), "note": text}]
    claim.status, claim.updated_at = status, now


def remark(claim: Claim, event: str, text: str = "") -> None:
    """Add a dated history entry that leaves the claim's status as it is (an escalation, a reminder)."""
    now = clock.now()
    claim.history = [*(claim.history or []),
                     {"status": claim.status, "event": event, "at": now.isoformat(), "note": text}]
    claim.updated_at = now


def routing_notice(claim: Claim, policy: Policy, routing: dict) -> str:
    """DEC-ROUTE: what the owner is told: the route, why, and the dates it was judged on."""
    route, item = routing["route"], claim.category
    what = f"第{item}项 {CATEGORIES[item]}" if item in CATEGORIES else f"类别 {item}"
    lines = [f"理赔编号 Claim {claim.claim_no}: {ROUTE_TITLES.get(route, route)}",
             f"缺陷 Defect: {what}; 报案日 reported on {claim.reported_on.isoformat()} (Asia/Shanghai); "
             f"判定日 coverage date {routing['coverage_date']} (DEC-COVDATE)."]
    if route == "contractor":
        lines.append(f"施工单位保修期 Contractor period {policy.contractor_start or '-'} … "
                     f"{policy.contractor_end or '-'}: the construction contractor repairs this defect; "
                     "the claims centre tracks it until the contractor confirms the repair (LG-COV-START).")
    elif route == "insurer":
        lines.append(f"保险期间 Cover {policy.cover_start} … {routing['cover_end']}: a surveyor will inspect "
                     "within 2 days (DEC-SLA).")
    elif route == "expired":
        lines.append(f"本项保险期间 Cover of item {item} ran {policy.cover_start} … "
                     f"{getattr(policy, ITEM_END[item])}; the defect is judged after its end.")
    else:
        lines.append("只有第1至8项属于保险范围 Only items 1-8 are covered (RULES.md section 2).")
    return "\n".join(lines)


def apply_route(ctx, claim: Claim, manifested_on: dt.date | None = None) -> dict:
    """DEC-COVDATE, DEC-ROUTE: judge the claim on the policy's stored windows and store the notice."""
    policy = ctx.session.get(Policy, claim.policy_id)
    defect = {"item_no": claim.category, "reported_at": clock.to_local(claim.reported_at).isoformat(),
              "manifested_on": manifested_on.isoformat() if manifested_on else None}
    routing = route_defect(ctx, policy.policy_no, defect)
    claim.coverage_date = dt.date.fromisoformat(routing["coverage_date"])
    claim.route, claim.route_reason = routing["route"], routing["reason"]
    claim.notice = routing_notice(claim, policy, routing)
    note(claim, f"routed_{routing['route']}", routing["reason"])
    return {"route": claim.route, "coverage_date": routing["coverage_date"], "reason": claim.route_reason,
            "notice": claim.notice}


@handler("claims.route", params=("claim_no",))
def route_claim(ctx, claim_no: str) -> dict:
    """DEC-COVDATE DEC-ROUTE: route a new claim (contractor, insurer, expired, not in scope) and tell why."""
    return apply_route(ctx, claim_by_no(ctx.session, claim_no))


@handler("claims.record_survey", params=("claim_no", "survey"))
def record_survey(ctx, claim_no: str, survey: dict) -> dict:
    """LG-CLM-PROC DEC-COVDATE: store the survey; accepted evidence of an earlier date re-routes the claim."""
    claim = claim_by_no(ctx.session, claim_no)
    manifested = parse_date(survey.get("manifested_on")) if survey.get("evidence_accepted") else None
    exclusion = survey.get("exclusion") or ""
    ctx.session.add(Survey(claim_id=claim.id, surveyed_at=ctx.now, surveyor=ctx.actor,
                           findings=survey.get("findings", ""), evidence_accepted=manifested is not None,
                           manifested_on=manifested, exclusion=exclusion,
                           responsible_party_code=survey.get("responsible_party_code") or "",
                           is_complex=bool(survey.get("is_complex"))))
    claim.is_complex = bool(survey.get("is_complex"))
    if survey.get("responsible_party_code"):
        claim.responsible_party_code, claim.responsible_basis = survey["responsible_party_code"], "survey"
    route = claim.route
    if manifested is not None:
        claim.manifested_on = manifested
        route = apply_route(ctx, claim, manifested)["route"]
    note(claim, "surveyed", survey.get("findings", ""))
    return {"route": route, "coverage_date": claim.coverage_date.isoformat(), "is_complex": claim.is_complex,
            "exclusion": exclusion}


@handler("claims.record_decision", params=("claim_no", "decision"))
def record_decision(ctx, claim_no: str, decision: dict) -> dict:
    """LG-COV-EXCL: a rejection must name its exclusion (improper use, third party, force majeure)."""
    claim = claim_by_no(ctx.session, claim_no)
    covered = bool(decision.get("covered"))
    exclusion = "" if covered else (decision.get("exclusion") or "")
    if not covered and exclusion not in EXCLUSIONS:
        raise ClaimRefused(f"Claim {claim_no}: a rejection needs one of the exclusions {sorted(EXCLUSIONS)} "
                           "(LG-COV-EXCL); otherwise decide the claim as covered.")
    ctx.session.add(Decision(claim_id=claim.id, decided_at=ctx.now, decided_by=ctx.actor, covered=covered,
                             exclusion=exclusion, reasons=decision.get("reasons", "")))
    note(claim, "covered" if covered else "rejected", decision.get("reasons", ""))
    return {"covered": covered, "exclusion": exclusion, "decided_at": ctx.now.isoformat()}


@handler("claims.send_rejection_notice", params=("claim_no", "rejection"))
def send_rejection_notice(ctx, claim_no: str, rejection: dict) -> dict:
    """LG-COV-EXCL LG-DSP-APPRAISAL: the rejection notice: reasons and the right to an appraisal."""
    claim = claim_by_no(ctx.session, claim_no)
    decision = ctx.session.scalars(select(Decision).where(Decision.claim_id == claim.id)
                                   .order_by(Decision.id.desc())).first()
    text = (f"拒赔通知书 Rejection notice, claim {claim.claim_no}\n"
            f"不属于保险责任 Not covered (LG-COV-EXCL): {EXCLUSIONS[decision.exclusion]}\n"
            f"理由 Reasons: {rejection.get('reasons') or decision.reasons}\n"
            "如对是否属于保险责任有异议，可与保险公司共同委托具有资质的第三方鉴定机构鉴定 "
            "If you dispute this, you and the insurer may jointly engage a qualified appraisal body "
            "(LG-DSP-APPRAISAL).")
    decision.notice_text, decision.notice_sent_at = text, ctx.now
    claim.notice = text
    note(claim, "rejection_notified")
    return {"notice_sent_at": ctx.now.isoformat()}


@handler("claims.record_settlement", params=("claim_no", "settlement", "owner_reply"))
def record_settlement(ctx, claim_no: str, settlement: dict, owner_reply: dict) -> dict:
    """LG-CLM-PROC: the agreed repair or amount; the owner accepts it or disputes the amount."""
    claim = claim_by_no(ctx.session, claim_no)
    claim.settlement_method = settlement["method"]
    claim.agreed_amount = money(settlement.get("amount") or 0)
    if not owner_reply.get("accepts"):
        note(claim, "amount_disputed", owner_reply.get("note", ""))
        return {"accepted": False}
    note(claim, "agreed", f"{claim.settlement_method} {claim.agreed_amount}")
    return agreed(claim, ctx.now)


def agreed(claim: Claim, now: dt.datetime) -> dict:
    """The settlement record the diagram reads: method, amount and the start of the 7-day clock (DEC-SLA)."""
    return {"accepted": True, "method": claim.settlement_method, "amount": str(claim.agreed_amount),
            "agreed_at": now.isoformat(), "start_due_at": deadline_days(now, 7)}


@handler("claims.issue_repair_order", params=("claim_no", "settlement"))
def issue_repair_order(ctx, claim_no: str, settlement: dict) -> dict:
    """LG-CLM-PROC DEC-SLA: the insurer or an engaged repair organisation repairs; start in 7 days."""
    claim = claim_by_no(ctx.session, claim_no)
    performer = settlement.get("performer") or "insurer_self"
    if performer == "third_party" and not settlement.get("repair_org_name"):
        raise ClaimRefused(f"Claim {claim_no}: a third-party repair needs the repair organisation's name.")
    order = RepairOrder(claim_id=claim.id, performer=performer,
                        repair_org_code=settlement.get("repair_org_code") or "",
                        repair_org_name=settlement.get("repair_org_name") or "insurer claims repair team",
                        scope=settlement.get("scope", ""), issued_at=ctx.now,
                        start_due_at=dt.datetime.fromisoformat(deadline_days(ctx.now, 7)), status="issued")
    ctx.session.add(order)
    note(claim, "repair_ordered", order.repair_org_name)
    ctx.session.flush()
    return {"order_id": order.id, "performer": performer}


@handler("claims.record_repair", params=("claim_no", "stage", "repair"))
def record_repair(ctx, claim_no: str, stage: str, repair: dict) -> dict:
    """LG-CLM-PROC: repair started, finished, or accepted by the owner (refused: rework)."""
    claim = claim_by_no(ctx.session, claim_no)
    order = ctx.session.scalars(select(RepairOrder).where(RepairOrder.claim_id == claim.id)
                                .order_by(RepairOrder.id.desc())).first()
    if stage == "started":
        order.started_at, order.status = ctx.now, "started"
    elif stage == "completed":
        order.completed_at, order.status = ctx.now, "completed"
        order.cost = money(repair.get("cost") or claim.agreed_amount or 0)
    elif stage == "acceptance":
        if repair.get("accepted"):
            order.accepted_at, order.status = ctx.now, "accepted"
        else:
            order.rework_count, order.status = order.rework_count + 1, "rework"
        note(claim, "repair_accepted" if repair.get("accepted") else "rework", repair.get("remarks", ""))
        return {"accepted": bool(repair.get("accepted")), "rework_count": order.rework_count}
    else:
        raise ValueError(f"claims.record_repair: unknown stage '{stage}'; use started, "
                         "completed or acceptance.")
    note(claim, f"repair_{stage}")
    return {"stage": stage}


@handler("claims.record_payment", params=("claim_no", "kind", "payment"))
def record_payment(ctx, claim_no: str, kind: str, payment: dict) -> dict:
    """LG-CLM-PROC: pay the indemnity to the owner, or the repair bill of the repair organisation."""
    claim = claim_by_no(ctx.session, claim_no)
    if kind == "repair":
        order = ctx.session.scalars(select(RepairOrder).where(RepairOrder.claim_id == claim.id)
                                    .order_by(RepairOrder.id.desc())).first()
        payee, amount = order.repair_org_name, order.cost or claim.agreed_amount or Decimal(0)
    else:
        payee, amount = claim.reporter, claim.agreed_amount or Decimal(0)
    ctx.session.add(ClaimPayment(claim_id=claim.id, kind=kind, payee=payee, amount=money(amount),
                                 paid_at=ctx.now, reference=(payment or {}).get("reference", "")))
    note(claim, "paid", f"{kind} {amount} to {payee}")
    return {"paid": str(money(amount)), "responsible_party_code": claim.responsible_party_code}


@handler("claims.record_contractor_repair", params=("claim_no", "confirmation"))
def record_contractor_repair(ctx, claim_no: str, confirmation: dict) -> dict:
    """LG-COV-START: the contractor confirms the repair of a defect in its period (no insurer payment)."""
    claim = claim_by_no(ctx.session, claim_no)
    done = bool(confirmation.get("repaired"))
    note(claim, "contractor_repaired" if done else "contractor_pending", confirmation.get("note", ""))
    return {"repaired": done}


@handler("claims.close", params=("claim_no", "outcome"))
def close_claim(ctx, claim_no: str, outcome: str) -> dict:
    """Close the claim with its outcome (paid, rejected, contractor_repaired, expired, withdrawn …)."""
    claim = claim_by_no(ctx.session, claim_no)
    claim.outcome, claim.closed_at = outcome, ctx.now
    note(claim, "closed", outcome)
    return {"outcome": outcome}


@handler("claims.sla_breach", params=("claim_no", "sla", "task"))
def sla_breach(ctx, claim_no: str, sla: str, task: str) -> dict:
    """DEC-SLA: count a missed service level; the diagram then puts a work item in the supervisor's inbox."""
    claim = claim_by_no(ctx.session, claim_no)
    ctx.session.add(SlaBreach(claim_id=claim.id, sla=sla, task_name=task, breached_at=ctx.now,
                              escalated_to=SUPERVISOR))
    claim.breach_count += 1
    remark(claim, "sla_breach", f"{sla} ({task}) missed; escalated to {SUPERVISOR}")
    # notify, not reassign: the late task stays with its handler while the supervisor decides what to do
    escalated = escalate(ctx, role=SUPERVISOR, task=task, mode="notify")
    return {"sla": sla, "breached_at": ctx.now.isoformat(), **escalated}


@handler("claims.handle_breach", params=("claim_no", "sla", "task", "action"))
def handle_breach(ctx, claim_no: str, sla: str, task: str, action: dict) -> dict:
    """DEC-SLA: record the supervisor's answer to a breach; reassigned or taken over moves the late task."""
    claim = claim_by_no(ctx.session, claim_no)
    kind = action.get("action")
    if kind not in BREACH_ACTIONS:
        raise ClaimRefused(f"Claim {claim_no}: the breach action must be one of {', '.join(BREACH_ACTIONS)}, "
                           f"not {kind!r}.")
    target = {"reassigned": action.get("reassign_to") or None, "taken_over": ctx.actor}.get(kind)
    if kind == "reassigned" and not target:
        raise ClaimRefused(f"Claim {claim_no}: name the user the late {task} is reassigned to.")
    moved = []
    if target:
        late = ctx.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == ctx.instance_id, HumanTask.task_name == task, HumanTask.status == "open"))
        moved = [tasks.claim_task(ctx.session, row.id, ctx.actor, assignee=target).id for row in late]
    text = f"{sla}: {kind}" + (f" to {target}" if target else "") + \
        (f"; {action['note']}" if action.get("note") else "")
    remark(claim, "sla_breach_handled", text)
    return {"sla": sla, "action": kind, "assignee": target, "moved_tasks": moved,
            "handled_at": ctx.now.isoformat()}


def count_breaches(session: Session, sla: str | None = None) -> int:
    """DEC-SLA: how many service levels were missed (all claims, optionally one kind)."""
    query = select(func.count()).select_from(SlaBreach)
    if sla:
        query = query.where(SlaBreach.sla == sla)
    return session.scalar(query) or 0


def _local(value: dt.datetime | None) -> str | None:
    return clock.to_local(value).isoformat() if value else None


#: timer row status -> what it means for a service level
SLA_STATES = {"waiting": "running", "fired": "breached", "cancelled": "met"}


def timeline(session: Session, claim: Claim) -> dict[str, Any]:
    """DEC-SLA: a claim's status history, its service levels (due, met, breached), breaches and open steps."""
    now = clock.now()
    slas = session.scalars(select(Timer).where(Timer.instance_id == claim.instance_id,
                                               Timer.task_name.like("Timer\\_%\\_sla", escape="\\"))
                           .order_by(Timer.due_at)) if claim.instance_id else []
    steps = session.scalars(select(HumanTask).where(HumanTask.business_key == claim.claim_no,
                                                    HumanTask.status == "open").order_by(HumanTask.created_at))
    return {
        "claim_no": claim.claim_no, "status": claim.status, "outcome": claim.outcome,
        "reported_at": _local(claim.reported_at), "closed_at": _local(claim.closed_at),
        "history": claim.history or [],
        "service_levels": [{"sla": t.task_name.removeprefix("Timer_").removesuffix("_sla"),
                            "task": t.attached_to, "due_at": _local(t.due_at),
                            "state": SLA_STATES.get(t.status, t.status), "fired_at": _local(t.fired_at)}
                           for t in slas],
        "breach_count": claim.breach_count,
        "breaches": [{"sla": b.sla, "task": b.task_name, "breached_at": _local(b.breached_at),
                      "escalated_to": b.escalated_to} for b in claim.breaches],
        "open_steps": [{"task": r.task_name, "title": r.title, "lane": r.lane, "assignee": r.assignee,
                        "due_at": _local(r.due_at), "overdue": bool(r.due_at and r.due_at < now)}
                       for r in steps],
    }


def describe(session: Session, claim: Claim) -> dict[str, Any]:
    """A JSON-safe view of a claim for the API and the owner portal."""
    policy = session.get(Policy, claim.policy_id)
    return {"claim_no": claim.claim_no, "policy_no": policy.policy_no, "unit": claim.unit,
            "category": claim.category, "description": claim.description, "reporter": claim.reporter,
            "channel": claim.channel, "reported_at": claim.reported_at.isoformat(),
            "reported_on": claim.reported_on.isoformat(),
            "coverage_date": claim.coverage_date.isoformat() if claim.coverage_date else None,
            "route": claim.route, "route_reason": claim.route_reason, "notice": claim.notice,
            "status": claim.status, "outcome": claim.outcome, "is_complex": claim.is_complex,
            "settlement_method": claim.settlement_method,
            "agreed_amount": str(claim.agreed_amount) if claim.agreed_amount is not None else None,
            "breach_count": claim.breach_count, "instance_id": claim.instance_id,
            "breaches": [{"sla": b.sla, "task": b.task_name, "breached_at": b.breached_at.isoformat(),
                          "escalated_to": b.escalated_to} for b in claim.breaches],
            "closed_at": claim.closed_at.isoformat() if claim.closed_at else None, "history": claim.history}
