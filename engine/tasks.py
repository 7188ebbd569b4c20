"""Human tasks: complete, claim, unclaim, read. Each function is one unit of work that never commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

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
#: PostgreSQL locks the rows in the order of the OF list (plain FOR UPDATE: the FROM order, the task first).
#: The instance goes first, as in every other unit of work: one that holds the instance and then cancels
#: this task (a withdrawal message) would otherwise deadlock with us instead of making us wait.
_TASK_KEYS = [c.key for c in _TASKS.columns]
_READ_TASK = (select(_TASKS, _INSTANCES).join_from(_TASKS, _INSTANCES, _TASKS.c.instance_id == _INSTANCES.c.id)
              .where(_TASKS.c.id == bindparam("task_id")))
_TASK_AND_INSTANCE = db.Prepared(_READ_TASK)
_READ_TASK_ROW = db.Prepared(select(_TASKS).where(_TASKS.c.id == bindparam("task_id")))
_DEFINITION_OF = db.Prepared(select(_INSTANCES.c.definition_id).where(_INSTANCES.c.id == bindparam("instance_id")))
_TASK_AND_INSTANCE_FOR_UPDATE = db.Prepared(_READ_TASK.with_for_update(of=[_INSTANCES, _TASKS]))


def get_task(session: Session, task_id: str) -> HumanTask:
    """The inbox row of one task, read fresh (projections are written with Core statements): one prepared
    Core read attached as the session's object (pending ORM changes are flushed first, as autoflush would)."""
    found = db.read_objects(session, _READ_TASK_ROW, {"task_id": task_id}, HumanTask)
    if found is None:
        raise TaskNotFound(f"No task with id {task_id}.", task_id=task_id)
    return found[0]


def form_schema(session: Session, task: HumanTask) -> dict | None:
    """The JSON Schema of a task's form, from its process version (reads only the instance's version id,
    not its row with the workflow state)."""
    if not task.form_ref:
        return None
    found = _DEFINITION_OF.first(session.connection(), {"instance_id": task.instance_id})
    if found is None:
        raise TaskNotFound(f"Task {task.id} belongs to no process instance.", task_id=task.id)
    return definitions.load(session, found[0]).forms.get(task.form_ref)


def _open_row(session: Session, task_id: str) -> HumanTask:
    return _check_open(get_task(session, task_id), task_id)


def _check_open(row: HumanTask, task_id: str) -> HumanTask:
    if row.status != "open":
        who = f" by {row.completed_by}" if row.completed_by else ""
        raise TaskNotReady(f"Task '{row.title}' was already {row.status}{who}; there is nothing left to do.",
                           task_id=task_id, status=row.status, completed_by=row.completed_by)
    return row


def _lock_task(session: Session, task_id: str) -> tuple[HumanTask, ProcessInstance]:
    """The task's inbox row and its instance row, read fresh in one locked query (FOR UPDATE on PostgreSQL);
    pending ORM changes are flushed first, as the ORM's autoflush would."""
    query = _TASK_AND_INSTANCE if db.is_sqlite(session) else _TASK_AND_INSTANCE_FOR_UPDATE
    found = db.read_objects(session, query, {"task_id": task_id}, HumanTask, ProcessInstance)
    if found is None:
        raise TaskNotFound(f"No task with id {task_id}.", task_id=task_id)
    return found[0], found[1]


def complete_task(session: Session, task_id: str, data: dict[str, Any], actor: str,
                  enforce_assignee: bool = True, check: Callable[[HumanTask], Any] | None = None) -> HumanTask:
    """Validate `data` against the task's form, complete the task and run the engine to the next wait.

    `check` (the caller's permission check) sees the task row read here, before anything else is checked,
    so that a caller need not read the task first.
    """
    row, instance = _lock_task(session, task_id)  # the instance is read once: form version, then workflow
    if check is not None:
        check(row)
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
    db.set_committed(row, done)  # what the row now holds (save cancels only tasks still open)
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


#: Inbox page statements by shape (backend, lanes, assignee, process_id), built once each: building the
#: statement and loading ORM rows cost more than running it (the inbox is the API's busiest read). Shapes
#: with few lanes are db.Prepared (run on the DBAPI cursor); a longer lane list is one expanding IN list,
#: which only SQLAlchemy's own execution renders.
_INBOX_PAGES: dict[tuple, Any] = {}
#: Up to this many lanes are read one index range each (a merged IN list makes PostgreSQL sort them all).
_LANE_PARTS = 8


