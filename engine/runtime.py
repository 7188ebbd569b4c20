"""The unit of work's machinery: lock and load an instance, run the engine, save state and projections."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import traceback
from dataclasses import dataclass
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, clock, db, definitions, live, projections, serialization
from .errors import BpmnError, InstanceConflict, InstanceNotActive, InstanceNotFound
from .models import Incident, ProcessDefinition, ProcessInstance
from .scripts import RestrictedScriptEngine
from .services import call_handler, current_run
from .tree import EngineWorkflow

log = logging.getLogger(__name__)
logging.getLogger("spiff").setLevel(logging.WARNING)
# Spiff gathers extra log fields (every task id, task data) whenever these loggers' own level is below INFO,
# whatever their effective level: set it, so that a state change does not walk the tree for a log record.
for _name in ("spiff.workflow", "spiff.task"):
    logging.getLogger(_name).setLevel(logging.WARNING)

SCRIPT_ENGINE = RestrictedScriptEngine(call_handler)
RETRY_BASE_SECONDS = 30
DEFAULT_MAX_ATTEMPTS = 3


@dataclass
class Loaded:
    """An instance row with its live workflow, for the length of one unit of work."""

    row: ProcessInstance
    definition: definitions.LoadedDefinition
    workflow: BpmnWorkflow
    actor: str
    waiting_before: dict
    #: inbox rows this unit of work already closed itself (a completed task): nothing to cancel for them
    closed: frozenset[str] = frozenset()


# Hot statements are built once: building a statement and its cache key costs more than running it.
_INSTANCES = ProcessInstance.__table__
_INSTANCE_KEYS = [c.key for c in _INSTANCES.columns]
_READ_INSTANCE = select(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance_id"))
_LOCK = db.Prepared(_READ_INSTANCE)
_LOCK_FOR_UPDATE = db.Prepared(_READ_INSTANCE.with_for_update())
_INSERT_INSTANCE = db.Prepared(insert(_INSTANCES).returning(_INSTANCES.c.id),
                               [k for k in _INSTANCE_KEYS if k != "id"])
_INSERT_INSTANCE_SQLITE = db.Prepared(insert(_INSTANCES), [k for k in _INSTANCE_KEYS if k != "id"])
_UPDATE_INSTANCE = db.Prepared(
    update(_INSTANCES).where(_INSTANCES.c.id == bindparam("b_id"),
                             _INSTANCES.c.version_id == bindparam("b_version")),
    ("state", "status", "ended_at", "updated_at", "serializer_version", "waiting", "version_id",
     "b_id", "b_version"))
_DEFINITIONS = ProcessDefinition.__table__
_LATEST_DEFINITION = db.Prepared(select(_DEFINITIONS.c.id, _DEFINITIONS.c.version)
                                 .where(_DEFINITIONS.c.process_id == bindparam("process_id"))
                                 .order_by(_DEFINITIONS.c.version.desc()).limit(1))
_GIVEN_DEFINITION = db.Prepared(select(_DEFINITIONS.c.id, _DEFINITIONS.c.version)
                                .where(_DEFINITIONS.c.process_id == bindparam("process_id"),
                                       _DEFINITIONS.c.version == bindparam("version")))


def lock(session: Session, instance_id: int) -> ProcessInstance:
    """Load the instance row, locked against concurrent writers (FOR UPDATE on PostgreSQL), as the session's
    object refreshed from this read (one Core statement; the ORM's loader costs more than the query).
    Pending ORM changes are flushed first, as the ORM's autoflush would, so the read cannot undo them."""
    query = _LOCK if db.is_sqlite(session) else _LOCK_FOR_UPDATE
    found = db.read_objects(session, query, {"instance_id": instance_id}, ProcessInstance)
    if found is None:
        raise InstanceNotFound(f"No process instance with id {instance_id}.", instance_id=instance_id)
    return found[0]


def definition_for_start(session: Session, process_id: str, version: int | None = None) -> tuple[int, int]:
    """(definition id, version) of the latest (or given) version of a process; one indexed query."""
    if version is None:
        found = _LATEST_DEFINITION.first(session.connection(), {"process_id": process_id})
    else:
        found = _GIVEN_DEFINITION.first(session.connection(), {"process_id": process_id, "version": version})
    if found is None:
        definitions.resolve(session, process_id, version)  # raises DefinitionNotFound with its message
    return found[0], found[1]


def insert_instance(session: Session, values: dict) -> ProcessInstance:
    """Insert a new instance row (every column but id and version_id) with one Core INSERT (SQLite: its
    rowid; elsewhere RETURNING id) and return it as a persistent object of the session."""
    values = {**values, "version_id": 1}
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        values["id"] = _INSERT_INSTANCE_SQLITE.last_row_id(connection, values)
    else:
        values["id"] = _INSERT_INSTANCE.first(connection, values)[0]
    return db.adopt(session, ProcessInstance, values)


def open_instance(session: Session, instance_id: int, actor: str, require_active: bool = True,
                  row: ProcessInstance | None = None) -> Loaded:
    """Lock an instance (unless `row` is already locked) and rebuild its workflow from spec and state."""
    if row is None or row.id != instance_id:
        row = lock(session, instance_id)
    if require_active and row.status not in ("running",):
        raise InstanceNotActive(f"Instance {row.id} ({row.business_key or row.process_id}) is {row.status}; "
                                "it accepts no more work.", instance_id=row.id, status=row.status)
    loaded_def = definitions.load(session, row.definition_id)
    state = row.state
    wf = live.CACHE.take((id(loaded_def), row.id), state, loaded_def) \
        if row.serializer_version == serialization.SERIALIZER_VERSION else None
    if wf is None:
        wf = serialization.load_state(state, loaded_def.spec, loaded_def.subprocess_specs, row.serializer_version)
        wf.script_engine = SCRIPT_ENGINE
    return Loaded(row, loaded_def, wf, actor, dict(row.waiting or {}))


def new_workflow(definition: definitions.LoadedDefinition) -> BpmnWorkflow:
    """A fresh workflow for a definition, bound to the restricted script engine."""
    return EngineWorkflow(definition.spec, definition.subprocess_specs, script_engine=SCRIPT_ENGINE)


def advance(session: Session, loaded: Loaded) -> None:
    """Run every engine step that can run now; failures become incidents instead of errors."""
    wf = loaded.workflow
    token = current_run.set({"session": session, "instance_id": loaded.row.id, "actor": loaded.actor,
                             "business_key": loaded.row.business_key})
    seen: set[str] = set()
    try:
        for _ in range(len(wf.tasks) + 10):
            try:
                wf.refresh_timers()
                wf.do_engine_steps()
                break
            except Exception as err:  # noqa: BLE001 - any handler failure must become an incident
                if not _open_incidents(session, loaded, err, seen):
                    raise
    finally:
        current_run.reset(token)


def _open_incidents(session: Session, loaded: Loaded, err: Exception, seen: set[str]) -> bool:
    """Record an incident for every task newly left in ERROR by `err`; False if there is none."""
    failed = [t for t in loaded.workflow.get_tasks(state=TaskState.ERROR) if str(t.id) not in seen]
    seen.update(str(t.id) for t in failed)
    if not failed:
        return False
    now = clock.now()
    cause = err.__cause__ or err
    message = str(err)
    if isinstance(err, BpmnError):
        message = f"{err} (no error boundary event catches code '{err.code}')"
    tb = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))[-8000:]
    known = {i.task_id: i for i in session.scalars(
        select(Incident).where(Incident.instance_id == loaded.row.id, Incident.status == "open"))}
    for task in failed:
        task_id = str(task.id)
        max_attempts = getattr(task.task_spec, "retries", None) or DEFAULT_MAX_ATTEMPTS
        incident = known.get(task_id)
        if incident is None:
            incident = Incident(instance_id=loaded.row.id, task_id=task_id,
                                task_name=task.task_spec.bpmn_id or "",
                                kind="service", error_type=type(err).__name__, message=message, traceback=tb,
                                attempts=1, max_attempts=max_attempts, status="open", created_at=now,
                                updated_at=now)
            session.add(incident)
        else:
            incident.attempts += 1
            incident.error_type, incident.message, incident.traceback = type(err).__name__, message, tb
            incident.updated_at = now
        backoff = dt.timedelta(seconds=RETRY_BASE_SECONDS * 2 ** (incident.attempts - 1))
        incident.next_retry_at = now + backoff if incident.attempts < incident.max_attempts else None
        loaded.row.has_incident = True
        session.flush()
        audit.record(session, loaded.actor, "incident", loaded.row.id, task_id, task.task_spec.bpmn_id,
                     {"error": type(err).__name__, "message": message[:500], "attempts": incident.attempts})
        log.warning("incident on %s: %s", task.task_spec.bpmn_id, message,
                    extra={"instance_id": loaded.row.id, "task_id": task_id})
        notify_incident("service")
    return True


