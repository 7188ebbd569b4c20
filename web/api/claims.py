"""Claims: report a defect at any hour (LG-CLM-CENTER), list and read claims, follow a claim's timeline,
withdraw or dispute it (owner), and keep the register of appraisal and loss-assessment bodies."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from engine import clock
from handlers import claim_disputes, claims, intake
from handlers.claim_models import Claim

from ..accounts import has_role
from ..db import commits, get_session
from ..errors import ApiError
from .access import current_user, require_role
from .params import field, json_body, page

bp = Blueprint("claims", __name__)

#: Who may report: owners for themselves, claims-centre staff for hotline callers.
REPORT_ROLES = ("owner", "claims_handler", "claims_supervisor")
#: Who sees every claim; an owner sees only the claims they reported.
STAFF_ROLES = ("claims_handler", "claims_supervisor", "authority_officer")
#: Who keeps the register of appraisal and loss-assessment bodies (administrators hold every role).
BODY_ROLES = ("claims_supervisor", "authority_officer")


def _reported_at(body: dict) -> dt.datetime | None:
    raw = field(body, "reported_at", str)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", f"reported_at '{raw}' is not an ISO date-time; send e.g. "
                       "2030-01-10T23:30:00+08:00.", field="reported_at") from None
    if value.tzinfo is None:
        raise ApiError(400, "BadRequest", "reported_at needs a UTC offset, e.g. +08:00.", field="reported_at")
    return value


@bp.post("/claims")
@commits
def report():
    """POST /claims: register a defect report; the claim number and the routing notice come back at once."""
    user = require_role(*REPORT_ROLES)
    body = json_body()
    staff = has_role(user, "claims_handler", "claims_supervisor")
    reporter = field(body, "reporter", str) if staff else None
    session = get_session()
    claim_no = intake.report_defect(
        session, field(body, "category", int, required=True), field(body, "description", str, default=""),
        reporter or user.username, field(body, "channel", str, default="hotline" if staff else "portal"),
        policy_no=field(body, "policy_no", str), unit=field(body, "unit", str, default=""),
        reported_at=_reported_at(body), actor=user.username)
    return jsonify(claims.describe(session, claims.claim_by_no(session, claim_no))), 201


@bp.get("/claims")
def list_claims():
    """GET /claims: claims newest first; owners see their own reports only."""
    user = current_user()
    limit, offset = page()
    reporter = None if has_role(user, *STAFF_ROLES) else user.username
    session = get_session()
    rows, total = intake.list_claims(session, reporter=reporter, status=request.args.get("status"),
                                     limit=limit, offset=offset)
    return jsonify({"items": [claims.describe(session, r) for r in rows], "total": total, "limit": limit,
                    "offset": offset})


def _visible(claim_no: str, staff_roles: tuple[str, ...] = STAFF_ROLES) -> Claim:
    """The claim if the caller reported it or holds one of `staff_roles`; else 403."""
    user = current_user()
    claim: Claim = claims.claim_by_no(get_session(), claim_no)
    if claim.reporter != user.username and not has_role(user, *staff_roles):
        raise ApiError(403, "NotAllowed", f"Claim {claim_no} was reported by someone else; owners act only on "
                       "their own claims.", required_roles=list(staff_roles))
    return claim


@bp.get("/claims/<claim_no>")
def get(claim_no: str):
    """GET /claims/<claim_no>: one claim with its routing notice, status history and SLA breaches."""
    return jsonify(claims.describe(get_session(), _visible(claim_no)))


@bp.get("/claims/<claim_no>/timeline")
def timeline(claim_no: str):
    """GET /claims/<claim_no>/timeline: status history, SLA due dates (running, met, breached), open steps."""
    return jsonify(claims.timeline(get_session(), _visible(claim_no)))


@bp.post("/claims/<claim_no>/withdraw")
@commits
def withdraw(claim_no: str):
    """POST /claims/<claim_no>/withdraw: the reporter (or claims staff for a caller) withdraws before survey."""
    claim = _visible(claim_no, ("claims_handler", "claims_supervisor"))
    session = get_session()
    body = json_body()
    intake.withdraw_claim(session, claim.claim_no, current_user().username,
                          field(body, "reason", str, default=""))
    return jsonify(claims.describe(session, claim))


@bp.post("/claims/<claim_no>/dispute")
@commits
def dispute(claim_no: str):
    """POST /claims/<claim_no>/dispute: the owner disputes a rejection (coverage) or the offered amount."""
    claim = _visible(claim_no, ())
    session = get_session()
    body = json_body()
    intake.dispute_claim(session, claim.claim_no, current_user().username,
                         field(body, "kind", str, default="coverage"), field(body, "grounds", str, default=""))
    return jsonify(claims.describe(session, claim))


def _date(body: dict, name: str) -> dt.date | None:
    raw = field(body, name, str)
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        raise ApiError(400, "BadRequest", f"{name} '{raw}' is not a date; send YYYY-MM-DD.", field=name) from None


@bp.get("/expert-bodies")
def list_bodies():
    """GET /expert-bodies: appraisal and loss-assessment bodies; ?kind=appraisal|loss_assessment."""
    require_role(*BODY_ROLES, "claims_handler")
    session = get_session()
    today = clock.to_local(clock.now()).date()
    rows = claim_disputes.list_expert_bodies(session, request.args.get("kind"))
    return jsonify({"items": [claim_disputes.describe_body(b, today) for b in rows], "total": len(rows)})


@bp.post("/expert-bodies")
@commits
def register_body():
    """POST /expert-bodies: register a body with its appraisal qualification and/or judicial licence."""
    require_role(*BODY_ROLES)
    body = json_body()
    session = get_session()
    row = claim_disputes.register_expert_body(
        session, field(body, "credit_code", str, required=True), field(body, "name", str, required=True),
        field(body, "qualification_no", str, default=""), field(body, "judicial_licence_no", str, default=""),
        _date(body, "licence_valid_until"))
    return jsonify(claim_disputes.describe_body(row, clock.to_local(clock.now()).date())), 201
