"""Claims: report a defect at any hour (LG-CLM-CENTER), list claims, read one with its notice and breaches."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from handlers import claims, intake
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


@bp.get("/claims/<claim_no>")
def get(claim_no: str):
    """GET /claims/<claim_no>: one claim with its routing notice, status history and SLA breaches."""
    user = current_user()
    session = get_session()
    claim: Claim = claims.claim_by_no(session, claim_no)
    if claim.reporter != user.username and not has_role(user, *STAFF_ROLES):
        raise ApiError(403, "NotAllowed", f"Claim {claim_no} was reported by someone else; owners see only "
                       "their own claims.", required_roles=list(STAFF_ROLES))
    return jsonify(claims.describe(session, claim))
