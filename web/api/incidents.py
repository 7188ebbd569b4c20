"""Incidents: failed service tasks and timers waiting for a retry."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine import incidents

from ..db import commits, get_session
from .access import current_user
from .params import int_arg, page
from .representations import incident_json

bp = Blueprint("incidents", __name__)


@bp.get("/incidents")
def list_incidents():
    """GET /incidents: incidents by status (default open, `all` for every one) and instance."""
    status = request.args.get("status", "open")
    instance_id = int_arg("instance_id", 0) or None
    limit, _offset = page()
    rows = incidents.list_incidents(get_session(), None if status == "all" else status, instance_id, limit)
    return jsonify({"items": [incident_json(r) for r in rows], "limit": limit})


@bp.post("/incidents/<int:incident_id>/retry")
@commits
def retry(incident_id: int):
    """POST /incidents/<id>/retry: run the failed task again; resolved when it succeeds."""
    row = incidents.retry_incident(get_session(), incident_id, current_user().username)
    return jsonify(incident_json(row))
