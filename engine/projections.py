"""Rewrite the inbox, timer and message projections from the workflow, in the unit of work's transaction.

The instance row keeps a snapshot (`waiting`) of what it last projected, so a save touches only the rows
that changed and never has to read the projection tables back.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.util.task import TaskState

from . import clock
from .models import HumanTask, MessageSubscription, Timer


def _props(task) -> dict:
    return (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}) or {}


def timer_due(task) -> dt.datetime | None:
    """The due time of a WAITING timer task (aware UTC), or None if it has not been evaluated."""
    ed = getattr(task.task_spec, "event_definition", None)
    if clock.gateway_timers(ed):  # event-based gateway: the earliest of its timers (engine/clock.py)
        value = task._get_internal_data("event_value")
    elif isinstance(ed, TimerEventDefinition):
        value = ed.details(task).value
    else:
        return None
    if isinstance(value, dict):
        value = value.get("next")
    if not value:
        return None
    return clock.ensure_utc(TimerEventDefinition.get_datetime(value))


def _timer_kind(ed) -> str:
    if clock.gateway_timers(ed):
        return "gateway"
    if isinstance(ed, CycleTimerEventDefinition):
        return "cycle"
    if isinstance(ed, DurationTimerEventDefinition):
        return "duration"
    return "date"


def _attached(task):
    """(attached activity name, interrupting) for a boundary event task, else (None, True)."""
    spec = task.task_spec
    if hasattr(spec, "cancel_activity"):
        parent = task.parent
        for sibling in parent.children if parent is not None else []:
            if sibling is not task and not isinstance(getattr(sibling.task_spec, "event_definition", None),
                                                      TimerEventDefinition | MessageEventDefinition):
                return sibling.task_spec.bpmn_id, bool(spec.cancel_activity)
        return None, bool(spec.cancel_activity)
    return None, True


def boundary_due(task) -> dt.datetime | None:
    """The earliest waiting boundary timer attached to a user task: its due date in the inbox."""
    parent = task.parent
    if parent is None:
        return None
    dues = [timer_due(s) for s in parent.children
            if s is not task and s.state == TaskState.WAITING
            and isinstance(getattr(s.task_spec, "event_definition", None), TimerEventDefinition)]
    dues = [d for d in dues if d is not None]
    return min(dues) if dues else None


def _correlation_value(task, ed, script_engine) -> str | None:
    for prop in getattr(ed, "process_correlations", None) or []:
        try:
            value = script_engine.evaluate(task, prop.retrieval_expression
                                           if hasattr(prop, "retrieval_expression") else prop.expression)
        except Exception:  # noqa: BLE001 - a missing variable simply means "no correlation value yet"
            continue
        if value is not None:
            return str(value)
    return None


def sync(session: Session, loaded, now: dt.datetime) -> dict:
    """Bring human_task, timer and message_subscription in line with the workflow; return the snapshot."""
    row, wf = loaded.row, loaded.workflow
    before = loaded.waiting_before or {}
    old_tasks = set(before.get("tasks", []))
    old_timers: dict[str, str] = dict(before.get("timers", {}))
    old_subs = set(before.get("subs", []))

    ready = {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    new_task_rows = []
    for task_id, task in ready.items():
        if task_id in old_tasks:
            continue
        props = _props(task)
        form = props.get("formJsonSchemaFilename")
        candidates = [u.strip() for u in str(props.get("candidateUsers", "")).split(",") if u.strip()]
        new_task_rows.append(dict(
            id=task_id, instance_id=row.id, process_id=row.process_id, task_name=task.task_spec.bpmn_id,
            title=task.task_spec.bpmn_name or task.task_spec.bpmn_id, lane=task.task_spec.lane,
            candidate_users=candidates, assignee=None, due_at=boundary_due(task),
            priority=int(props.get("priority", 50)), form_ref=form.rsplit("/", 1)[-1] if form else None,
            business_key=row.business_key, case_title=row.title or "", status="open", created_at=now))
    if new_task_rows:
        session.execute(insert(HumanTask), new_task_rows)
    gone = old_tasks - set(ready)
    if gone:
        session.execute(update(HumanTask).where(HumanTask.id.in_(gone), HumanTask.status == "open")
                        .values(status="cancelled", completed_at=now), execution_options={"synchronize_session": False})

    timers: dict[str, str] = {}
    subs: list[str] = []
    new_timer_rows, moved, new_sub_rows = [], [], []
    for task in wf.get_tasks(state=TaskState.WAITING):
        spec = task.task_spec
        if not isinstance(spec, CatchingEvent):
            continue
        ed = spec.event_definition
        task_id = str(task.id)
        if isinstance(ed, TimerEventDefinition) or clock.gateway_timers(ed):
            due = timer_due(task)
            if due is None:
                continue
            timers[task_id] = due.isoformat()
            if task_id not in old_timers:
                attached, interrupting = _attached(task)
                new_timer_rows.append(dict(
                    id=task_id, instance_id=row.id, task_name=spec.bpmn_id or spec.name, kind=_timer_kind(ed),
                    expression=str(getattr(ed, "expression", "event-based gateway"))[:500],
                    attached_to=attached, interrupting=interrupting,
                    due_at=due, status="waiting", attempts=0))
            elif old_timers[task_id] != timers[task_id]:
                moved.append((task_id, due))
        elif isinstance(ed, MessageEventDefinition):
            subs.append(task_id)
            if task_id not in old_subs:
                new_sub_rows.append(dict(
                    id=task_id, instance_id=row.id, task_name=spec.bpmn_id or spec.name, message_name=ed.name,
                    correlation_value=_correlation_value(task, ed, wf.script_engine),
                    business_key=row.business_key, created_at=now))
    if new_timer_rows:
        session.execute(insert(Timer), new_timer_rows)
    for task_id, due in moved:
        session.execute(update(Timer).where(Timer.id == task_id)
                        .values(due_at=due, status="waiting", lease_owner=None, lease_expires_at=None),
                        execution_options={"synchronize_session": False})
    ended = set(old_timers) - set(timers)
    if ended:
        fired = {tid for tid in ended if _state_of(wf, tid) == TaskState.COMPLETED}
        if fired:
            session.execute(update(Timer).where(Timer.id.in_(fired), Timer.status != "fired")
                            .values(status="fired", fired_at=now, lease_owner=None, lease_expires_at=None),
                            execution_options={"synchronize_session": False})
        if ended - fired:
            session.execute(update(Timer).where(Timer.id.in_(ended - fired), Timer.status != "fired")
                            .values(status="cancelled", lease_owner=None, lease_expires_at=None),
                            execution_options={"synchronize_session": False})
    if new_sub_rows:
        session.execute(insert(MessageSubscription), new_sub_rows)
    dropped = old_subs - set(subs)
    if dropped:
        session.execute(delete(MessageSubscription).where(MessageSubscription.id.in_(dropped)),
                        execution_options={"synchronize_session": False})
    return {"tasks": sorted(ready), "timers": timers, "subs": sorted(subs)}


def _state_of(wf, task_id: str):
    try:
        return wf.get_task_from_id(UUID(task_id)).state
    except (KeyError, ValueError):
        return None


def clear(session: Session, row, now: dt.datetime) -> None:
    """Close every projection row of an instance that is cancelled or finished."""
    session.execute(update(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.status == "open")
                    .values(status="cancelled", completed_at=now), execution_options={"synchronize_session": False})
    session.execute(update(Timer).where(Timer.instance_id == row.id, Timer.status.in_(("waiting", "leased")))
                    .values(status="cancelled", lease_owner=None, lease_expires_at=None),
                    execution_options={"synchronize_session": False})
    session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == row.id),
                    execution_options={"synchronize_session": False})
