"""The authority's read-only oversight view (LG-OVERSIGHT, LG-RM-MAJOR, LG-CREDIT): every project with its
status, the major-risk reports copied to it, overdue rectifications and the credit feedback it received.
Each tab is one table; `?format=csv` exports it."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from engine import clock
from engine.models import ProcessInstance
from handlers import credit
from handlers import statistics as st
from handlers.models import Finding, Inspection, Party, Policy, Project, Rectification

from .auth import roles_required
from .dashboard import csv_response
from .db import get_session

bp = Blueprint("oversight", __name__, url_prefix="/oversight")
ROLES = ("authority_officer",)
TABS = (
    ("projects", _l("Projects")),
    ("major_risks", _l("Major-risk reports")),
    ("rectifications", _l("Overdue rectifications")),
    ("credit", _l("Credit feedback")),
)


def _local(value) -> str:
    return clock.to_local(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _instances(session, keys: set[str]) -> dict[str, int]:
    if not keys:
        return {}
    return dict(
        session.execute(
            select(ProcessInstance.business_key, func.max(ProcessInstance.id))
            .where(ProcessInstance.business_key.in_(keys))
            .group_by(ProcessInstance.business_key)
        ).all()
    )


def _render(tab: str, columns: list[str], rows: list[list], links: list[int | None] | None = None):
    if request.args.get("format") == "csv":
        return csv_response(f"oversight-{tab}", [str(c) for c in columns], rows)
    return render_template(
        "dashboard/oversight.html",
        tab=tab,
        tabs=TABS,
        columns=columns,
        rows=rows,
        links=links or [None] * len(rows),
        district=request.args.get("district", ""),
        districts=st.districts(get_session()),
    )


@bp.get("/")
@roles_required(*ROLES)
def projects():
    """LG-OVERSIGHT: every project with its status, policy, phase today and open serious findings."""
    session, now = get_session(), clock.now()
    today = st.Filters(clock.local_today(), clock.local_today())
    developer, contractor = aliased(Party), aliased(Party)
    open_serious = (
        select(Inspection.project_id, func.count().label("n"))
        .select_from(Rectification)
        .join(Finding)
        .join(Inspection)
        .where(Finding.grade == "serious", Rectification.closed_at.is_(None), Rectification.issued_at < now)
        .group_by(Inspection.project_id)
        .subquery()
    )
    phase = st.phase_expression(today)
    query = (
        select(
            Project,
            Policy,
            developer.name,
            contractor.name,
            open_serious.c.n,
            and_(*st.in_force(today)).label("in_force"),
            phase.label("phase"),
        )
        .select_from(Project)
        .join(Policy, Policy.project_id == Project.id, isouter=True)
        .join(developer, developer.id == Project.developer_id)
        .join(contractor, contractor.id == Project.contractor_id)
        .join(open_serious, open_serious.c.project_id == Project.id, isouter=True)
        .order_by(Project.project_no)
    )
    if request.args.get("district"):
        query = query.where(Project.district == request.args["district"])
    found = session.execute(query.limit(5000)).all()
    links = _instances(session, {r[0].project_no for r in found})
    rows = []
    for project, policy, dev, con, serious, in_force, ph in found:
        state = (ph if in_force else (policy.status if policy else project.status)) if policy else project.status
        rows.append(
            [
                project.project_no,
                project.name,
                project.district,
                dev,
                con,
                policy.policy_no if policy else "",
                policy.status if policy else project.status,
                state,
                str(policy.premium) if policy else "",
                project.completion_date.isoformat() if project.completion_date else "",
                serious or 0,
            ]
        )
    columns = [
        _l("Project"),
        _l("Name"),
        _l("District"),
        _l("Developer"),
        _l("Contractor"),
        _l("Policy"),
        _l("Status"),
        _l("Phase"),
        _l("Premium"),
        _l("Completion"),
        _l("Open serious findings"),
    ]
    return _render("projects", columns, rows, [links.get(r[0]) for r in rows])


@bp.get("/major-risks")
@roles_required(*ROLES)
def major_risks():
    """LG-RM-MAJOR: risk reports with a major finding, when they were due, copied and acknowledged."""
    session = get_session()
    query = (
        select(Inspection, Project)
        .join(Project, Project.id == Inspection.project_id)
        .where(Inspection.has_major)
        .order_by(Inspection.inspected_at.desc())
    )
    if request.args.get("district"):
        query = query.where(Project.district == request.args["district"])
    found = session.execute(query.limit(5000)).all()
    links = _instances(session, {p.project_no for _, p in found})
    rows = [
        [
            i.report_no,
            p.project_no,
            p.name,
            p.district,
            i.stage,
            _local(i.inspected_at),
            _local(i.authority_copy_due_at),
            _local(i.authority_copied_at),
            _local(i.authority_acknowledged_at),
            "yes"
            if i.authority_copied_at and i.authority_copy_due_at and i.authority_copied_at > i.authority_copy_due_at
            else "",
        ]
        for i, p in found
    ]
    columns = [
        _l("Report"),
        _l("Project"),
        _l("Name"),
        _l("District"),
        _l("Stage"),
        _l("Inspected"),
        _l("Copy due"),
        _l("Copied"),
        _l("Acknowledged"),
        _l("Late"),
    ]
    return _render("major_risks", columns, rows, [links.get(r[1]) for r in rows])


@bp.get("/rectifications")
@roles_required(*ROLES)
def rectifications():
    """DEC-RM-LOOP: rectification orders past their deadline and not closed, most overdue first."""
    session, now = get_session(), clock.now()
    query = (
        select(Rectification, Finding, Inspection, Project)
        .select_from(Rectification)
        .join(Finding, Finding.id == Rectification.finding_id)
        .join(Inspection, Inspection.id == Finding.inspection_id)
        .join(Project, Project.id == Inspection.project_id)
        .where(Rectification.due_at < now, Rectification.closed_at.is_(None))
        .order_by(Rectification.due_at)
    )
    if request.args.get("district"):
        query = query.where(Project.district == request.args["district"])
    found = session.execute(query.limit(5000)).all()
    links = _instances(session, {p.project_no for *_, p in found})
    rows = [
        [
            p.project_no,
            p.name,
            p.district,
            i.report_no,
            f.grade,
            f.description,
            _local(o.due_at),
            (now - o.due_at).days,
            o.escalation_level,
            o.status,
        ]
        for o, f, i, p in found
    ]
    columns = [
        _l("Project"),
        _l("Name"),
        _l("District"),
        _l("Report"),
        _l("Grade"),
        _l("Finding"),
        _l("Due"),
        _l("Days overdue"),
        _l("Escalation level"),
        _l("Status"),
    ]
    return _render("rectifications", columns, rows, [links.get(r[0]) for r in rows])


@bp.get("/credit")
@roles_required(*ROLES)
def credit_feedback():
    """LG-CREDIT: credit feedback sent to the authority, newest first, with each unit's resulting grade."""
    session = get_session()
    grades = {u["credit_code"]: u for u in credit.units(session, clock.now())}
    rows = [
        [
            _local(r.recorded_at),
            r.subject_code,
            grades.get(r.subject_code, {}).get("name", ""),
            r.event_type,
            r.detail,
            r.evidence_ref,
            grades.get(r.subject_code, {}).get("grade", ""),
        ]
        for r in credit.records(session)
    ]
    columns = [_l("Sent"), _l("Credit code"), _l("Unit"), _l("Event"), _l("Detail"), _l("Evidence"), _l("Grade now")]
    return _render("credit", columns, rows)


def tab_url(tab: str, **args) -> str:
    """The URL of an oversight tab."""
    endpoint = {
        "projects": "oversight.projects",
        "major_risks": "oversight.major_risks",
        "rectifications": "oversight.rectifications",
        "credit": "oversight.credit_feedback",
    }[tab]
    return url_for(endpoint, **args)


@bp.app_context_processor
def _helpers() -> dict:
    return {"oversight_tab_url": tab_url}
