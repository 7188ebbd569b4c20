"""Incidents: failed service tasks wait here until a retry (automatic with backoff, or by hand) succeeds."""

from __future__ import annotations

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, clock, runtime
from .errors import IncidentNotFound, InstanceConflict
from .models import Incident


def list_incidents(session: Session, status: str | None = "open", instance_id: int | None = None,
                   limit: int = 100) -> list[Incident]:
    """Incidents, newest first."""
    query = select(Incident)
    if status:
        query = query.where(Incident.status == status)
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    return list(session.scalars(query.order_by(Incident.id.desc()).limit(limit)))


def retry_incident(session: Session, incident_id: int, actor: str) -> Incident:
    """Run the failed task again; on success the incident is resolved, else its attempts grow."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentNotFound(f"No incident with id {incident_id}.", incident_id=incident_id)
    if incident.status != "open":
        raise InstanceConflict(f"Incident {incident_id} is already {incident.status}.", incident_id=incident_id)
    loaded = runtime.open_instance(session, incident.instance_id, actor)
    task = runtime.find_task(loaded.workflow, incident.task_id)
    if task is None or task.state != TaskState.ERROR:
        raise InstanceConflict(f"The task of incident {incident_id} is no longer failed; nothing to retry.",
                               incident_id=incident_id)
    audit.record(session, actor, "retry", incident.instance_id, incident.task_id, incident.task_name,
                 {"incident_id": incident_id, "attempt": incident.attempts + 1})
    task._set_state(TaskState.READY)
    runtime.advance(session, loaded)
    session.flush()
    session.refresh(incident)
    if runtime.find_task(loaded.workflow, incident.task_id).state != TaskState.ERROR:
        incident.status, incident.resolved_at, incident.resolved_by = "resolved", clock.now(), actor
        incident.next_retry_at = None
        remaining = session.scalar(select(Incident.id).where(Incident.instance_id == incident.instance_id,
                                                             Incident.status == "open", Incident.id != incident.id))
        loaded.row.has_incident = remaining is not None
    runtime.save(session, loaded)
    return incident


def due_for_retry(session: Session, limit: int = 50) -> list[int]:
    """Ids of open incidents whose automatic retry is due."""
    return list(session.scalars(select(Incident.id).where(Incident.status == "open",
                                                          Incident.next_retry_at <= clock.now())
                                .order_by(Incident.next_retry_at).limit(limit)))
