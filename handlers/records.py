"""Find and update the domain rows the handlers work on (by project or policy number)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import EngineError

from .models import Party, PartyRelation, Policy, Project

CENT = Decimal("0.01")


class DomainRecordMissing(EngineError, LookupError):
    """A handler was given a number that names no domain row."""


def money(value) -> Decimal:
    """A CNY amount as Decimal rounded half-up to 0.01; refuses floats' binary noise by going through str."""
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise ValueError(f"'{value}' is not an amount of money; write it like 12345.67") from None


def project_by_no(session: Session, project_no: str) -> Project:
    """The project with this number, or DomainRecordMissing."""
    row = session.scalars(select(Project).where(Project.project_no == project_no)).first()
    if row is None:
        raise DomainRecordMissing(f"No project numbered '{project_no}'; register the project first.")
    return row


def policy_by_no(session: Session, policy_no: str) -> Policy:
    """The policy with this number, or DomainRecordMissing."""
    row = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).first()
    if row is None:
        raise DomainRecordMissing(f"No policy numbered '{policy_no}'; it is created when the quote is made.")
    return row


def party_by_code(session: Session, credit_code: str) -> Party | None:
    """The party with this unified social credit code, if known."""
    return session.scalars(select(Party).where(Party.credit_code == credit_code)).first()


def upsert_party(session: Session, kind: str, data: dict) -> Party:
    """Create or update a party from form data {credit_code, name, qualification_grade, credit_grade, …}."""
    party = party_by_code(session, data["credit_code"])
    if party is None:
        party = Party(
            credit_code=data["credit_code"], name=data.get("name") or data["credit_code"], kind=kind
        )
        session.add(party)
    party.name = data.get("name") or party.name
    for attr in ("qualification_grade", "credit_grade", "group_parent_code"):
        if data.get(attr) is not None:
            setattr(party, attr, data[attr])
    known = {(r.related_code, r.relation) for r in party.relations}
    for rel in data.get("related_parties") or []:
        if (rel["credit_code"], rel["relation"]) not in known:
            party.relations.append(PartyRelation(related_code=rel["credit_code"], relation=rel["relation"]))
    session.flush()
    return party


def set_status(policy: Policy, status: str, reason: str = "") -> None:
    """Move a policy to `status`, keeping a dated history of every change."""
    if policy.status == status:
        return
    history = list(policy.status_history or [])
    history.append({"status": status, "at": clock.now().isoformat(), "reason": reason})
    policy.status, policy.status_reason, policy.status_history = status, reason, history


def local_today() -> dt.date:
    """Today in Asia/Shanghai."""
    return clock.local_today()
