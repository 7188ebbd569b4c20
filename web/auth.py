"""Logging in and out of the web pages: session cookie, CSRF tokens, login throttling, role decorators."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .accounts import ADMIN_ROLE, find_user, has_role
from .db import get_session
from .errors import json_error
from .i18n import safe_next
from .models import LoginFailure, User
from .pages import run_unit

bp = Blueprint("auth", __name__)

API_TOKEN_PREFIX = "/api/v1/"  # the bearer-token API: no cookies, so no CSRF to fear
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: compared against when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LoginThrottle:
    """At most `limit` failed logins per (username, address) in `window` seconds.

    The failures are rows of web_login_failure, so every web process (gunicorn workers, several servers on
    one database) counts the same attempts. Wall-clock time, not the simulated clock: a demo moving the
    business clock by years must neither lock anyone out nor forgive a password guesser.
    """

    def __init__(self, limit: int = 5, window: float = 300.0, now: Callable[[], dt.datetime] = _utc_now):
        self.limit, self.window, self.now = limit, dt.timedelta(seconds=window), now

    @staticmethod
    def _where(key: tuple[str, str]):
        return (LoginFailure.username == key[0][:100], LoginFailure.address == key[1][:64])

    def recent(self, session: Session, key: tuple[str, str]) -> list[dt.datetime]:
        """The newest failures (at most `limit`) of a key inside the window, newest first."""
        horizon = self.now() - self.window
        return list(session.scalars(select(LoginFailure.failed_at)
                                    .where(*self._where(key), LoginFailure.failed_at > horizon)
                                    .order_by(LoginFailure.failed_at.desc()).limit(self.limit)))

    def wait_seconds(self, session: Session, key: tuple[str, str]) -> int:
        """Seconds until this key may try again (0: now)."""
        return self.wait_after(self.recent(session, key))

    def wait_after(self, stamps: list[dt.datetime]) -> int:
        """Seconds to wait given a key's recent failures (from `recent`)."""
        if len(stamps) < self.limit:
            return 0
        return max(1, int((stamps[-1] + self.window - self.now()).total_seconds()) + 1)

    def fail(self, session: Session, key: tuple[str, str]) -> None:
        """Count one failed attempt (and forget everyone's failures older than the window); does not commit."""
        now = self.now()
        session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - self.window))
        session.add(LoginFailure(username=key[0][:100], address=key[1][:64], failed_at=now))
        session.flush()

    def reset(self, session: Session, key: tuple[str, str]) -> None:
        """Forget the failures of a key after a successful login; does not commit."""
        session.execute(delete(LoginFailure).where(*self._where(key)))


class SessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, marked Secure in production or whenever the request came over HTTPS.

    The bearer-token API never reads or writes the cookie session: its requests get Flask's null session,
    which spares every API call building the cookie signer, and leaves their responses as they were.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request):
        if request.path.startswith(API_TOKEN_PREFIX):
            return None  # Flask then uses make_null_session, and never saves it
        return super().open_session(app, request)


def password_fingerprint(user: User) -> str:
    """A short digest of the password hash: changing the password ends the user's other sessions."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def current_user() -> User | None:
    """The logged-in user of this request, or None."""
    return g.get("web_user")


def load_user() -> None:
    """Before each page request: find the session's user (active, password unchanged)."""
    g.web_user = None
    if request.path.startswith(API_TOKEN_PREFIX) or "uid" not in session:
        return
    user = get_session().get(User, session["uid"])
    if user is None or not user.active or session.get("pwf") != password_fingerprint(user):
        session.clear()
        return
    g.web_user = user


def csrf_token() -> str:
    """This session's CSRF token (made on first use), for a hidden form field or the X-CSRF-Token header."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf() -> None:
    """Refuse a state-changing request to the pages without this session's CSRF token (400)."""
    if request.method not in UNSAFE_METHODS or request.path.startswith(API_TOKEN_PREFIX):
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description=_("The form has expired or did not come from this site. Reload the page "
                                 "and send it again."))


