"""Risk management reads: a project's inspections with findings, one inspection, rectification orders."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from handlers.models import Finding, Inspection, Project, Rectification

from ..db import get_session
from ..errors import ApiError
from .access import current_user
from .domain_access import project_scope, visible_project
from .domain_json import inspection_json, rectification_json
from .params import page

bp = Blueprint("inspections", __name__)


@bp.get("/projects/<project_no>/inspections")
def of_project(project_no: str):
    """GET /projects/<no>/inspections: the project's inspections by date, findings and orders included."""
    session = get_session()
    project = visible_project(session, project_no)
    rows = session.scalars(
        select(Inspection)
        .where(Inspection.project_id == project.id)
        .order_by(Inspection.inspected_at, Inspection.id)
    )
    return jsonify({"items": [inspection_json(session, i) for i in rows]})


@bp.get("/inspections/<int:inspection_id>")
def get(inspection_id: int):
    """GET /inspections/<id>: one inspection report (DEC-RM-LOOP, LG-RM-MAJOR)."""
    session = get_session()
    row = session.get(Inspection, inspection_id)
    if row is None:
        raise ApiError(
            404,
            "NotFound",
            f"No inspection {inspection_id}; list them with GET /projects/<project_no>/inspections.",
        )
    project = visible_project(session, session.get(Project, row.project_id).project_no)
    return jsonify({**inspection_json(session, row), "project_no": project.project_no})


@bp.get("/rectifications")
def list_rectifications():
    """GET /rectifications: orders by deadline; filters status (open, submitted, closed), project_no."""
    session = get_session()
    query = (
        select(Rectification, Finding, Inspection, Project)
        .join(Finding, Finding.id == Rectification.finding_id)
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .join(Project, Project.id == Inspection.project_id)
    )
    scope = project_scope(session, current_user())
    if scope is not None:
        query = query.where(scope)
    if request.args.get("status"):
        query = query.where(Rectification.status == request.args["status"])
    if request.args.get("project_no"):
        query = query.where(Project.project_no == request.args["project_no"])
    limit, offset = page()
    rows = session.execute(query.order_by(Rectification.due_at, Rectification.id).limit(limit).offset(offset))
    return jsonify(
        {
            "items": [
                {
                    **rectification_json(r),
                    "project_no": p.project_no,
                    "report_no": i.report_no,
                    "grade": f.grade,
                    "description": f.description,
                }
                for r, f, i, p in rows
            ],
            "limit": limit,
            "offset": offset,
        }
    )
