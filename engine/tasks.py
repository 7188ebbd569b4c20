"""Human tasks: complete, claim, unclaim, read. Each function is one unit of work that never commits."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from . import audit, clock, db, definitions, forms, runtime
from .errors import NotAllowed, TaskNotFound, TaskNotReady
from .models import HumanTask, ProcessInstance

#: Built once: completing a task is the hottest write there is.
_TASKS, _INSTANCES = HumanTask.__table__, ProcessInstance.__table__
_MARK_COMPLETED = db.Prepared(
    update(_TASKS).where(_TASKS.c.id == bindparam("task_id")),
    ("status", "completed_at", "completed_by", "assignee", "task_id"))
#: The task row and its instance row in one read; on PostgreSQL both are locked (FOR UPDATE), as
#: runtime.lock locks the instance; on SQLite the unit of work holds the write lock since BEGIN IMMEDIATE.
_TASK_KEYS = [c.key for c in _TASKS.columns]
_INSTANCE_KEYS = [c.key for c in _INSTANCES.columns]
_READ_TASK = (select(_TASKS, _INSTANCES).join_from(_TASKS, _INSTANCES, _TASKS.c.instance_id == _INSTANCES.c.id)
              .where(_TASKS.c.id == bindparam("task_id")))
_TASK_AND_INSTANCE = db.Prepared(_READ_TASK)
_TASK_AND_INSTANCE_FOR_UPDATE = db.Prepared(_READ_TASK.with_for_update())


def get_task(session: Session, task_id: str) -> HumanTask:
    """The inbox row of one task, read fresh (projections are written with Core statements)."""
    row = session.get(HumanTask, task_id, populate_existing=True)
    if row is None:
        raise TaskNotFound(f"No task with id {task_id}.", task_id=task_id)
    return row


def form_schema(session: Session, task: HumanTask) -> dict | None:
    """The JSON Schema of a task's form, from its process version."""
    from . import definitions
    from .models import ProcessInstance

    instance = session.get(ProcessInstance, task.instance_id)
    return definitions.load(session, instance.definition_id).forms.get(task.form_ref) if task.form_ref else None


def _open_row(session: Session, task_id: str) -> HumanTask:
    return _check_open(get_task(session, task_id), task_id)


def _check_open(row: HumanTask, task_id: str) -> HumanTask:
    if row.status != "open":
        who = f" by {row.completed_by}" if row.completed_by else ""
        raise TaskNotReady(f"Task '{row.title}' was already {row.status}{who}; there is nothing left to do.",
                           task_id=task_id, status=row.status, completed_by=row.completed_by)
    return row


def _lock_task(session: Session, task_id: str) -> tuple[HumanTask, ProcessInstance]:
    """The task's inbox row and its instance row, read fresh in one locked query (FOR UPDATE on PostgreSQL)."""
    connection = session.connection()
    query = _TASK_AND_INSTANCE if connection.dialect.name == "sqlite" else _TASK_AND_INSTANCE_FOR_UPDATE
    found = query.first(connection, {"task_id": task_id})
    if found is None:
        raise TaskNotFound(f"No task with id {task_id}.", task_id=task_id)
    split = len(_TASK_KEYS)
    row = db.adopt(session, HumanTask, dict(zip(_TASK_KEYS, found[:split], strict=True)))
    return row, db.adopt(session, ProcessInstance, dict(zip(_INSTANCE_KEYS, found[split:], strict=True)))


def complete_task(session: Session, task_id: str, data: dict[str, Any], actor: str,
                  enforce_assignee: bool = True) -> HumanTask:
    """Validate `data` against the task's form, complete the task and run the engine to the next wait."""
    row, instance = _lock_task(session, task_id)  # the instance is read once: form version, then workflow
    _check_open(row, task_id)
    if enforce_assignee and row.assignee and row.assignee != actor:
        raise NotAllowed(f"Task '{row.title}' is claimed by {row.assignee}; only they can complete it.",
                         task_id=task_id, assignee=row.assignee)
    form_ref = row.form_ref
    schema = definitions.load(session, instance.definition_id).forms.get(form_ref) if form_ref else None
    forms.validate(schema, data, row.title)
    loaded = runtime.open_instance(session, row.instance_id, actor, row=instance)
    task = runtime.find_task(loaded.workflow, task_id)
    if task is None or task.state != TaskState.READY:
        session.refresh(row)
        raise TaskNotReady(f"Task '{row.title}' is no longer waiting for input; someone completed it first.",
                           task_id=task_id, completed_by=row.completed_by)
    before = dict(task.data)
    _apply_form(task, data)
    task.run()
    done = {"status": "completed", "completed_at": clock.now(), "completed_by": actor,
            "assignee": row.assignee or actor}
    _MARK_COMPLETED.execute(session.connection(), {"task_id": task_id, **done})
    loaded.closed = frozenset((task_id,))
    audit.record(session, actor, "complete", row.instance_id, task_id, row.task_name,
                 {"changed": audit.diff(before, task.data)})
    runtime.advance(session, loaded)
    runtime.save(session, loaded)
    for key, value in done.items():  # what the row now holds (save cancels only tasks still open)
        set_committed_value(row, key, value)
    return row


