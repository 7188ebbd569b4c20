"""Risk management agencies: the register with each agency's status, one agency's engagements, applying."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import instances
from handlers.models import AgencyRegistration, Engagement, Party

from ..db import commits, get_session
from ..errors import ApiError
from .access import require_role
from .domain_access import complete_step
from .domain_json import engagement_json, party_json, registration_json
from .params import field, json_body

bp = Blueprint("agencies", __name__)


def _registrations(session: Session, party: Party) -> list[AgencyRegistration]:
    return list(
        session.scalars(
            select(AgencyRegistration)
            .where(AgencyRegistration.party_id == party.id)
            .order_by(AgencyRegistration.id)
        )
    )


def agency_json(session: Session, party: Party) -> dict:
    """An agency with its latest registration status (LG-RM-REG)."""
    regs = _registrations(session, party)
    registered = [r for r in regs if r.status == "registered"]
    latest = regs[-1] if regs else None
    return {
        **party_json(party),
        "registration_status": latest.status if latest else "none",
        "reg_no": registered[-1].reg_no if registered else "",
        "registered": bool(registered),
    }


@bp.get("/agencies")
def list_agencies():
    """GET /agencies: every risk management agency with its registration status."""
    session = get_session()
    rows = session.scalars(select(Party).where(Party.kind == "agency").order_by(Party.name))
    return jsonify({"items": [agency_json(session, p) for p in rows]})


@bp.get("/agencies/<credit_code>")
def get(credit_code: str):
    """GET /agencies/<code>: an agency, its registrations and its engagements (LG-RM-*)."""
    session = get_session()
    party = session.scalars(
        select(Party).where(Party.credit_code == credit_code, Party.kind == "agency")
    ).first()
    if party is None:
        raise ApiError(404, "NotFound", f"No risk management agency with credit code '{credit_code}'.")
    engagements = session.scalars(
        select(Engagement).where(Engagement.agency_id == party.id).order_by(Engagement.id)
    )
    return jsonify(
        {
            **agency_json(session, party),
            "registrations": [registration_json(r) for r in _registrations(session, party)],
            "engagements": [engagement_json(session, e) for e in engagements],
        }
    )


@bp.post("/agencies/registrations")
@commits
def apply():
    """POST /agencies/registrations: an agency applies to the authority, which decides in its inbox."""
    user = require_role("risk_engineer")
    session = get_session()
    agency = field(json_body(), "agency", dict, required=True)
    code = agency.get("credit_code") or ""
    key = f"AG-{code}"
    instances.start_instance(
        session,
        "idi_agency_registration",
        {},
        user.username,
        business_key=key,
        title=f"风险管理机构登记 {agency.get('name', code)}",
    )
    complete_step(session, key, "Task_apply_registration", "take the application", {"agency": agency})
    party = session.scalars(select(Party).where(Party.credit_code == code)).one()
    return jsonify(agency_json(session, party)), 201