def refuse(needed: tuple[str, ...] = ()):
    """Answer a request the user may not make: JSON 401/403 under /api/, else the login page with a note."""
    user = current_user()
    if request.path.startswith("/api/"):
        if user is None:
            return json_error(401, {"error": "Unauthorized", "detail": "Log in first."})
        return json_error(403, {"error": "NotAllowed", "required_roles": list(needed),
                                "detail": f"This needs the role {' or '.join(needed)}; user "
                                          f"'{user.username}' has {', '.join(user.roles) or 'no roles'}."})
    if user is not None:
        flash(_("This page needs the role %(roles)s. Log in as a user who holds it.",
                roles=" / ".join(needed)), "error")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def login_required(view: Callable) -> Callable:
    """Let only logged-in users reach a view."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if current_user() is None:
            return refuse()
        return view(*args, **kwargs)

    return guarded


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """Let only users holding one of `roles` (administrators hold all) reach a view."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            user = current_user()
            if user is None or not has_role(user, *roles):
                return refuse(roles)
            return view(*args, **kwargs)

        guarded.required_roles = roles
        return guarded

    return decorate


def home_for(user: User) -> str:
    """Where a user lands after logging in: owners in their portal, everyone else in the inbox."""
    if set(user.roles or ()) == {"owner"}:
        return url_for("portal.home")
    return url_for("inbox.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; check the name and password, at most five failures per five minutes."""
    target = safe_next(request.values.get("next"), "")
    if request.method == "GET":
        return render_template("auth/login.html", next=target)
    username = request.form.get("username", "").strip()
    key = (username.lower(), request.remote_addr or "")
    throttle: LoginThrottle = current_app.extensions["login_throttle"]
    db_session = get_session()
    failures = throttle.recent(db_session, key)
    wait = throttle.wait_after(failures)
    if wait:
        minutes = (wait + 59) // 60
        flash(_("Too many failed attempts. Wait %(minutes)d minute(s) and try again.", minutes=minutes),
              "error")
        return render_template("auth/login.html", next=target, username=username), 429
    user = find_user(db_session, username) if username else None
    good = check_password_hash(user.password_hash if user and user.password_hash else _DUMMY_HASH,
                               request.form.get("password", ""))
    db_session.rollback()  # end the read: the throttle's write below takes the write lock afresh (SQLite)
    if not (good and user is not None and user.active and user.password_hash):
        run_unit(lambda s: throttle.fail(s, key))
        flash(_("Wrong user name or password."), "error")
        return render_template("auth/login.html", next=target, username=username), 401
    if failures:
        run_unit(lambda s: throttle.reset(s, key))
    session.clear()
    session.permanent = True
    session.update(uid=user.id, pwf=password_fingerprint(user))
    return redirect(target or home_for(user))


@bp.post("/logout")
def logout():
    """End the session."""
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def home():
    """The front page: the user's landing page, or the login form."""
    user = current_user()
    return redirect(home_for(user)) if user else render_template("auth/login.html", next="")


def init_app(app: Flask) -> None:
    """Cookie flags, the login throttle, user loading and CSRF checks before each request."""
    # Flask has defaults for all of these, so they are set here, not merely defaulted.
    app.config.update(SESSION_COOKIE_NAME="idiflow_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
                      SESSION_COOKIE_SECURE=bool(app.config.get("SESSION_COOKIE_SECURE"))
                      or app.config.get("IDIFLOW_ENV") == "production")
    app.session_interface = SessionInterface()
    app.extensions["login_throttle"] = LoginThrottle(app.config.get("LOGIN_FAILURE_LIMIT", 5),
                                                     app.config.get("LOGIN_FAILURE_WINDOW", 300.0))
    app.before_request(load_user)
    app.before_request(check_csrf)
    app.jinja_env.globals.update(csrf_token=csrf_token, current_user=current_user, has_role=has_role,
                                 ADMIN_ROLE=ADMIN_ROLE)