def _lane_condition(shape: int | str | None, one: bool):
    """The lane part of an inbox read: every lane (None), an expanding list `lanes` ("in"), lane `lane_<shape>`
    alone (`one`, PostgreSQL's per-lane parts) or `lane IN (lane_0, ... lane_<shape - 1>)` (SQLite), which
    renders the same SQL as the expanding list of that many lanes."""
    lane = _TASKS.c.lane
    if shape is None:
        return None
    if shape == "in":
        return lane.in_(bindparam("lanes", expanding=True))
    if one:
        return lane == bindparam(f"lane_{shape}")
    return lane.in_([bindparam(f"lane_{i}") for i in range(shape)])


def _inbox_part(lanes, assignee: bool, process_id: bool, dated: bool):
    """One index range read of an inbox page: the lanes of `_lane_condition` (a condition or None), dated
    tasks by (due_at, created_at) or undated ones by created_at."""
    from sqlalchemy import Integer

    t = _TASKS
    query = select(t).where(t.c.status == bindparam("status"))
    if lanes is not None:
        query = query.where(lanes)
    if assignee:
        query = query.where(t.c.assignee == bindparam("assignee"))
    if process_id:
        query = query.where(t.c.process_id == bindparam("process_id"))
    if dated:
        return query.where(t.c.due_at.is_not(None)).order_by(t.c.due_at, t.c.created_at).limit(
            bindparam("need", type_=Integer))
    return query.where(t.c.due_at.is_(None)).order_by(t.c.created_at).limit(
        bindparam("undated_limit", type_=Integer)).offset(bindparam("undated_offset", type_=Integer))


def _inbox_page(key: tuple):
    """The statement(s) of an inbox page of this shape: (sqlite, lanes, assignee, process_id) gives the
    dated and the undated read, run one after the other; (postgresql, lanes, assignee, process_id) gives
    one statement (one round trip) that reads both parts of every lane, at most `need` rows each, and
    merges and pages them. `lanes` is None (every lane), a number of lanes (parameters lane_<i>) or "in"
    (parameter lanes). Other parameters: status, assignee, process_id, need, limit, offset (PostgreSQL) or
    undated_limit, undated_offset (SQLite's second read). Statements with a number of lanes are db.Prepared."""
    found = _INBOX_PAGES.get(key)
    if found is not None:
        return found
    from sqlalchemy import Integer, literal_column, union_all

    backend, lanes, assignee, process_id = key
    prepare = db.Prepared if lanes != "in" else (lambda statement: statement)
    if backend == "sqlite":
        condition = _lane_condition(lanes, one=False)
        found = (prepare(_inbox_part(condition, assignee, process_id, True)),
                 prepare(_inbox_part(condition, assignee, process_id, False)))
    else:
        ranges = [None] if lanes is None else ["in"] if lanes == "in" else list(range(lanes))
        parts = []
        for lane in ranges:
            for dated in (True, False):
                part = _inbox_part(_lane_condition(lane, one=True), assignee, process_id, dated)
                if not dated:  # every part stops after `need` rows: the outer query pages over them
                    part = part.limit(bindparam("need", type_=Integer)).offset(None)
                parts.append(select(part.subquery(), literal_column("0" if dated else "1").label("undated")))
        both = union_all(*parts).subquery()
        found = prepare(select(*[both.c[k] for k in _TASK_KEYS])
                        .order_by(both.c.undated, both.c.due_at, both.c.created_at, both.c.id)
                        .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))
    _INBOX_PAGES[key] = found
    return found


def _read(connection, statement, params: dict) -> list:
    """The rows of an inbox read, result types processed: a db.Prepared, or a statement SQLAlchemy runs."""
    if isinstance(statement, db.Prepared):
        return statement.all(connection, params)
    return connection.execute(statement, params).all()


def _by_key(session: Session, entity, lanes: list[str] | None, assignee: str | None, status: str,
            business_key: str, process_id: str | None, limit: int, offset: int):
    """The inbox page of a business-key prefix as a SELECT of `entity` (HumanTask or its table): few rows,
    read by ix_human_task_key and sorted in one query."""
    t = _TASKS
    query = select(entity).where(t.c.status == status, t.c.business_key.startswith(business_key, autoescape=True))
    if db.is_sqlite(session):  # SQLite's LIKE cannot use the index; the same prefix as a range can
        query = query.where(t.c.business_key >= business_key, t.c.business_key < business_key + "\U0010ffff")
    if lanes is not None:
        query = query.where(t.c.lane.in_(lanes))
    if assignee is not None:
        query = query.where(t.c.assignee == assignee)
    if process_id:
        query = query.where(t.c.process_id == process_id)
    # (a due_at IS NULL read here would lure SQLite onto a skip-scan of the inbox indexes)
    return query.order_by(t.c.due_at.is_(None), t.c.due_at, t.c.created_at).limit(limit).offset(offset)


