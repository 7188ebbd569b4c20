"""User administration (administrators only): create users, set roles, activate, reset passwords, and the
agency a risk engineer acts for (attributes.agency_code, web/permissions.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from engine.roles import known_roles

from .accounts import ADMIN_ROLE, AccountError, create_user
from .auth import current_user, roles_required
from .db import get_session
from .models import User
from .pages import run_unit

bp = Blueprint("admin", __name__)

MIN_PASSWORD = 8


@bp.get("/admin/users")
@roles_required(ADMIN_ROLE)
def users():
    """Every user with their roles."""
    rows = get_session().scalars(select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=rows, roles=known_roles())


@bp.post("/admin/users")
@roles_required(ADMIN_ROLE)
def create():
    """Add a user."""
    form = request.form
    username, password = form.get("username", "").strip(), form.get("password", "")
    roles = form.getlist("roles")
    if not username or len(password) < MIN_PASSWORD:
        flash(_("Give a user name and a password of at least %(n)d characters.", n=MIN_PASSWORD), "error")
        return redirect(url_for("admin.users"))

    def work(session):
        try:
            create_user(session, username, roles, password, form.get("display_name", "").strip())
        except AccountError as err:
            return str(err)
        return None

    problem, _err = run_unit(work)
    flash(problem or _("User %(name)s created.", name=username), "error" if problem else "info")
    return redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>")
@roles_required(ADMIN_ROLE)
def update(user_id: int):
    """Change a user's roles, active flag, display name or password."""
    session, form = get_session(), request.form
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    roles = [r for r in form.getlist("roles") if r in known_roles()]
    active = form.get("active") == "1"
    if user.id == current_user().id and (ADMIN_ROLE not in roles or not active):
        flash(_("You cannot take the administrator role or access away from yourself."), "error")
        return redirect(url_for("admin.users"))
    password = form.get("password", "")
    if password and len(password) < MIN_PASSWORD:
        flash(_("A password needs at least %(n)d characters.", n=MIN_PASSWORD), "error")
        return redirect(url_for("admin.users"))

    def work(s):
        row = s.get(User, user_id)
        row.roles, row.active = roles, active
        row.display_name = form.get("display_name", row.display_name).strip() or row.username
        if "agency_code" in form:  # a new dict, so the JSON column is written
            attributes = {k: v for k, v in (row.attributes or {}).items() if k != "agency_code"}
            code = form["agency_code"].strip()
            row.attributes = {**attributes, "agency_code": code} if code else attributes
        if password:
            row.password_hash = generate_password_hash(password)

    run_unit(work)
    flash(_("User %(name)s saved.", name=user.username), "info")
    return redirect(url_for("admin.users"))
