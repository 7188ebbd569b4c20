"""Who may use the studio and the cockpit: one place for their access checks, on top of web.auth.

The studio and the cockpit are process-owner tools: process owners and administrators edit, deploy and
migrate; the cockpit is also open to supervisors of the authority (read-only roles may look, not act).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, abort, current_app, g, request
from flask_babel import gettext

from . import auth
from .accounts import has_role
from .errors import json_error
from .models import User

OWNER_ROLES = ("process_owner", "administrator")
WATCHER_ROLES = (*OWNER_ROLES, "authority_officer")


def N_(message: str) -> str:  # the name pybabel extracts by default
    """Mark a text for translation where it is declared; it is translated where it is shown."""
    return message


#: states of instances, timers, incidents and sandbox runs as the pages show them
STATE_LABELS = {"running": N_("running"), "suspended": N_("suspended"), "completed": N_("completed"),
                "cancelled": N_("cancelled"), "waiting": N_("waiting"), "leased": N_("leased"), "fired": N_("fired"),
                "open": N_("open"), "resolved": N_("resolved"), "error": N_("error")}


def _load_user() -> None:
    """Load the session's user and check CSRF, unless the app already did (web.auth.init_app)."""
    if "web_user" not in g:
        auth.load_user()
        auth.check_csrf()


def _fallback_gettext(message: str, **values) -> str:
    return message % values if values else message


def _template_helpers() -> dict:
    """`_` for templates when Flask-Babel is not installed on the app (its own `_` wins otherwise)."""
    return {} if "_" in current_app.jinja_env.globals else {"_": _fallback_gettext}


def init_blueprint(bp: Blueprint) -> None:
    """Make every view of `bp` know its user; templates get the access helpers."""
    bp.before_request(_load_user)
    bp.context_processor(_template_helpers)
    bp.context_processor(lambda: {"may": may, "OWNER_ROLES": OWNER_ROLES, "csrf_token": auth.csrf_token,
                                  "console_user": user, "state_label": state_label})


def state_label(state: str | None) -> str:
    """A state (running, waiting …) in the reader's language; unknown states as they are."""
    if not state:
        return ""
    return translate(STATE_LABELS[state]) if state in STATE_LABELS else state


def translate(message: str, **values) -> str:
    """gettext when the app has Flask-Babel, else the English text (the blueprint tests without pages)."""
    if "babel" in current_app.extensions:
        return gettext(message, **values)
    return _fallback_gettext(message, **values)


def user() -> User | None:
    """The logged-in user of this request."""
    return auth.current_user()


def actor() -> str:
    """The name recorded in the audit trail for this request."""
    current = user()
    return current.username if current else "anonymous"


def wants_json() -> bool:
    """True for the studio's and cockpit's JSON endpoints (called by their scripts)."""
    return request.is_json or "/api/" in request.path or request.accept_mimetypes.best == "application/json"


def _refuse(roles: tuple[str, ...]):
    current = user()
    if wants_json():
        if current is None:
            return json_error(401, {"error": "Unauthorized", "detail": "Log in first."})
        return json_error(403, {"error": "NotAllowed", "required_roles": list(roles),
                                "detail": f"This needs the role {' or '.join(roles)}; user "
                                          f"'{current.username}' has "
                                          f"{', '.join(current.roles) or 'no roles'}."})
    if "auth.login" in current_app.view_functions:
        return auth.refuse(roles)
    abort(401 if current is None else 403)


def requires(*roles: str) -> Callable[[Callable], Callable]:
    """Let only users holding one of `roles` (administrators hold all) reach a view."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            current = user()
            if current is None or not has_role(current, *roles):
                return _refuse(roles)
            return view(*args, **kwargs)

        guarded.required_roles = roles
        return guarded

    return decorate


def may(*roles: str) -> bool:
    """True when the current user holds one of `roles` (for showing or hiding buttons)."""
    current = user()
    return current is not None and has_role(current, *roles)
