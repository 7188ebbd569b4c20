"""Messages from outside: deliver one to the waiting instance it correlates with."""

from __future__ import annotations

from flask import Blueprint, jsonify

from engine import messages

from ..db import commits, get_session
from ..errors import ApiError
from .access import current_user
from .params import field, json_body
from .representations import instance_json

bp = Blueprint("messages", __name__)


@bp.post("/messages")
@commits
def send():
    """POST /messages: {name, business_key | correlation, payload} → the instance it reached."""
    body = json_body()
    business_key = field(body, "business_key", str)
    correlation = field(body, "correlation", (str, int))
    if business_key is None and correlation is None:
        raise ApiError(400, "BadRequest", "Give 'business_key' or 'correlation' so the message finds its "
                       "instance.", field="business_key")
    row = messages.correlate_message(get_session(), field(body, "name", str, required=True),
                                     field(body, "payload", dict, default={}), business_key=business_key,
                                     correlation=None if correlation is None else str(correlation),
                                     actor=current_user().username)
    return jsonify(instance_json(row))
