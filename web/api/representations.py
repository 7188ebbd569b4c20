"""How engine rows look in the API's JSON answers."""

from __future__ import annotations

import datetime as dt

from engine.models import AuditEvent, HumanTask, Incident, ProcessDefinition, ProcessInstance


def iso(value: dt.datetime | None) -> str | None:
    """An ISO 8601 timestamp, or None."""
    return value.isoformat() if value is not None else None


def definition_json(row: ProcessDefinition) -> dict:
    """One deployed version."""
    return {"id": row.id, "process_id": row.process_id, "version": row.version, "name": row.name,
            "content_hash": row.content_hash, "source_file": row.source_file, "forms": sorted(row.forms),
            "deployed_at": iso(row.deployed_at), "deployed_by": row.deployed_by}


def instance_json(row: ProcessInstance) -> dict:
    """One instance, without its variables."""
    return {"id": row.id, "process_id": row.process_id, "definition_id": row.definition_id,
            "business_key": row.business_key, "title": row.title, "status": row.status,
            "has_incident": row.has_incident, "started_at": iso(row.started_at), "started_by": row.started_by,
            "updated_at": iso(row.updated_at), "ended_at": iso(row.ended_at)}


def task_json(row: HumanTask) -> dict:
    """One inbox row."""
    return {"id": row.id, "instance_id": row.instance_id, "process_id": row.process_id,
            "task_name": row.task_name, "title": row.title, "lane": row.lane,
            "candidate_users": row.candidate_users or [], "assignee": row.assignee, "due_at": iso(row.due_at),
            "priority": row.priority, "form_ref": row.form_ref, "business_key": row.business_key,
            "case_title": row.case_title, "status": row.status, "created_at": iso(row.created_at),
            "completed_at": iso(row.completed_at), "completed_by": row.completed_by}


def task_row_json(row: dict) -> dict:
    """One inbox row read as column values (engine.tasks.list_task_rows): what `task_json` gives for it."""
    due_at, created_at, completed_at = row["due_at"], row["created_at"], row["completed_at"]
    return {**row, "candidate_users": row["candidate_users"] or [],
            "due_at": due_at.isoformat() if due_at is not None else None,
            "created_at": created_at.isoformat() if created_at is not None else None,
            "completed_at": completed_at.isoformat() if completed_at is not None else None}


def incident_json(row: Incident) -> dict:
    """One incident, with its traceback for operators."""
    return {"id": row.id, "instance_id": row.instance_id, "task_id": row.task_id, "task_name": row.task_name,
            "kind": row.kind, "error_type": row.error_type, "message": row.message,
            "traceback": row.traceback, "attempts": row.attempts, "max_attempts": row.max_attempts,
            "next_retry_at": iso(row.next_retry_at),
            "status": row.status, "created_at": iso(row.created_at), "resolved_at": iso(row.resolved_at),
            "resolved_by": row.resolved_by}


def event_json(row: AuditEvent) -> dict:
    """One audit event of an instance's history."""
    return {"at": iso(row.at), "actor": row.actor, "action": row.action, "task_id": row.task_id,
            "task_name": row.task_name, "data": row.data}
