"""Rewrite the inbox, timer and message projections from the workflow, in the unit of work's transaction.

The instance row keeps a snapshot (`waiting`) of what it last projected, so a save touches only the rows
that changed and never has to read the projection tables back.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.orm import Session

from . import clock, db
from .models import HumanTask, MessageSubscription, Timer

# Statements are built once (Core, on the tables): this runs on every save and statement building and
# ORM bulk handling cost more than the SQL itself.
_TASKS, _TIMERS, _SUBS = HumanTask.__table__, Timer.__table__, MessageSubscription.__table__
_IDS = bindparam("ids", expanding=True)
_NO_LEASE = dict(lease_owner=None, lease_expires_at=None)
_INSERT_TASKS = db.Prepared(insert(_TASKS), [c.key for c in _TASKS.columns
                                               if c.key not in ("completed_at", "completed_by")])
_CANCEL_TASKS = (update(_TASKS).where(_TASKS.c.id.in_(_IDS), _TASKS.c.status == "open")
                 .values(status="cancelled", completed_at=bindparam("now")))
#: The usual case (the one task just completed leaves the inbox), without the expanding IN's compile.
_CANCEL_TASK = db.Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.status == "open")
                           .values(status="cancelled", completed_at=bindparam("now")), ("task_id", "now"))
_INSERT_TIMERS = insert(_TIMERS)
_MOVE_TIMER = (update(_TIMERS).where(_TIMERS.c.id == bindparam("timer_id"))
               .values(due_at=bindparam("due"), status="waiting", **_NO_LEASE))
_FIRE_TIMERS = (update(_TIMERS).where(_TIMERS.c.id.in_(_IDS), _TIMERS.c.status != "fired")
                .values(status="fired", fired_at=bindparam("now"), **_NO_LEASE))
_CANCEL_TIMERS = (update(_TIMERS).where(_TIMERS.c.id.in_(_IDS), _TIMERS.c.status != "fired")
                  .values(status="cancelled", **_NO_LEASE))
_INSERT_SUBS = insert(_SUBS)
_DELETE_SUBS = delete(_SUBS).where(_SUBS.c.id.in_(_IDS))
_CLEAR_TASKS = (update(_TASKS).where(_TASKS.c.instance_id == bindparam("iid"), _TASKS.c.status == "open")
                .values(status="cancelled", completed_at=bindparam("now")))
_CLEAR_TIMERS = (update(_TIMERS).where(_TIMERS.c.instance_id == bindparam("iid"),
                                       _TIMERS.c.status.in_(("waiting", "leased")))
                 .values(status="cancelled", **_NO_LEASE))
_CLEAR_SUBS = delete(_SUBS).where(_SUBS.c.instance_id == bindparam("iid"))


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


def _waits(wf) -> tuple[list, list]:
    """(READY manual tasks, WAITING catching events) of the workflow and all its subprocesses.

    One pass over the task dicts: Spiff's get_tasks walks the tree with a filtering iterator per call,
    which costs more than the rest of a save. A subprocess that has finished holds no waiting task.
    """
    ready, waiting = [], []
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            state = task._state
            if state == TaskState.READY:
                if task.task_spec.manual:
                    ready.append(task)
            elif state == TaskState.WAITING and isinstance(task.task_spec, CatchingEvent):
                waiting.append(task)
    return ready, waiting


def sync(session: Session, loaded, now: dt.datetime) -> dict:
    """Bring human_task, timer and message_subscription in line with the workflow; return the snapshot."""
    row, wf = loaded.row, loaded.workflow
    run = session.connection().execute
    before = loaded.waiting_before or {}
    old_tasks = set(before.get("tasks", []))
    old_timers: dict[str, str] = dict(before.get("timers", {}))
    old_subs = set(before.get("subs", []))

    ready_tasks, waiting_tasks = _waits(wf)
    ready = {str(t.id): t for t in ready_tasks}
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
        _INSERT_TASKS.execute(session.connection(), new_task_rows)
    gone = old_tasks - set(ready) - loaded.closed
    if len(gone) == 1:
        _CANCEL_TASK.execute(session.connection(), {"task_id": next(iter(gone)), "now": now})
    elif gone:
        run(_CANCEL_TASKS, {"ids": sorted(gone), "now": now})

    timers: dict[str, str] = {}
    subs: list[str] = []
    new_timer_rows, moved, new_sub_rows = [], [], []
    for task in waiting_tasks:
        spec = task.task_spec
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
                    due_at=due, status="waiting", attempts=0, created_at=now))
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
        run(_INSERT_TIMERS, new_timer_rows)
    for task_id, due in moved:
        run(_MOVE_TIMER, {"timer_id": task_id, "due": due})
    ended = set(old_timers) - set(timers)
    if ended:
        fired = {tid for tid in ended if _state_of(wf, tid) == TaskState.COMPLETED}
        if fired:
            run(_FIRE_TIMERS, {"ids": sorted(fired), "now": now})
        if ended - fired:
            run(_CANCEL_TIMERS, {"ids": sorted(ended - fired)})
    if new_sub_rows:
        run(_INSERT_SUBS, new_sub_rows)
    dropped = old_subs - set(subs)
    if dropped:
        run(_DELETE_SUBS, {"ids": sorted(dropped)})
    return {"tasks": sorted(ready), "timers": timers, "subs": sorted(subs)}


def settle_fired_timer(loaded, timer_id: str, row_due: dt.datetime) -> tuple[str, dt.datetime] | None:
    """After the engine ran a forced timer: what its row becomes, ('fired', its due time) or ('waiting', a
    cycle's next due time); None when the task still waits for the same time (it did not fire).

    The snapshot is told the outcome, so that the next `sync` leaves this row alone: the firing unit of work
    writes it once (status, due, fired_at, lag) instead of sync and then the caller updating it in turn.
    """
    before = loaded.waiting_before or {}
    timers: dict[str, str] = dict(before.get("timers", {}))
    task = _task_of(loaded.workflow, timer_id)
    due = timer_due(task) if task is not None and task.state == TaskState.WAITING else None
    if due is None:  # completed, or gone: sync would close the row as ended
        timers.pop(timer_id, None)
        settled = ("fired", row_due)
    elif due == row_due or timers.get(timer_id) == due.isoformat():
        return None
    else:  # a cycle waits for its next occurrence
        timers[timer_id] = due.isoformat()
        settled = ("waiting", due)
    loaded.waiting_before = {**before, "timers": timers}
    return settled


def _task_of(wf, task_id: str):
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (KeyError, ValueError):
        return None


def _state_of(wf, task_id: str):
    try:
        return wf.get_task_from_id(UUID(task_id)).state
    except (KeyError, ValueError):
        return None


def clear(session: Session, row, now: dt.datetime) -> None:
    """Close every projection row of an instance that is cancelled or finished."""
    run = session.connection().execute
    run(_CLEAR_TASKS, {"iid": row.id, "now": now})
    run(_CLEAR_TIMERS, {"iid": row.id})
    run(_CLEAR_SUBS, {"iid": row.id})