#: Callables told the kind ("service", "timer") of every incident recorded in this process (metrics).
INCIDENT_LISTENERS: list = []


def notify_incident(kind: str) -> None:
    """Tell the registered listeners that an incident of `kind` was recorded."""
    for listener in INCIDENT_LISTENERS:
        listener(kind)


def status_of(wf: BpmnWorkflow) -> str:
    """The instance status implied by the workflow."""
    if wf.is_completed():
        return "completed"
    return "running"


def save(session: Session, loaded: Loaded) -> None:
    """Write state and rewrite the projections in the same transaction; conflicts become 409.

    The instance row is written by one Core UPDATE guarded by its version_id (the optimistic lock the ORM
    would apply), and the ORM object is told the values it now holds, so nothing is flushed twice.
    """
    row, wf = loaded.row, loaded.workflow
    conflict = InstanceConflict(f"Instance {row.id} was changed by someone else at the same time; "
                                "reload and try again.", instance_id=row.id)
    try:
        db.flush_pending(session)  # pending ORM work (incidents, rows changed by callers) goes first
        now = clock.now()
        values = {"state": serialization.dump_state(wf), "status": row.status, "ended_at": row.ended_at,
                  "serializer_version": serialization.SERIALIZER_VERSION, "updated_at": now}
        if row.status == "running":
            values["status"] = status_of(wf)
            if values["status"] == "completed":
                values["ended_at"] = now
                audit.record(session, loaded.actor, "complete_instance", row.id)
        values["waiting"] = projections.sync(session, loaded, now)
    except StaleDataError:
        raise conflict from None
    version = row.version_id
    count = _UPDATE_INSTANCE.execute(session.connection(), {**values, "version_id": version + 1,
                                                            "b_id": row.id, "b_version": version})
    if count != 1:
        raise conflict
    values["version_id"] = version + 1
    db.set_committed(row, values)
    if values["status"] == "running" and live.CACHE.budget:
        keep_after_commit(session, loaded, values["state"])


def keep_after_commit(session: Session, loaded: Loaded, state: str) -> None:
    """Keep the workflow in memory once this unit of work commits (engine/live.py); the next unit of work on
    the instance takes it instead of rebuilding it from `state`. Whether its data can be kept as load_state
    would rebuild it is settled after the commit (live.keep_committed): not while the row is locked, and
    not for a unit of work that rolls back."""
    key = (id(loaded.definition), loaded.row.id)
    db.after_commit(session, key, functools.partial(live.keep_committed, key, state, loaded.definition,
                                                     loaded.workflow))


def find_task(wf: BpmnWorkflow, task_id: str):
    """The Spiff task with this id (searches subprocesses), or None."""
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError):
        return None