def _apply_form(task, data: dict[str, Any]) -> None:
    """Store submitted form data: under spiffworkflow:variableName if set, else as top-level keys.

    Spiff's own add_data_from_form deep-merges, which would keep stale list items when a form is
    submitted again in a loop; a submission replaces the values it names.
    """
    variable = getattr(task.task_spec, "variable", None)
    if variable:
        task.data[variable] = data
    else:
        task.data.update(data)


def claim_task(session: Session, task_id: str, actor: str, assignee: str | None = None) -> HumanTask:
    """Assign an open task to `assignee` (default: the actor). Claiming another's task is refused."""
    row = _open_row(session, task_id)
    target = assignee or actor
    if row.assignee and row.assignee not in (target,) and assignee is None:
        raise NotAllowed(f"Task '{row.title}' is already claimed by {row.assignee}.", task_id=task_id,
                         assignee=row.assignee)
    previous = row.assignee
    row.assignee = target
    audit.record(session, actor, "claim" if assignee is None else "reassign", row.instance_id, task_id,
                 row.task_name, {"assignee": target, "previous": previous})
    session.flush()
    return row


def unclaim_task(session: Session, task_id: str, actor: str, force: bool = False) -> HumanTask:
    """Return a claimed task to its group's queue (the assignee, or a supervisor with force=True)."""
    row = _open_row(session, task_id)
    if row.assignee and row.assignee != actor and not force:
        raise NotAllowed(f"Task '{row.title}' is claimed by {row.assignee}; only they can release it.",
                         task_id=task_id, assignee=row.assignee)
    previous, row.assignee = row.assignee, None
    audit.record(session, actor, "unclaim", row.instance_id, task_id, row.task_name, {"previous": previous})
    session.flush()
    return row


def list_tasks(session: Session, lanes: list[str] | None = None, assignee: str | None = None,
               status: str = "open", business_key: str | None = None, process_id: str | None = None,
               limit: int = 50, offset: int = 0) -> list[HumanTask]:
    """Inbox rows: open tasks for some lanes and/or an assignee, soonest due first, undated last.

    Two index range reads instead of one ORDER BY (due_at IS NULL, ...), which no plain index serves: the
    dated tasks by (due_at, created_at), then, if the page is not full, the undated ones by created_at.
    Both walk ix_human_task_inbox / ix_human_task_assignee (status, lane|assignee, due_at, created_at).
    A business-key prefix matches few rows: they are read by ix_human_task_key and sorted in one query.
    """
    query = select(HumanTask).where(HumanTask.status == status)
    if lanes is not None:
        query = query.where(HumanTask.lane.in_(lanes))
    if assignee is not None:
        query = query.where(HumanTask.assignee == assignee)
    if business_key:
        query = query.where(HumanTask.business_key.startswith(business_key, autoescape=True))
        if db.is_sqlite(session):  # SQLite's LIKE cannot use the index; the same prefix as a range can
            query = query.where(HumanTask.business_key >= business_key,
                                HumanTask.business_key < business_key + "\U0010ffff")
    if process_id:
        query = query.where(HumanTask.process_id == process_id)
    if business_key:  # (a due_at IS NULL read here would lure SQLite onto a skip-scan of the inbox indexes)
        query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
        return list(session.scalars(query.limit(limit).offset(offset)))
    need = offset + limit
    dated = list(session.scalars(query.where(HumanTask.due_at.is_not(None))
                                 .order_by(HumanTask.due_at, HumanTask.created_at).limit(need)))
    page = dated[offset:need]
    if len(dated) < need:  # every dated task is on this page or before it: continue with the undated ones
        page += session.scalars(query.where(HumanTask.due_at.is_(None)).order_by(HumanTask.created_at)
                                .limit(limit - len(page)).offset(max(0, offset - len(dated))))
    return page
