"""Suspend and resume instances: a suspended instance accepts no work and its timers wait unclaimed."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from . import audit, clock, runtime
from .errors import InstanceNotActive
from .models import ProcessInstance, Timer


def suspend_instance(session: Session, instance_id: int, actor: str, reason: str = "") -> ProcessInstance:
    """Stop a running instance from moving: tasks refuse completion (409), timers are not claimed."""
    row = runtime.lock(session, instance_id)
    if row.status != "running":
        raise InstanceNotActive(f"Instance {row.id} is {row.status}; only a running instance can be "
                                "suspended.",
                                instance_id=row.id, status=row.status)
    row.status, row.updated_at = "suspended", clock.now()
    # The sweeper claims only 'waiting' rows, so a suspended timer stays put (and keeps its due date).
    session.execute(update(Timer).where(Timer.instance_id == row.id, Timer.status == "waiting")
                    .values(status="suspended"), execution_options={"synchronize_session": False})
    audit.record(session, actor, "suspend", row.id, data={"reason": reason})
    session.flush()
    return row


def resume_instance(session: Session, instance_id: int, actor: str) -> ProcessInstance:
    """Let a suspended instance move again; timers that fell due meanwhile fire on the next sweep."""
    row = runtime.lock(session, instance_id)
    if row.status != "suspended":
        raise InstanceNotActive(f"Instance {row.id} is {row.status}, not suspended; there is nothing to "
                                "resume.",
                                instance_id=row.id, status=row.status)
    row.status, row.updated_at = "running", clock.now()
    waiting = sorted((row.waiting or {}).get("timers", {}))
    if waiting:
        # A sweeper that leased a timer just before the suspension closed it as 'cancelled'; it still waits.
        session.execute(update(Timer).where(Timer.instance_id == row.id, Timer.id.in_(waiting),
                                            Timer.status.in_(("suspended", "cancelled")))
                        .values(status="waiting", lease_owner=None, lease_expires_at=None),
                        execution_options={"synchronize_session": False})
    audit.record(session, actor, "resume", row.id)
    session.flush()
    return row
