"""The append-only audit trail: who did what to which instance or task, when, with what data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from . import clock, db
from .models import AuditEvent

#: Compiled once (this runs once or twice per operation): a plain INSERT, no ORM unit of work.
_INSERT = db.Prepared(insert(AuditEvent.__table__),
                      ("at", "actor", "action", "instance_id", "task_id", "task_name", "data"))


def record(session: Session, actor: str, action: str, instance_id: int | None = None,
           task_id: str | None = None, task_name: str | None = None,
           data: dict[str, Any] | None = None) -> None:
    """Append one audit event in the unit of work's transaction (never committed here)."""
    _INSERT.execute(session.connection(), {
        "at": clock.now(), "actor": actor or "system", "action": action, "instance_id": instance_id,
        "task_id": task_id, "task_name": task_name, "data": data or {}})


def history(session: Session, instance_id: int) -> list[AuditEvent]:
    """Every event of one instance, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                .order_by(AuditEvent.id)))


def diff(before: dict, after: dict) -> dict[str, Any]:
    """The keys whose values changed between two data dicts (new values; removed keys map to None)."""
    changed = {k: v for k, v in after.items() if before.get(k, _MISSING) != v}
    changed.update({k: None for k in before if k not in after})
    return changed


_MISSING = object()
