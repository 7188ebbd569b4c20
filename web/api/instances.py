"""Process instances: start, list with filters, read with variables and history, cancel."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from engine import audit, incidents, instances
from engine.models import HumanTask

from ..db import commits, get_session
from .access import current_user, require_role
from .params import bool_arg, field, json_body, page
from .representations import event_json, incident_json, instance_json, task_json

bp = Blueprint("instances", __name__)

CANCEL_ROLES = ("process_owner", "administrator")


@bp.post("/instances")
@commits
def start():
    """POST /instances: start the latest (or given) version of a process and run it to its first wait."""
    body = json_body()
    row = instances.start_instance(
        get_session(), field(body, "process_id", str, required=True), field(body, "data", dict, default={}),
        current_user().username, business_key=field(body, "business_key", str),
        title=field(body, "title", str, default=""), version=field(body, "version", int))
    return jsonify(instance_json(row)), 201


@bp.get("/instances")
def list_instances():
    """GET /instances: filter by process_id, status, business_key (prefix), has_incident; paginated."""
    limit, offset = page()
    rows, total = instances.list_instances(
        get_session(), process_id=request.args.get("process_id"), status=request.args.get("status"),
        business_key=request.args.get("business_key"), has_incident=bool_arg("has_incident"),
        limit=limit, offset=offset)
    return jsonify({"items": [instance_json(r) for r in rows], "total": total, "limit": limit,
                    "offset": offset})


@bp.get("/instances/<int:instance_id>")
def get(instance_id: int):
    """GET /instances/<id>: the instance, its variables, open tasks, incidents and history."""
    session = get_session()
    row = instances.get_instance(session, instance_id)
    open_tasks = session.scalars(select(HumanTask)
                                 .where(HumanTask.instance_id == row.id, HumanTask.status == "open")
                                 .order_by(HumanTask.created_at))
    return jsonify({**instance_json(row), "variables": instances.variables(session, row.id),
                    "tasks": [task_json(t) for t in open_tasks],
                    "incidents": [incident_json(i) for i in incidents.list_incidents(session, None, row.id)],
                    "history": [event_json(e) for e in audit.history(session, row.id)]})


@bp.post("/instances/<int:instance_id>/cancel")
@commits
def cancel(instance_id: int):
    """POST /instances/<id>/cancel: cancel a running instance (process owners and administrators)."""
    user = require_role(*CANCEL_ROLES)
    row = instances.cancel_instance(get_session(), instance_id, user.username,
                                    field(json_body(), "reason", str, default=""))
    return jsonify(instance_json(row))
