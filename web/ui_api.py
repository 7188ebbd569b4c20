"""Small JSON endpoints for the pages' own scripts, authenticated by the session cookie (not tokens)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from engine.roles import known_roles

from . import inbox
from .accounts import ADMIN_ROLE
from .auth import current_user, login_required, roles_required
from .db import get_session
from .models import User

bp = Blueprint("ui_api", __name__)


@bp.get("/me")
@login_required
def me():
    """GET /api/ui/me: who is logged in."""
    user = current_user()
    return jsonify({"username": user.username, "display_name": user.display_name, "roles": user.roles})


@bp.get("/inbox/counts")
@login_required
def inbox_counts():
    """GET /api/ui/inbox/counts: open tasks per inbox tab (the tab badges refresh from this)."""
    user = current_user()
    return jsonify(inbox.counts(get_session(), user))


@bp.get("/users")
@roles_required(ADMIN_ROLE)
def users():
    """GET /api/ui/users: user names with roles (administrators)."""
    rows = get_session().scalars(select(User).order_by(User.username))
    return jsonify({"items": [{"username": u.username, "roles": u.roles, "active": u.active} for u in rows],
                    "roles": known_roles()})
