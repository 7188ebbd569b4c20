"""Who may see which project, and how a domain write becomes a step of the case's process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine import tasks
from engine.models import HumanTask, ProcessInstance
from handlers.models import Party, Policy, Project

from ..accounts import has_role
from ..errors import ApiError
from ..models import User
from ..permissions import AGENCY_ROLE, agency_code, agency_project_nos
from .access import current_user, require_task_access

#: roles that read every project (LG-OVERSIGHT for the authority; the insurer's staff)
READ_ALL_ROLES = (
    "underwriter",
    "authority_officer",
    "claims_handler",
    "claims_supervisor",
    "process_owner",
)
#: roles that read only their own projects: those they registered or whose party they act for
PARTY_ROLES = ("developer", "contractor")


def project_scope(session: Session, user: User) -> ColumnElement[bool] | None:
    """The condition on projects this user may read (None: all); 403 for roles that read none."""
    if has_role(user, *READ_ALL_ROLES):
        return None
    readers = READ_ALL_ROLES + PARTY_ROLES + (AGENCY_ROLE,)
    if not has_role(user, *readers):
        raise ApiError(
            403,
            "NotAllowed",
            f"Projects are read by {', '.join(readers)}; "
            f"user '{user.username}' has {', '.join(user.roles or ()) or 'no roles'}.",
            required_roles=list(readers),
        )
    agency = [Project.project_no.in_(agency_project_nos(agency_code(user)))] if agency_code(user) else []
    if not has_role(user, *PARTY_ROLES):  # a risk engineer: the projects their agency is engaged on
        return or_(*agency) if agency else false()
    started = select(ProcessInstance.business_key).where(
        ProcessInstance.process_id == "idi_policy", ProcessInstance.started_by == user.username
    )
    parts: list[ColumnElement[bool]] = [Project.project_no.in_(started), *agency]
    codes = [str(c) for c in (user.attributes or {}).get("party_codes") or []]
    if codes:
        mine = select(Party.id).where(Party.credit_code.in_(codes))
        parts += [Project.developer_id.in_(mine), Project.contractor_id.in_(mine)]
    return or_(*parts)


def visible_project(session: Session, project_no: str) -> Project:
    """The project if it exists and the caller may read it; else 404 or 403."""
    row = session.scalars(select(Project).where(Project.project_no == project_no)).first()
    if row is None:
        raise ApiError(404, "NotFound", f"No project numbered '{project_no}'; list them with GET /projects.")
    scope = project_scope(session, current_user())
    if scope is not None and session.scalar(select(Project.id).where(Project.id == row.id, scope)) is None:
        raise ApiError(
            403,
            "NotAllowed",
            f"Project {project_no} is not one of yours: a developer or contractor "
            "reads the projects they registered or whose party they act for, a risk engineer "
            "those their agency (attributes.agency_code) is engaged on.",
        )
    return row


def visible_policy(session: Session, policy_no: str) -> Policy:
    """The policy if it exists and the caller may read its project; else 404 or 403."""
    row = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).first()
    if row is None:
        raise ApiError(
            404,
            "NotFound",
            f"No policy numbered '{policy_no}'; a policy is created with the quote "
            "after registration (IDI-<project_no>).",
        )
    visible_project(session, row.project.project_no)
    return row


def open_step(session: Session, business_key: str, task_name: str, what: str) -> HumanTask:
    """The open task `task_name` of a case, or 409 naming what the case waits for instead."""
    rows = [
        t
        for t in tasks.list_tasks(session, business_key=business_key, limit=500)
        if t.business_key == business_key
    ]
    for row in rows:
        if row.task_name == task_name:
            return row
    waiting = (
        ", ".join(sorted({f"{t.title or t.task_name} ({t.lane})" for t in rows})) or "nothing from a person"
    )
    raise ApiError(
        409,
        "NotAtThisStep",
        f"Case {business_key} is not waiting to {what}; it waits for: {waiting}.",
        waiting_for=sorted({t.task_name for t in rows}),
    )


def complete_step(
    session: Session, business_key: str, task_name: str, what: str, data: dict[str, Any]
) -> HumanTask:
    """Complete the case's open task `task_name` as the caller (its lane's role), through the engine."""
    row = open_step(session, business_key, task_name, what)
    user = require_task_access(row)
    return tasks.complete_task(session, row.id, data, user.username)
