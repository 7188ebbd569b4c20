"""Human tasks: the inbox query, one task with its form, complete, claim, unclaim."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine import tasks
from engine.models import HumanTask

from ..accounts import ADMIN_ROLE
from ..db import commits, get_session, reads_only
from ..permissions import AGENCY_ROLE, OWNER_ROLE, is_admin, may_work_on
from .access import current_user, require_task_access, require_task_view
from .params import field, json_body, page
from .representations import task_json, task_row_json

bp = Blueprint("tasks", __name__)
CASE_RULE_LANES = frozenset({OWNER_ROLE, AGENCY_ROLE})


@bp.get("/tasks")
@reads_only
def list_tasks():
    """GET /tasks: open tasks by lane, assignee, business key; by default the caller's own lanes."""
    user = current_user()
    lane, assignee = request.args.get("lane"), request.args.get("assignee")
    lanes = [lane] if lane else None
    if lane is None and assignee is None and ADMIN_ROLE not in (user.roles or ()):
        lanes = list(user.roles or ())  # the caller's inbox
    limit, offset = page()
    session = get_session()
    rows = tasks.list_task_rows(session, lanes=lanes, assignee=assignee,
                                status=request.args.get("status", "open"),
                                business_key=request.args.get("business_key"),
                                process_id=request.args.get("process_id"), limit=limit, offset=offset)
    if not is_admin(user):  # owner and risk-engineer lanes carry case rules on top of the role
        rows = [r for r in rows if r["lane"] not in CASE_RULE_LANES or r["assignee"] == user.username
                or may_work_on(session, user, HumanTask(**r))]  # (a transient object: the rules read it)
    return jsonify({"items": [task_row_json(r) for r in rows], "limit": limit, "offset": offset})


@bp.get("/tasks/<task_id>")
@reads_only
def get(task_id: str):
    """GET /tasks/<id>: one task with the JSON Schema of its form."""
    row, schema = tasks.open_task(get_session(), task_id, check=require_task_view)
    return jsonify({**task_json(row), "form_schema": schema})


@bp.post("/tasks/<task_id>/complete")
@commits
def complete(task_id: str):
    """POST /tasks/<id>/complete: validate {data} against the form, complete, run to the next wait."""
    data = field(json_body(), "data", dict, default={})
    row = tasks.complete_task(get_session(), task_id, data, current_user().username, check=require_task_access)
    return jsonify(task_json(row))


@bp.post("/tasks/<task_id>/claim")
@commits
def claim(task_id: str):
    """POST /tasks/<id>/claim: take an open task (it leaves the group queue)."""
    session = get_session()
    user = require_task_access(tasks.get_task(session, task_id))
    return jsonify(task_json(tasks.claim_task(session, task_id, user.username)))


@bp.post("/tasks/<task_id>/unclaim")
@commits
def unclaim(task_id: str):
    """POST /tasks/<id>/unclaim: give a claimed task back to its group (administrators may force it)."""
    session = get_session()
    user = require_task_access(tasks.get_task(session, task_id))
    force = ADMIN_ROLE in (user.roles or ())
    return jsonify(task_json(tasks.unclaim_task(session, task_id, user.username, force=force)))
