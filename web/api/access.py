"""Who is calling the API: bearer-token authentication and role checks."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, request

from engine.models import HumanTask

from ..accounts import ADMIN_ROLE, has_role
from ..auth_tokens import TokenCache, bearer_token
from ..db import begin_read, begin_write, get_session
from ..errors import ApiError
from ..models import User
from ..permissions import AGENCY_ROLE, OWNER_ROLE, may_view_task, may_work_on

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def public(view: Callable) -> Callable:
    """Mark a view as open to callers without a token."""
    view.public = True
    return view


def authenticate() -> None:
    """Before each API request: find the user of the bearer token, or answer 401."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "public", False):
        return
    session = get_session()
    if request.method not in SAFE_METHODS:
        begin_write(session)  # before the first read, so SQLite never has to upgrade a read lock
    elif getattr(view, "reads_only", False):
        begin_read(session)
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise ApiError(401, "Unauthorized", "Send an `Authorization: Bearer <token>` header; an "
                       "administrator creates tokens with `idiflow create-token USERNAME`.")
    user = token_cache().user(session, token)
    if user is None:
        raise ApiError(401, "Unauthorized", "The token is unknown, revoked or belongs to an inactive user; "
                       "ask an administrator for a new one.")
    g.user = user


def token_cache() -> TokenCache:
    """The app's token cache (API_TOKEN_CACHE_SECONDS, default 5; 0 turns it off)."""
    cache = current_app.extensions.get("idiflow_token_cache")
    if cache is None:
        cache = current_app.extensions["idiflow_token_cache"] = TokenCache(
            float(current_app.config.get("API_TOKEN_CACHE_SECONDS", 5.0)))
    return cache


def current_user() -> User:
    """The authenticated user of this request."""
    return g.user


def require_role(*roles: str) -> User:
    """The current user if they hold one of `roles` (administrators hold all); else 403."""
    user = current_user()
    if not has_role(user, *roles):
        raise ApiError(403, "NotAllowed", f"This needs the role {' or '.join(roles)}; "
                       f"user '{user.username}' has {', '.join(user.roles) or 'no roles'}.",
                       required_roles=list(roles))
    return user


def require_task_access(task: HumanTask) -> User:
    """The current user if they may work on `task` (lane role and object rules, candidate, administrator)."""
    user = current_user()
    if may_work_on(get_session(), user, task):
        return user
    raise ApiError(403, "NotAllowed", f"Task '{task.title}' is in lane '{task.lane}'; user '{user.username}' "
                   f"may not work on it (role or case rules). Ask an administrator to grant it or to reassign "
                   f"the task.", required_roles=[task.lane] if task.lane else [ADMIN_ROLE])


def require_task_view(task: HumanTask) -> User:
    """The current user if they may read `task` (the inbox's object rules); else 403."""
    user = current_user()
    if plainly_visible(user, task) or may_view_task(get_session(), user, task):
        return user
    raise ApiError(403, "NotAllowed", f"User '{user.username}' may not see task '{task.title}' "
                   f"(lane '{task.lane}', case {task.business_key or '-'}).")


def plainly_visible(user: User, task: HumanTask) -> bool:
    """True when the task row alone shows the user may see it, so no query is needed.

    Each condition is one `permissions.visible_filter` grants: a lane the user holds that carries no case
    rules (owner and risk-engineer lanes do), the task is assigned to or offered to them, or they did it.
    Anything else is left to `may_view_task`.
    """
    name = user.username
    return (task.lane is not None and task.lane not in (OWNER_ROLE, AGENCY_ROLE) and task.lane in (user.roles or ())) \
        or task.assignee == name or task.completed_by == name or name in (task.candidate_users or ())
