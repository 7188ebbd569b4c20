"""The clock and the timers: read the engine's time, move the simulated clock, list pending timers."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, jsonify, request

from engine import clock, timers

from ..db import commits, get_session
from ..errors import ApiError
from .access import require_role
from .params import field, int_arg, json_body, page

bp = Blueprint("clock", __name__)

CLOCK_ROLES = ("administrator", "process_owner")


def _fired_json(result: timers.FireResult) -> dict:
    return {"timer_id": result.timer_id, "outcome": result.outcome, "instance_id": result.instance_id,
            "task_name": result.task_name, "due_at": result.due_at.isoformat() if result.due_at else None,
            "fired_at": result.fired_at.isoformat() if result.fired_at else None, "lag_ms": result.lag_ms,
            "error": result.error}


def _mover() -> str:
    """The user moving the clock: a process owner or administrator, and never in production."""
    user = require_role(*CLOCK_ROLES)
    if current_app.config.get("IDIFLOW_ENV") == "production" or clock.is_production():
        raise ApiError(409, "SimulatedClockRefused", "Production runs on the system clock; the simulated "
                       "clock can only be moved on a demo or sandbox deployment.")
    return user.username


def _moved(fired: list[timers.FireResult]):
    session = get_session()
    return jsonify({"clock": clock.describe(session), "fired": [_fired_json(f) for f in fired]})


@bp.get("/clock")
def show():
    """GET /clock: the engine's time (UTC and Asia/Shanghai) and whether it is simulated."""
    session = get_session()
    return jsonify({**clock.describe(session), "next_due": _iso(timers.next_due(session))})


@bp.post("/clock/advance")
@commits
def advance():
    """POST /clock/advance {duration}: move the simulated clock forward, firing due timers in order."""
    actor = _mover()
    text = field(json_body(), "duration", str, required=True)
    try:
        delta = clock.parse_delta(text)
    except ValueError as err:
        raise ApiError(400, "BadRequest", str(err), field="duration") from None
    return _moved(clock.advance(get_session(), delta, actor))


@bp.post("/clock/advance-to")
@commits
def advance_to():
    """POST /clock/advance-to {when}: move the simulated clock to an ISO time (naive = Asia/Shanghai)."""
    actor = _mover()
    text = field(json_body(), "when", str, required=True)
    try:
        when = clock.parse_when(text)
    except ValueError:
        raise ApiError(400, "BadRequest", f"'{text}' is not an ISO date or date-time, e.g. "
                       "2029-03-01 or 2029-03-01T09:00:00+08:00.", field="when") from None
    return _moved(clock.advance_to(get_session(), when, actor))


@bp.post("/clock/next")
@commits
def next_timer():
    """POST /clock/next: jump the simulated clock to the next due timer and fire it."""
    actor = _mover()
    return _moved(clock.next(get_session(), actor))


@bp.get("/timers")
def list_timers():
    """GET /timers: timers by due date (status pending by default; `all` for every one)."""
    status = request.args.get("status", "pending")
    instance_id = int_arg("instance_id", 0) or None
    limit, offset = page()
    rows = timers.list_timers(get_session(), None if status == "all" else status, instance_id,
                              limit=limit, offset=offset)
    return jsonify({"items": [timers.describe(r) for r in rows], "limit": limit, "offset": offset})


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
