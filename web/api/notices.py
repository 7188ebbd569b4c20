"""The 告知书 per unit: list, printable HTML, PDF download, and delivery at handover (LG-NOTICE*)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.models import Notice, Policy

from ..db import commits, get_session
from ..errors import ApiError
from .domain_access import complete_step, visible_policy
from .domain_json import notice_json
from .params import field, json_body

bp = Blueprint("notices", __name__)


def _notice(session: Session, notice_id: int) -> Notice:
    row = session.get(Notice, notice_id)
    if row is None:
        raise ApiError(
            404,
            "NotFound",
            f"No notice {notice_id}; list a policy's notices with GET /policies/<policy_no>/notices.",
        )
    visible_policy(session, session.get(Policy, row.policy_id).policy_no)
    return row


@bp.get("/policies/<policy_no>/notices")
def list_notices(policy_no: str):
    """GET /policies/<no>/notices: one notice per unit with its delivery."""
    session = get_session()
    policy = visible_policy(session, policy_no)
    rows = session.scalars(select(Notice).where(Notice.policy_id == policy.id).order_by(Notice.unit_no))
    return jsonify({"items": [notice_json(n) for n in rows]})


@bp.get("/notices/<int:notice_id>/html")
def html(notice_id: int):
    """GET /notices/<id>/html: the printable notice page (LG-NOTICE)."""
    row = _notice(get_session(), notice_id)
    return Response(row.html, mimetype="text/html")


@bp.get("/notices/<int:notice_id>/pdf")
def pdf(notice_id: int):
    """GET /notices/<id>/pdf: the notice as a Chinese PDF, downloaded (LG-NOTICE)."""
    session = get_session()
    row = _notice(session, notice_id)
    name = f"notice-{session.get(Policy, row.policy_id).policy_no}-{row.unit_no}.pdf"
    return Response(
        row.pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@bp.post("/policies/<policy_no>/notices/delivery")
@commits
def deliver(policy_no: str):
    """POST /policies/<no>/notices/delivery: the developer records units handed over (LG-NOTICE-DELIVER)."""
    session, body = get_session(), json_body()
    policy = visible_policy(session, policy_no)
    delivery = {
        "delivered_on": field(body, "delivered_on", str, required=True),
        "units": field(body, "units", list, required=True),
        "recipient": field(body, "recipient", str, default=""),
    }
    complete_step(
        session,
        policy.project.project_no,
        "Task_deliver_notices",
        "record a notice handover",
        {"delivery": delivery},
    )
    session.flush()
    session.expire_all()
    rows = session.scalars(select(Notice).where(Notice.policy_id == policy.id).order_by(Notice.unit_no))
    return jsonify({"items": [notice_json(n) for n in rows]})
