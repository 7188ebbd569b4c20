"""Object rules on top of roles: which tasks, cases and claims a user may see and work on.

- An owner sees only their own claims (the defect reports they filed) and tasks on those claims.
- The authority officer sees every task and case read-only, and works only on tasks of its own lane.
- Claims supervisors see and reassign the claims lanes; administrators see and reassign everything.
- A risk engineer acts for one agency (the user's attributes.agency_code, the agency's credit code): in the
  risk_engineer lane they see and work only on the cases of projects their agency is actively engaged on
  (handlers.models.Engagement) and on their agency's own registration (business key AG-<code>). Without an
  agency code they see none of that lane.
"""

from __future__ import annotations

from sqlalchemy import Select, String, and_, cast, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.models import HumanTask
from handlers.models import Engagement, Party, Policy, Project

from .accounts import ADMIN_ROLE, has_role
from .case_models import DefectReport
from .models import User

OWNER_ROLE = "owner"
AGENCY_ROLE = "risk_engineer"
#: the business key of an agency's registration case (handlers/demo.py, the registration API)
AGENCY_CASE_PREFIX = "AG-"
READ_ALL_ROLES = ("authority_officer",)
#: supervisor role -> the lanes whose tasks they may reassign
SUPERVISED_LANES = {"claims_supervisor": ("claims_handler", "claims_supervisor")}
CLAIM_STAFF_ROLES = ("claims_handler", "claims_supervisor", "authority_officer")


def roles_of(user: User) -> set[str]:
    """The user's role keys."""
    return set(user.roles or ())


def is_admin(user: User) -> bool:
    """True for administrators."""
    return ADMIN_ROLE in roles_of(user)


def reads_everything(user: User) -> bool:
    """True for users who may see every task and case (administrators, the authority)."""
    return is_admin(user) or bool(roles_of(user).intersection(READ_ALL_ROLES))


def is_supervisor(user: User) -> bool:
    """True for users who may reassign other people's tasks."""
    return is_admin(user) or bool(roles_of(user).intersection(SUPERVISED_LANES))


def supervised_lanes(user: User) -> set[str]:
    """The lanes a supervisor may reassign in."""
    return {lane for role in roles_of(user) for lane in SUPERVISED_LANES.get(role, ())}


def own_claim_numbers(session: Session, user: User) -> list[str]:
    """Claim numbers of the defect reports this user filed."""
    return list(session.scalars(select(DefectReport.claim_no).where(DefectReport.reporter == user.username)))


def agency_code(user: User) -> str:
    """The credit code of the agency a risk engineer acts for ('' when none is set)."""
    code = (user.attributes or {}).get("agency_code")
    return str(code).strip() if code else ""


def agency_project_nos(code: str) -> Select:
    """SELECT of the numbers of projects on which the agency with this credit code is actively engaged."""
    return (select(Project.project_no).join(Policy, Policy.project_id == Project.id)
            .join(Engagement, Engagement.policy_id == Policy.id).join(Party, Party.id == Engagement.agency_id)
            .where(Party.credit_code == code, Engagement.status == "active"))


def agency_cases(user: User) -> ColumnElement[bool]:
    """The condition on human_task rows of the risk engineer's agency: its engaged projects, its registration."""
    code = agency_code(user)
    if not code:
        return false()
    return or_(HumanTask.business_key.in_(agency_project_nos(code)),
               HumanTask.business_key == f"{AGENCY_CASE_PREFIX}{code}")


def _candidate(user: User) -> ColumnElement[bool]:
    # candidate_users is a JSON list; its text form holds each name in double quotes on both backends.
    return cast(HumanTask.candidate_users, String).like(f'%"{user.username}"%')


def lane_filter(session: Session, user: User) -> ColumnElement[bool]:
    """Tasks in the user's lanes that the object rules let them work on, or offered to them by name."""
    lanes = roles_of(user) - {OWNER_ROLE, AGENCY_ROLE}
    parts: list[ColumnElement[bool]] = [HumanTask.lane.in_(sorted(lanes))] if lanes else []
    if AGENCY_ROLE in roles_of(user):
        parts.append(and_(HumanTask.lane == AGENCY_ROLE, agency_cases(user)))
    if OWNER_ROLE in roles_of(user):
        parts.append(and_(HumanTask.lane == OWNER_ROLE,
                          HumanTask.business_key.in_(own_claim_numbers(session, user))))
    parts.append(_candidate(user))
    return or_(*parts) if parts else false()


def visible_filter(session: Session, user: User) -> ColumnElement[bool] | None:
    """The condition on human_task rows this user may see (None: all of them)."""
    if reads_everything(user):
        return None
    parts = [lane_filter(session, user), HumanTask.assignee == user.username,
             HumanTask.completed_by == user.username]
    lanes = supervised_lanes(user)
    if lanes:
        parts.append(HumanTask.lane.in_(sorted(lanes)))
    return or_(*parts)


def may_view_task(session: Session, user: User, task: HumanTask) -> bool:
    """True when the user may open the task's page."""
    condition = visible_filter(session, user)
    if condition is None:
        return True
    return session.scalar(select(HumanTask.id).where(HumanTask.id == task.id, condition)) is not None


def may_work_on(session: Session, user: User, task: HumanTask) -> bool:
    """True when the user may claim or complete the task (its lane's role, a named candidate, an admin)."""
    if is_admin(user) or user.username in (task.candidate_users or ()):
        return True
    if task.lane == OWNER_ROLE:
        return OWNER_ROLE in roles_of(user) and task.business_key in own_claim_numbers(session, user)
    if task.lane == AGENCY_ROLE:
        return AGENCY_ROLE in roles_of(user) and session.scalar(
            select(HumanTask.id).where(HumanTask.id == task.id, agency_cases(user))) is not None
    return bool(task.lane) and task.lane in roles_of(user)


def may_reassign(user: User, task: HumanTask) -> bool:
    """True when the user may give the task to someone else."""
    return is_admin(user) or task.lane in supervised_lanes(user)


def may_view_instance(session: Session, user: User, instance_id: int, business_key: str | None) -> bool:
    """True when the user may see a case: read-all roles, an owner's own claim, or a task of theirs in it."""
    if reads_everything(user):
        return True
    if business_key and business_key in own_claim_numbers(session, user):
        return True
    condition = visible_filter(session, user)
    return session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance_id, condition)
                          .limit(1)) is not None


def may_view_claim(session: Session, user: User, report: DefectReport) -> bool:
    """True when the user may follow a claim: its reporter, claims staff, the authority, administrators."""
    return report.reporter == user.username or has_role(user, *CLAIM_STAFF_ROLES)
