"""Process instances: start, cancel, read. Each function is one unit of work that never commits."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, clock, definitions, projections, runtime, serialization
from .errors import InstanceNotActive, InstanceNotFound
from .models import ProcessInstance


def start_instance(session: Session, process_id: str, data: dict[str, Any] | None = None, actor: str = "system",
                   business_key: str | None = None, title: str = "", version: int | None = None) -> ProcessInstance:
    """Start the latest (or given) version of a process with `data` and run it to its first wait state."""
    definition_id, definition_version = runtime.definition_for_start(session, process_id, version)
    loaded_def = definitions.load(session, definition_id)
    wf = runtime.new_workflow(loaded_def)
    data = dict(data or {})
    if business_key:
        data.setdefault("business_key", business_key)
    start = wf.get_tasks(state=TaskState.READY)[0]
    start.data.update(data)
    now = clock.now()
    row = runtime.insert_instance(session, dict(
        definition_id=definition_id, process_id=process_id, business_key=business_key,
        title=title or business_key or loaded_def.name, status="running", has_incident=False, state="{}",
        serializer_version=serialization.SERIALIZER_VERSION, started_at=now, started_by=actor, updated_at=now,
        ended_at=None, waiting={}))
    audit.record(session, actor, "start", row.id, data={"process_id": process_id,
                                                         "version": definition_version, "data": data})
    loaded = runtime.Loaded(row, loaded_def, wf, actor, {})
    runtime.advance(session, loaded)
    runtime.save(session, loaded)
    return row


def cancel_instance(session: Session, instance_id: int, actor: str, reason: str = "") -> ProcessInstance:
    """Cancel a running instance: its tasks leave the inbox and its timers will not fire."""
    row = runtime.lock(session, instance_id)
    if row.status not in ("running", "suspended"):
        raise InstanceNotActive(f"Instance {row.id} is already {row.status}.", instance_id=row.id)
    loaded = runtime.open_instance(session, instance_id, actor, require_active=False)
    loaded.workflow.cancel()
    now = clock.now()
    row.state = serialization.dump_state(loaded.workflow)
    row.status, row.ended_at, row.updated_at, row.waiting = "cancelled", now, now, {}
    projections.clear(session, row, now)
    audit.record(session, actor, "cancel", row.id, data={"reason": reason})
    session.flush()
    return row


def get_instance(session: Session, instance_id: int) -> ProcessInstance:
    """One instance by id."""
    row = session.get(ProcessInstance, instance_id, populate_existing=True)
    if row is None:
        raise InstanceNotFound(f"No process instance with id {instance_id}.", instance_id=instance_id)
    return row


def find_by_business_key(session: Session, business_key: str, process_id: str | None = None) -> ProcessInstance:
    """The newest instance with this business key (optionally of one process)."""
    query = select(ProcessInstance).where(ProcessInstance.business_key == business_key)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    row = session.scalars(query.order_by(ProcessInstance.id.desc()).limit(1)).first()
    if row is None:
        raise InstanceNotFound(f"No process instance with business key '{business_key}'.",
                               business_key=business_key)
    return row


def list_instances(session: Session, process_id: str | None = None, status: str | None = None,
                   business_key: str | None = None, has_incident: bool | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[ProcessInstance], int]:
    """Instances matching the filters, newest first, with the total count."""
    query = select(ProcessInstance)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if status:
        query = query.where(ProcessInstance.status == status)
    if business_key:
        query = query.where(ProcessInstance.business_key.startswith(business_key, autoescape=True))
    if has_incident is not None:
        query = query.where(ProcessInstance.has_incident.is_(has_incident))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(ProcessInstance.id.desc()).limit(limit).offset(offset))
    return list(rows), total or 0


def variables(session: Session, instance_id: int) -> dict[str, Any]:
    """The data of the instance's most recent task, or the final data of a finished instance."""
    row = get_instance(session, instance_id)
    loaded_def = definitions.load(session, row.definition_id)
    wf = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs, row.serializer_version)
    if wf.is_completed():
        return dict(wf.data)
    last = wf.last_task or wf.task_tree
    return dict(last.data)
