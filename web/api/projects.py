"""Projects: register one (starts its policy lifecycle), list them by status and phase, read one, record C."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine import clock, instances, messages
from engine.models import HumanTask, ProcessInstance
from handlers.models import Inspection, Party, Policy, Project

from ..db import commits, get_session
from ..errors import ApiError
from .access import current_user, require_role
from .domain_access import complete_step, project_scope, visible_project
from .domain_json import (
    cover_json,
    flags_json,
    inspection_json,
    party_json,
    policy_json,
    project_brief,
)
from .params import field, json_body, page
from .representations import iso, task_json

bp = Blueprint("projects", __name__)

COMPLETION_ROLES = ("authority_officer", "developer")


def _policy(session: Session, project: Project) -> Policy | None:
    return session.scalars(select(Policy).where(Policy.project_id == project.id)).first()


def project_detail(session: Session, project: Project) -> dict:
    """A project: parties, flags, policy, cover dates, inspections, major-risk copies, open tasks."""
    policy = _policy(session, project)
    inspections = session.scalars(
        select(Inspection)
        .where(Inspection.project_id == project.id)
        .order_by(Inspection.inspected_at, Inspection.id)
    ).all()
    open_tasks = session.scalars(
        select(HumanTask)
        .where(HumanTask.business_key == project.project_no, HumanTask.status == "open")
        .order_by(HumanTask.created_at)
    )
    parties = {
        role: party_json(session.get(Party, pid)) if pid else None
        for role, pid in (
            ("developer", project.developer_id),
            ("contractor", project.contractor_id),
            ("designer", project.designer_id),
            ("supervisor", project.supervisor_id),
        )
    }
    return {
        **project_brief(project, policy),
        "address": project.address,
        "in_longgang": project.in_longgang,
        "construction_cost": str(project.construction_cost),
        "contract_no": project.contract_no,
        "units": project.units,
        "completion_record_no": project.completion_record_no,
        "parties": parties,
        "flags": flags_json(project, policy),
        "cover": cover_json(policy) if policy else None,
        "policy": policy_json(session, policy) if policy else None,
        "inspections": [inspection_json(session, i) for i in inspections],
        "major_risk_reports": [
            {
                "inspection_id": i.id,
                "report_no": i.report_no,
                "stage": i.stage,
                "copy_due_at": iso(i.authority_copy_due_at),
                "copied_at": iso(i.authority_copied_at),
                "acknowledged_at": iso(i.authority_acknowledged_at),
            }
            for i in inspections
            if i.has_major
        ],
        "open_tasks": [task_json(t) for t in open_tasks],
    }


def _next_project_no(session: Session) -> str:
    year = clock.local_today().year
    count = (
        session.scalar(
            select(func.count()).select_from(Project).where(Project.project_no.startswith(f"LG-{year}-"))
        )
        or 0
    )
    while True:
        count += 1
        number = f"LG-{year}-{count:03d}"
        if session.scalar(select(Project.id).where(Project.project_no == number)) is None:
            return number


@bp.post("/projects")
@commits
def register():
    """POST /projects: a developer registers a project; its policy lifecycle starts (LG-SCOPE, DEC-RATE)."""
    require_role("developer")
    session, body = get_session(), json_body()
    project = field(body, "project", dict, required=True)
    project_no = field(body, "project_no", str) or _next_project_no(session)
    taken = select(ProcessInstance.id).where(
        ProcessInstance.process_id == "idi_policy", ProcessInstance.business_key == project_no
    )
    if session.scalar(taken.limit(1)) is not None:
        raise ApiError(
            409,
            "ProjectExists",
            f"Project number {project_no} is taken; leave `project_no` out to get the next free number.",
            field="project_no",
        )
    instances.start_instance(
        session,
        "idi_policy",
        {"project_no": project_no},
        current_user().username,
        business_key=project_no,
        title=f"IDI {project_no} {project.get('name', '')}".strip(),
    )
    complete_step(session, project_no, "Task_register_project", "register the project", {"project": project})
    row = session.scalars(select(Project).where(Project.project_no == project_no)).one()
    return jsonify(project_detail(session, row)), 201


@bp.get("/projects")
def list_projects():
    """GET /projects: projects with status and phase, newest first; filters status, phase; paginated."""
    session = get_session()
    scope = project_scope(session, current_user())
    query = select(Project, Policy).outerjoin(Policy, Policy.project_id == Project.id)
    if scope is not None:
        query = query.where(scope)
    if request.args.get("status"):
        query = query.where(Project.status == request.args["status"])
    if request.args.get("phase"):
        phase = request.args["phase"]
        query = query.where(or_(Policy.status == phase, and_(Policy.id.is_(None), Project.status == phase)))
    limit, offset = page()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Project.registered_at.desc(), Project.id.desc()).limit(limit).offset(offset)
    ).all()
    return jsonify(
        {
            "items": [project_brief(p, pol) for p, pol in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/projects/<project_no>")
def get(project_no: str):
    """GET /projects/<no>: the project with its policy, stored cover dates, flags and inspections."""
    session = get_session()
    return jsonify(project_detail(session, visible_project(session, project_no)))


@bp.post("/projects/<project_no>/completion")
@commits
def completion(project_no: str):
    """POST /projects/<no>/completion: completion acceptance passed on C (LG-COV-START, DEC-DATES)."""
    user = require_role(*COMPLETION_ROLES)
    session, body = get_session(), json_body()
    project = visible_project(session, project_no)
    payload = {
        "completion_date": field(body, "completion_date", str, required=True),
        "record_no": field(body, "record_no", str, default=""),
    }
    messages.correlate_message(
        session, "completion_accepted", payload, business_key=project.project_no, actor=user.username
    )
    session.flush()
    session.expire_all()
    return jsonify(project_detail(session, visible_project(session, project_no)))