def _inbox_rows(session: Session, lanes: list[str] | None, assignee: str | None, status: str,
                process_id: str | None, limit: int, offset: int) -> list:
    """The rows (column values in table order) of an inbox page without a business key; see `list_tasks`."""
    need = offset + limit
    params: dict[str, Any] = {"status": status, "need": need, "limit": limit, "offset": offset}
    if assignee is not None:
        params["assignee"] = assignee
    if process_id:
        params["process_id"] = process_id
    db.flush_pending(session)  # what the ORM's autoflush would do before a query
    shape: int | str | None = None
    if lanes is not None:
        distinct = sorted(set(lanes))
        if not distinct:
            return []
        if len(distinct) <= _LANE_PARTS:
            shape = len(distinct)
            params.update({f"lane_{i}": lane for i, lane in enumerate(distinct)})
        else:
            shape, params["lanes"] = "in", distinct
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        dated, undated = _inbox_page(("sqlite", shape, assignee is not None, bool(process_id)))
        rows = _read(connection, dated, params)
        page = rows[offset:need]
        if len(rows) < need:  # every dated task is on this page or before it: continue with the undated ones
            params.update(undated_limit=limit - len(page), undated_offset=max(0, offset - len(rows)))
            page += _read(connection, undated, params)
        return page
    return _read(connection, _inbox_page(("postgresql", shape, assignee is not None, bool(process_id))), params)


def list_tasks(session: Session, lanes: list[str] | None = None, assignee: str | None = None,
               status: str = "open", business_key: str | None = None, process_id: str | None = None,
               limit: int = 50, offset: int = 0) -> list[HumanTask]:
    """Inbox rows: open tasks for some lanes and/or an assignee, soonest due first, undated last.

    Index range reads instead of one ORDER BY (due_at IS NULL, ...), which no plain index serves: the dated
    tasks by (due_at, created_at), then the undated ones by created_at (see `_inbox_page`). They walk
    ix_human_task_inbox / ix_human_task_assignee (status, lane|assignee, due_at, created_at) and
    ix_human_task_inbox_undated. SQLite reads the undated part only if the dated one does not fill the
    page; PostgreSQL reads both, lane by lane, in one statement (one round trip, no sort of whole lanes).
    Rows are read with Core and attached as fresh HumanTask objects (pending changes are flushed first).
    A business-key prefix matches few rows: they are read by ix_human_task_key and sorted in one query.
    """
    if business_key:
        return list(session.scalars(_by_key(session, HumanTask, lanes, assignee, status, business_key,
                                            process_id, limit, offset)))
    page = _inbox_rows(session, lanes, assignee, status, process_id, limit, offset)
    if page:
        HumanTask.registry.configure()  # (no-op once the mappers are set up; adopt needs them)
    return [db.adopt(session, HumanTask, dict(zip(_TASK_KEYS, row, strict=True))) for row in page]


def list_task_rows(session: Session, lanes: list[str] | None = None, assignee: str | None = None,
                   status: str = "open", business_key: str | None = None, process_id: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """The page `list_tasks` gives, as column values by column name instead of session objects: for callers
    that only read the rows (building the objects costs more than reading them)."""
    if business_key:
        db.flush_pending(session)
        page = session.connection().execute(_by_key(session, _TASKS, lanes, assignee, status, business_key,
                                                    process_id, limit, offset)).all()
    else:
        page = _inbox_rows(session, lanes, assignee, status, process_id, limit, offset)
    keys = _TASK_KEYS
    return [dict(zip(keys, row, strict=True)) for row in page]


#: A task row with its instance's version id (None: no such instance), for opening a task in one read.
_TASK_AND_DEFINITION = db.Prepared(
    select(_TASKS, _INSTANCES.c.definition_id)
    .outerjoin_from(_TASKS, _INSTANCES, _TASKS.c.instance_id == _INSTANCES.c.id)
    .where(_TASKS.c.id == bindparam("task_id")))


def open_task(session: Session, task_id: str,
              check: Callable[[HumanTask], Any] | None = None) -> tuple[HumanTask, dict | None]:
    """What `get_task` and then `form_schema` give (the task row, the JSON Schema of its form), from one
    statement instead of two. `check` (the caller's permission check) sees the row before the form is
    loaded, as it would between those two calls."""
    db.flush_pending(session)
    found = _TASK_AND_DEFINITION.first(session.connection(), {"task_id": task_id})
    if found is None:
        raise TaskNotFound(f"No task with id {task_id}.", task_id=task_id)
    task = db.adopt(session, HumanTask, dict(zip(_TASK_KEYS, found[:-1], strict=True)))
    if check is not None:
        check(task)
    if not task.form_ref:
        return task, None
    if found[-1] is None:
        raise TaskNotFound(f"Task {task.id} belongs to no process instance.", task_id=task.id)
    return task, definitions.load(session, found[-1]).forms.get(task.form_ref)
