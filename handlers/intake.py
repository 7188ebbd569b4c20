"""The claims centre's front door: report a defect at any hour, follow it, withdraw it (LG-CLM-CENTER).

`report_defect` is the one entry point the owner portal, the hotline screen and the API call. It registers
the claim, starts its own claim process instance (business key = claim number, linked to the policy, not
a subprocess of the policy instance) and returns the claim number at once, day or night.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock, instances, messages, tasks
from engine.errors import EngineError, InstanceConflict, MessageNotCorrelated

from .claim_models import Claim
from .claims import ClaimRefused, claim_by_no
from .models import Policy, Project
from .records import DomainRecordMissing, policy_by_no

PROCESS_ID = "idi_claim"
CHANNELS = ("hotline", "portal", "app", "property_company", "agent")
WITHDRAWABLE = ("routed_insurer",)
#: what an owner may dispute -> (the owner step that takes the dispute, the form data that says so)
DISPUTE_STEPS = {
    "coverage": ("Task_owner_dispute", lambda grounds: {"dispute": {"disputes": True, "grounds": grounds}}),
    "amount": ("Task_owner_confirm_settlement",
               lambda grounds: {"owner_reply": {"accepts": False, "note": grounds}}),
}


class ClaimNotWithdrawable(InstanceConflict):
    """The claim has moved past the survey; it can no longer be withdrawn."""


class ClaimNotDisputable(InstanceConflict):
    """The claim is not at a step where the owner can dispute it."""


class PolicyNotFound(EngineError, LookupError):
    """A defect was reported on a policy number (or unit) that no insured project has."""

    http_status = 404


def policy_for_unit(session: Session, unit: str) -> Policy:
    """The policy of the one project listing `unit` ('1-101', or 'LG-2026-001/1-101' to name the project)."""
    project_no, _, room = unit.rpartition("/")
    query = select(Policy).join(Project).order_by(Policy.id)
    if project_no:
        query = query.where(Project.project_no == project_no)
    found = [p for p in session.scalars(query) if room in (p.project.units or [])]
    if not found:
        raise PolicyNotFound(f"No insured project lists the unit '{unit}'; check the unit on the housing "
                             "contract or give the policy number from the IDI notice.", unit=unit)
    if len(found) > 1:
        raise ClaimRefused(f"The unit '{unit}' exists in {len(found)} projects; write it as "
                           "'PROJECT_NO/unit' or give the policy number.")
    return found[0]


def _next_claim_no(session: Session, day: dt.date) -> str:
    prefix = f"CLM-{day:%Y%m%d}-"
    last = session.scalar(select(func.max(Claim.claim_no)).where(Claim.claim_no.startswith(prefix)))
    return f"{prefix}{(int(last[-4:]) + 1 if last else 1):04d}"


def _insert_claim(session: Session, fields: dict, day: dt.date) -> Claim:
    """Insert the claim under the next free number of its day; a concurrent taker of a number retries."""
    for _ in range(5):
        claim = Claim(claim_no=_next_claim_no(session, day), **fields)
        savepoint = session.begin_nested()
        try:
            session.add(claim)
            session.flush()
        except IntegrityError:
            savepoint.rollback()
            continue
        savepoint.commit()
        return claim
    raise InstanceConflict("Could not allocate a claim number because many reports arrived at once; "
                           "send the report again.")


def report_defect(session: Session, category: int, description: str, reporter: str, channel: str,
                  policy_no: str | None = None, unit: str = "", reported_at: dt.datetime | None = None,
                  actor: str | None = None) -> str:
    """LG-CLM-CENTER: register a defect report and start its claim process; returns CLM-YYYYMMDD-NNNN."""
    if channel not in CHANNELS:
        raise ClaimRefused(f"Unknown report channel '{channel}'; use one of {', '.join(CHANNELS)}.")
    if isinstance(category, bool) or not isinstance(category, int):
        raise ClaimRefused(f"The defect category must be a whole number (items 1-8), not {category!r}.")
    if policy_no:
        try:
            policy = policy_by_no(session, policy_no)
        except DomainRecordMissing:
            raise PolicyNotFound(f"No policy numbered '{policy_no}'; check the number on the IDI notice "
                                 "(告知书) handed over with the home, e.g. IDI-LG-2025-004.",
                                 policy_no=policy_no) from None
    elif unit:
        policy = policy_for_unit(session, unit)
    else:
        raise ClaimRefused("Name the policy number or the unit (building-room) of the defect.")
    now = clock.now()
    reported = clock.ensure_utc(reported_at) if reported_at else now
    day = clock.to_local(reported).date()  # DEC-COVDATE: the local Asia/Shanghai date of the report
    claim = _insert_claim(session, dict(
        policy_id=policy.id, unit=unit, category=category, description=description, reporter=reporter,
        channel=channel, reported_at=reported, reported_on=day, status="reported", updated_at=now,
        history=[{"status": "reported", "at": now.isoformat(), "note": channel}]), day)
    row = instances.start_instance(session, PROCESS_ID, {
        "claim_no": claim.claim_no, "policy_no": policy.policy_no, "unit": unit, "category": category,
        "description": description, "reporter": reporter, "channel": channel,
        "reported_at": reported.isoformat()}, actor or reporter, business_key=claim.claim_no,
        title=f"{claim.claim_no} {policy.policy_no} {unit}".strip())
    claim.instance_id = row.id
    session.flush()
    return claim.claim_no


def withdraw_claim(session: Session, claim_no: str, actor: str, reason: str = "") -> Claim:
    """The owner withdraws a claim that is still waiting for its survey; later it is a conflict (409)."""
    claim = claim_by_no(session, claim_no)
    refusal = ClaimNotWithdrawable(f"Claim {claim_no} is {claim.status}; only a claim waiting for its survey "
                                   "can be withdrawn. Ask the claims handler to close it instead.",
                                   claim_no=claim_no, status=claim.status)
    if claim.status not in WITHDRAWABLE:
        raise refusal
    try:
        messages.correlate_message(session, "claim_withdrawn", {"withdrawal": {"reason": reason}},
                                   business_key=claim_no, actor=actor)
    except MessageNotCorrelated:
        raise refusal from None
    session.refresh(claim)
    if claim.status != "closed":
        raise refusal
    return claim


def dispute_claim(session: Session, claim_no: str, actor: str, kind: str = "coverage",
                  grounds: str = "") -> Claim:
    """LG-DSP-APPRAISAL / LG-DSP-AMOUNT: the owner disputes a rejection (coverage) or the offered amount."""
    if kind not in DISPUTE_STEPS:
        raise ClaimRefused(f"Unknown dispute kind '{kind}'; use coverage (a rejection, LG-DSP-APPRAISAL) or "
                           "amount (the offered repair or amount, LG-DSP-AMOUNT).")
    claim = claim_by_no(session, claim_no)
    step, form = DISPUTE_STEPS[kind]
    rows = [t for t in tasks.list_tasks(session, business_key=claim_no, limit=100)
            if t.business_key == claim_no and t.task_name == step]
    if not rows:
        when = ("after its rejection notice" if kind == "coverage"
                else "while the repair or amount waits for the owner's answer")
        raise ClaimNotDisputable(f"Claim {claim_no} is {claim.status}; its {kind} can be disputed only {when}.",
                                 claim_no=claim_no, status=claim.status, kind=kind)
    tasks.complete_task(session, rows[0].id, form(grounds), actor)
    session.refresh(claim)
    return claim


def list_claims(session: Session, reporter: str | None = None, status: str | None = None,
                limit: int = 50, offset: int = 0) -> tuple[list[Claim], int]:
    """Claims newest first (optionally one reporter's or one status), with the total count."""
    query = select(Claim)
    if reporter:
        query = query.where(Claim.reporter == reporter)
    if status:
        query = query.where(Claim.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Claim.id.desc()).limit(limit).offset(offset))), total
