"""What a case is about, for the task page: the IDI project and policy, or the owner's claim, when the
business key names one; any other diagram shows its variables only."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import definitions, serialization
from engine.models import ProcessInstance

from . import defects
from .i18n import local_date, money

MAX_VARIABLES = 40


def variables(session: Session, instance: ProcessInstance, task_id: str | None = None) -> dict[str, Any]:
    """The instance's data (or one task's), read without locking the instance."""
    loaded = definitions.load(session, instance.definition_id)
    wf = serialization.load_state(instance.state, loaded.spec, loaded.subprocess_specs,
                                  instance.serializer_version)
    from SpiffWorkflow.util.task import TaskState

    from engine.runtime import find_task  # the runtime is only needed for this lookup

    task = find_task(wf, task_id) if task_id else None
    if task is None:
        ready = wf.get_tasks(state=TaskState.READY)
        task = ready[0] if ready else None
    return dict(task.data) if task is not None else dict(wf.data)


def flatten(data: dict[str, Any], prefix: str = "", limit: int = MAX_VARIABLES) -> list[tuple[str, str]]:
    """Variables as (dotted name, short text) rows, at most `limit` of them."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if key.startswith("_") or len(rows) >= limit:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flatten(value, name + ".", limit - len(rows)))
        else:
            text = str(value)
            rows.append((name, text if len(text) <= 120 else text[:117] + "…"))
    return rows[:limit]


def _project_rows(session: Session, key: str) -> list[tuple[str, str]]:
    try:
        from handlers.models import Party, Policy, Project
    except ImportError:  # the domain is optional: the web app serves any diagram
        return []
    project = session.scalars(select(Project).where(Project.project_no == key)).first()
    policy = session.scalars(select(Policy).where(Policy.policy_no == key)).first()
    if project is None and policy is not None:
        project = policy.project
    if project is None:
        return []
    policy = policy or session.scalars(select(Policy).where(Policy.project_id == project.id)).first()
    developer = session.get(Party, project.developer_id)
    contractor = session.get(Party, project.contractor_id)
    rows = [(_("Project"), f"{project.name} ({project.project_no})"), (_("Address"), project.address),
            (_("Construction cost"), money(project.construction_cost)), (_("Project status"), project.status),
            (_("Developer"), developer.name if developer else ""),
            (_("Contractor"), contractor.name if contractor else "")]
    if project.completion_date:
        rows.append((_("Completion accepted"), local_date(project.completion_date)))
    if policy is not None:
        rows += [(_("Policy"), f"{policy.policy_no} · {policy.status}"),
                 (_("Premium"), money(policy.premium))]
        if policy.cover_start:
            rows += [(_("Cover starts"), local_date(policy.cover_start)),
                     (_("Cover ends (items 1–4)"), local_date(policy.end_items_1_4)),
                     (_("Cover ends (item 5)"), local_date(policy.end_item_5)),
                     (_("Cover ends (items 6–8)"), local_date(policy.end_items_6_8))]
    return [(label, value) for label, value in rows if value]


def _claim_rows(session: Session, key: str) -> list[tuple[str, str]]:
    report = defects.find(session, key)
    if report is None:
        return []
    return [(_("Claim number"), report.claim_no), (_("Unit"), report.unit),
            (_("Defect"), f"{report.category} · {defects.CATEGORIES.get(report.category, '')}"),
            (_("Reported"), local_date(report.reported_at)), (_("Description"), report.description)]


def summary(session: Session, instance: ProcessInstance) -> list[tuple[str, str]]:
    """Domain facts about the case, when its business key names a project, policy or claim."""
    if not instance.business_key:
        return []
    return _claim_rows(session, instance.business_key) or _project_rows(session, instance.business_key)
