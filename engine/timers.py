"""Timers: queries on the timer table, the leased claim, firing one timer, and the sweeper batch loop.

The timer table is the truth (projections.sync rewrites it with the instance state). A sweeper claims due
rows with a lease (owner + expiry in wall-clock time; FOR UPDATE SKIP LOCKED on PostgreSQL, one
UPDATE ... RETURNING on SQLite), commits the claim, then fires each row through the normal unit of work.
A fire re-checks the lease after it holds the instance lock, so a timer fires once even when two
sweepers race or a lease expired under a slow sweeper; a crashed sweeper's rows are taken over when
their lease expires. Leases live in wall-clock time because they measure process liveness, not
business time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import NamedTuple

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import audit, clock, db, incidents, projections, roles, runtime
from .errors import EngineError, InstanceNotActive, InstanceNotFound, conflict_from_database
from .models import AuditEvent, HumanTask, Incident, ProcessInstance, Timer
from .services import HandlerContext, handler

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
MAX_FIRE_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30
PENDING = ("waiting", "leased")


@dataclass
class FireResult:
    """What happened to one claimed timer."""

    timer_id: str
    outcome: str  # fired | skipped | lost | not_due | failed
    instance_id: int | None = None
    task_name: str | None = None
    due_at: dt.datetime | None = None
    fired_at: dt.datetime | None = None
    lag_ms: int | None = None
    error: str | None = None


@dataclass
class SweepStats:
    """Totals of one sweeper run."""

    claimed: int = 0
    fired: int = 0
    skipped: int = 0
    failed: int = 0
    retried_incidents: int = 0
    lags_ms: list[int] = field(default_factory=list)


def default_owner() -> str:
    """A lease owner name unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def wall_now() -> dt.datetime:
    """Wall-clock UTC, for leases (they measure whether a sweeper is alive, not business time)."""
    return dt.datetime.now(dt.UTC)


def next_due(session: Session) -> dt.datetime | None:
    """The earliest due time of a waiting timer (one index probe on status, due_at)."""
    return session.scalar(select(func.min(Timer.due_at)).where(Timer.status == "waiting"))


def count_due(session: Session, at: dt.datetime | None = None) -> int:
    """How many waiting timers are due at `at` (default: now)."""
    at = at or clock.now()
    return session.scalar(select(func.count()).select_from(Timer)
                          .where(Timer.status == "waiting", Timer.due_at <= at)) or 0


def count_expired_leases(session: Session) -> int:
    """Leased timers whose sweeper stopped renewing (crashed or too slow): ready to be taken over."""
    return session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == "leased", Timer.lease_expires_at <= wall_now())) or 0


def list_timers(session: Session, status: str | None = "pending", instance_id: int | None = None,
                due_before: dt.datetime | None = None, limit: int = 100, offset: int = 0) -> list[Timer]:
    """Timers by due time; status 'pending' means waiting or leased, None means any."""
    query = select(Timer)
    if status == "pending":
        query = query.where(Timer.status.in_(PENDING))
    elif status:
        query = query.where(Timer.status == status)
    if instance_id is not None:
        query = query.where(Timer.instance_id == instance_id)
    if due_before is not None:
        query = query.where(Timer.due_at <= due_before)
    return list(session.scalars(query.order_by(Timer.due_at, Timer.id).limit(limit).offset(offset)))


def describe(timer: Timer) -> dict:
    """A JSON-safe view of a timer row with its due date in Asia/Shanghai."""
    return {"id": timer.id, "instance_id": timer.instance_id, "task_name": timer.task_name,
            "kind": timer.kind, "expression": timer.expression, "attached_to": timer.attached_to,
            "interrupting": timer.interrupting,
            "status": timer.status, "due_at": timer.due_at.isoformat(),
            "due_local": clock.to_local(timer.due_at).isoformat(), "attempts": timer.attempts,
            "lease_owner": timer.lease_owner,
            "fired_at": timer.fired_at.isoformat() if timer.fired_at else None, "lag_ms": timer.lag_ms}


def claim(session: Session, owner: str, limit: int = 100, lease_seconds: float = LEASE_SECONDS) -> list[str]:
    """Lease up to `limit` due timers (and timers whose lease expired) to `owner`; ids by due time."""
    return [timer_id for timer_id, _instance_id in claim_rows(session, owner, limit, lease_seconds)]


def claim_rows(session: Session, owner: str, limit: int = 100,
               lease_seconds: float = LEASE_SECONDS) -> list[tuple[str, int]]:
    """Like `claim`, with each timer's instance id: (timer id, instance id) by due time."""
    now, wall = clock.now(), wall_now()
    due = or_(and_(Timer.status == "waiting", Timer.due_at <= now),
              and_(Timer.status == "leased", Timer.lease_expires_at <= wall))
    pick = select(Timer.id).where(due).order_by(Timer.due_at).limit(limit)
    expires = wall + dt.timedelta(seconds=lease_seconds)
    lease = dict(status="leased", lease_owner=owner, lease_expires_at=expires, attempts=Timer.attempts + 1)
    if db.is_sqlite(session):
        # One statement is atomic on SQLite, even in a transaction that did not BEGIN IMMEDIATE.
        stmt = (update(Timer).where(Timer.id.in_(pick.scalar_subquery()), due).values(**lease)
                .returning(Timer.id, Timer.instance_id, Timer.due_at))
        rows = session.execute(stmt, execution_options={"synchronize_session": False}).all()
        return [(r[0], r[1]) for r in sorted(rows, key=lambda r: (r[2], r[0]))]
    pick_rows = select(Timer.id, Timer.instance_id).where(due).order_by(Timer.due_at).limit(limit)
    picked = session.execute(pick_rows.with_for_update(skip_locked=True)).all()
    if picked:
        session.execute(update(Timer).where(Timer.id.in_([r[0] for r in picked])).values(**lease),
                        execution_options={"synchronize_session": False})
    return [(r[0], r[1]) for r in picked]


# Built once, run on the session's connection: firing is the sweeper's hot path (no ORM round trips).
_T = Timer.__table__
_LEASE_OF = db.Prepared(select(_T.c.status, _T.c.lease_owner, _T.c.instance_id, _T.c.task_name, _T.c.due_at,
                              _T.c.attempts).where(_T.c.id == bindparam("t_id")))
_CLOSE = db.Prepared(update(_T).where(_T.c.id == bindparam("t_id"))
                     .values(status=bindparam("t_status"), lease_owner=None, lease_expires_at=None),
                     ("t_id", "t_status"))
_UNLEASE = db.Prepared(update(_T).where(_T.c.id == bindparam("t_id"), _T.c.lease_owner == bindparam("t_owner"))
                       .values(status="waiting", lease_owner=None, lease_expires_at=None), ("t_id", "t_owner"))
_RELEASE = db.Prepared(update(_T).where(_T.c.id == bindparam("t_id"))
                       .values(status="waiting", due_at=bindparam("t_due"), lease_owner=None,
                               lease_expires_at=None), ("t_id", "t_due"))
# A fire writes its timer row once: status (fired, or waiting for a cycle's next occurrence), due time,
# fired_at and lag; projections.settle_fired_timer keeps the save's sync off this row. On PostgreSQL the
# same statement appends the timer_fired audit event (a data-modifying CTE: one round trip for both).
_A = AuditEvent.__table__
_FIRED_VALUES = dict(status=bindparam("t_status"), due_at=bindparam("t_due"), fired_at=bindparam("t_now"),
                     lag_ms=bindparam("t_lag"), lease_owner=None, lease_expires_at=None)
_FIRED_KEYS = ("t_id", "t_status", "t_due", "t_now", "t_lag")
_MARK_FIRED = db.Prepared(update(_T).where(_T.c.id == bindparam("t_id")).values(**_FIRED_VALUES), _FIRED_KEYS)
_FIRED_CTE = (update(_T).where(_T.c.id == bindparam("t_id")).values(**_FIRED_VALUES)
              .returning(_T.c.id, _T.c.instance_id, _T.c.task_name).cte("fired"))
_MARK_FIRED_AUDITED = db.Prepared(insert(_A).from_select(
    ["at", "actor", "action", "instance_id", "task_id", "task_name", "data"],
    select(bindparam("t_now", type_=_A.c.at.type), bindparam("a_actor", type_=_A.c.actor.type),
           bindparam("a_action", type_=_A.c.action.type), _FIRED_CTE.c.instance_id, _FIRED_CTE.c.id,
           _FIRED_CTE.c.task_name, bindparam("a_data", type_=_A.c.data.type))),
    (*_FIRED_KEYS, "a_actor", "a_action", "a_data"))


_I = ProcessInstance.__table__
_INSTANCE_KEYS = [c.key for c in _I.columns]
_LOCK_WITH_LEASE_SQLITE = db.Prepared(
    select(_I, _T.c.status, _T.c.lease_owner, _T.c.instance_id, _T.c.task_name, _T.c.due_at, _T.c.attempts)
    .join_from(_I, _T, _T.c.instance_id == _I.c.id).where(_T.c.id == bindparam("t_id")))
_LOCK_WITH_LEASE = db.Prepared(_LOCK_WITH_LEASE_SQLITE.statement.with_for_update())


def _reload(session: Session, timer_id: str) -> Timer | None:
    return session.scalars(select(Timer).where(Timer.id == timer_id)
                           .execution_options(populate_existing=True)).first()


class _Lease(NamedTuple):
    status: str
    lease_owner: str | None
    instance_id: int
    task_name: str
    due_at: dt.datetime
    attempts: int


def _lease_of(session: Session, timer_id: str) -> _Lease | None:
    found = _LEASE_OF.first(session.connection(), {"t_id": timer_id})
    return _Lease(*found) if found is not None else None


def _lock_with_lease(session: Session, timer_id: str) -> tuple[ProcessInstance, _Lease] | None:
    """The timer's instance, locked and attached to the session (as runtime.lock does), with the timer's lease.

    One statement. On PostgreSQL it locks both rows, instance first (as every writer of timer rows does):
    a read that waited for the instance lock then returns the timer row as the lock holder left it, not
    the row as it was when the read began.
    """
    db.flush_pending(session)  # as runtime.lock: the read must not undo pending changes
    query = _LOCK_WITH_LEASE_SQLITE if db.is_sqlite(session) else _LOCK_WITH_LEASE
    found = query.first(session.connection(), {"t_id": timer_id})
    if found is None:
        return None
    width = len(_INSTANCE_KEYS)
    instance = db.adopt(session, ProcessInstance, dict(zip(_INSTANCE_KEYS, found[:width], strict=True)))
    return instance, _Lease(*found[width:])


def fire(session: Session, timer_id: str, owner: str, actor: str = "timer",
         instance_id: int | None = None) -> FireResult:
    """Fire one timer leased to `owner` through the unit of work; failures are recorded, not raised.

    `instance_id` (from `claim_rows`) saves a read; the lease is checked again under the instance lock.
    """
    if instance_id is None:
        row = _lease_of(session, timer_id)
        if row is None or row.status != "leased" or row.lease_owner != owner:
            return FireResult(timer_id, "lost")
        instance_id = row.instance_id
    result = FireResult(timer_id, "failed", instance_id)
    savepoint = session.begin_nested()
    try:
        outcome = _fire_locked(session, instance_id, timer_id, owner, actor, result)
        savepoint.commit()
        result.outcome = outcome
    except InstanceNotActive:
        savepoint.rollback()
        _close(session, timer_id, "cancelled")
        result.outcome = "skipped"
    except InstanceNotFound:
        savepoint.rollback()
        result.outcome = "skipped"
    except Exception as err:  # noqa: BLE001 - a failed fire becomes an incident and a later retry
        if savepoint.is_active:
            savepoint.rollback()
        if conflict_from_database(err) is not None:
            # The database undid this fire for a concurrent unit of work (a deadlock or serialization
            # failure): nothing failed; the timer goes back to waiting, due as it was, for the next sweep.
            _UNLEASE.execute(session.connection(), {"t_id": timer_id, "t_owner": owner})
            result.outcome, result.error = "lost", f"{type(err).__name__}: {err}"
            log.warning("timer %s lost a race and fires on the next sweep: %s", timer_id, err,
                        extra={"instance_id": result.instance_id})
            return result
        _record_failure(session, timer_id, err, actor)
        result.outcome, result.error = "failed", f"{type(err).__name__}: {err}"
        log.warning("timer %s failed to fire: %s", timer_id, err, extra={"instance_id": result.instance_id})
        runtime.notify_incident("timer")
    return result


def _fire_locked(session: Session, instance_id: int, timer_id: str, owner: str, actor: str,
                 result: FireResult) -> str:
    found = _lock_with_lease(session, timer_id)  # holds the instance lock from here on
    if found is None:
        return "lost"  # the timer row is gone (its instance was deleted)
    instance, row = found
    if row.status != "leased" or row.lease_owner != owner:
        return "lost"  # someone else fired or re-leased it while we waited for the lock
    instance_id = result.instance_id = row.instance_id
    loaded = runtime.open_instance(session, instance_id, actor, row=instance)
    result.task_name, result.due_at = row.task_name, row.due_at
    task = runtime.find_task(loaded.workflow, timer_id)
    if task is None or task.state != TaskState.WAITING:
        done = task is not None and task.state == TaskState.COMPLETED
        _close(session, timer_id, "fired" if done else "cancelled")
        return "skipped"
    due, now = projections.timer_due(task), clock.now()
    if due is None or due > now:
        _RELEASE.execute(session.connection(), {"t_id": timer_id, "t_due": due or row.due_at})
        return "not_due"
    # Spiff compares `due < now` strictly; a timer due exactly now is forced, never left for a second later.
    definition = task.task_spec.event_definition
    if isinstance(definition, CycleTimerEventDefinition) or clock.gateway_timers(definition):
        task.internal_data["timer_forced"] = True
    else:
        task._set_internal_data(event_fired=True)
    runtime.advance(session, loaded)
    settled = projections.settle_fired_timer(loaded, timer_id, row.due_at)
    if settled is None:
        raise RuntimeError(f"Timer {timer_id} ({row.task_name}) was forced but its task did not fire.")
    runtime.save(session, loaded)
    lag_ms = max(0, int((now - due).total_seconds() * 1000))
    _mark_fired(session, timer_id, settled, now, lag_ms, actor, result.task_name,
                {"due_at": due.isoformat(), "lag_ms": lag_ms}, instance_id)
    if row.attempts > 1:  # an earlier attempt failed: close its incident
        _resolve_incident(session, instance_id, timer_id, actor)
    result.fired_at, result.lag_ms, result.due_at = now, lag_ms, due
    return "fired"


def _mark_fired(session: Session, timer_id: str, settled: tuple[str, dt.datetime], now: dt.datetime,
                lag_ms: int, actor: str, task_name: str, data: dict, instance_id: int) -> None:
    """Write the fired timer's row and its timer_fired audit event (one statement on PostgreSQL)."""
    connection = session.connection()
    params = {"t_id": timer_id, "t_status": settled[0], "t_due": settled[1], "t_now": now, "t_lag": lag_ms}
    if db.is_sqlite(connection):
        count = _MARK_FIRED.execute(connection, params)
        audit.record(session, actor, "timer_fired", instance_id, timer_id, task_name, data)
    else:
        count = _MARK_FIRED_AUDITED.execute(connection, {**params, "a_actor": actor or "system",
                                                         "a_action": "timer_fired", "a_data": data})
    if count != 1:
        raise RuntimeError(f"Timer {timer_id} ({task_name}) fired but its row is gone; it was not recorded.")


def _close(session: Session, timer_id: str, status: str) -> None:
    _CLOSE.execute(session.connection(), {"t_id": timer_id, "t_status": status})


def _record_failure(session: Session, timer_id: str, err: Exception, actor: str) -> None:
    """Back off and retry via the lease (wall time), or give up after MAX_FIRE_ATTEMPTS; keep an incident."""
    row = _reload(session, timer_id)
    if row is None:
        return
    now = clock.now()
    message = f"Timer {row.task_name} could not fire: {err}"
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))[-8000:]
    if row.attempts >= MAX_FIRE_ATTEMPTS:
        row.status, row.lease_owner, row.lease_expires_at = "failed", None, None
    else:
        backoff = RETRY_BASE_SECONDS * 2 ** (row.attempts - 1)
        row.status, row.lease_owner = "leased", "retry"
        row.lease_expires_at = wall_now() + dt.timedelta(seconds=backoff)
    incident = session.scalars(select(Incident).where(Incident.instance_id == row.instance_id,
                                                      Incident.task_id == timer_id, Incident.kind == "timer",
                                                      Incident.status == "open")).first()
    if incident is None:
        incident = Incident(instance_id=row.instance_id, task_id=timer_id, task_name=row.task_name,
                            kind="timer", error_type=type(err).__name__, message=message, traceback=tb,
                            attempts=row.attempts, max_attempts=MAX_FIRE_ATTEMPTS, status="open",
                            created_at=now, updated_at=now)
        session.add(incident)
    else:
        incident.attempts, incident.message, incident.traceback = row.attempts, message, tb
        incident.error_type, incident.updated_at = type(err).__name__, now
    session.execute(update(ProcessInstance).where(ProcessInstance.id == row.instance_id)
                    .values(has_incident=True), execution_options={"synchronize_session": False})
    audit.record(session, actor, "incident", row.instance_id, timer_id, row.task_name,
                 {"error": type(err).__name__, "message": message[:500], "attempts": row.attempts})
    session.flush()


def _resolve_incident(session: Session, instance_id: int, timer_id: str, actor: str) -> None:
    open_ = session.scalars(select(Incident).where(
        Incident.instance_id == instance_id, Incident.task_id == timer_id, Incident.kind == "timer",
        Incident.status == "open")).all()
    for incident in open_:
        incident.status, incident.resolved_at, incident.resolved_by = "resolved", clock.now(), actor


def fire_due(session: Session, owner: str = "sweeper", limit: int = 100,
             lease_seconds: float = LEASE_SECONDS) -> list[FireResult]:
    """Claim and fire due timers inside the caller's transaction (the simulated clock, tests, the CLI)."""
    return [fire(session, timer_id, owner, instance_id=instance_id)
            for timer_id, instance_id in claim_rows(session, owner, limit, lease_seconds)]


def retry_due_incidents(session: Session, actor: str = "timer", limit: int = 50) -> int:
    """Retry the service-task incidents whose backoff has passed; returns how many were retried."""
    done = 0
    for incident_id in incidents.due_for_retry(session, limit):
        savepoint = session.begin_nested()
        try:
            incidents.retry_incident(session, incident_id, actor)
            savepoint.commit()
            done += 1
        except EngineError as err:
            savepoint.rollback()
            # Nothing left to retry (the task moved on): stop asking.
            session.execute(update(Incident).where(Incident.id == incident_id).values(next_retry_at=None),
                            execution_options={"synchronize_session": False})
            log.info("incident %s not retried: %s", incident_id, err)
    return done


#: How often a busy sweeper looks for service-task incidents whose retry backoff has passed.
INCIDENT_CHECK_SECONDS = 1.0


class Sweeper:
    """The worker batch loop: claim and commit, fire in short transactions, repeat until idle."""

    def __init__(self, factory: sessionmaker[Session], owner: str | None = None, batch: int = 200,
                 chunk: int = 50, lease_seconds: float = LEASE_SECONDS):
        self.factory = factory
        self.owner = owner or default_owner()
        self.batch, self.chunk, self.lease_seconds = batch, chunk, lease_seconds
        self._next_incident_check = 0.0

    def run_once(self) -> SweepStats:
        """One batch: claim up to `batch` timers and fire them; also retry due incidents."""
        stats = SweepStats()
        with db.unit_of_work(self.factory) as session:
            claimed = claim_rows(session, self.owner, self.batch, self.lease_seconds)
        stats.claimed = len(claimed)
        for start in range(0, len(claimed), self.chunk):
            # A chunk holds its instances' locks until it commits: taking them in instance order (due order
            # within an instance, the sort is stable) means two workers' chunks can never wait on each other
            # in a cycle, whatever timers of the same instances each of them leased.
            chunk = sorted(claimed[start:start + self.chunk], key=lambda row: row[1])
            with db.unit_of_work(self.factory) as session:
                for timer_id, instance_id in chunk:
                    self._count(stats, fire(session, timer_id, self.owner, instance_id=instance_id))
        if time.monotonic() >= self._next_incident_check:  # at most once a second: a write transaction
            self._next_incident_check = time.monotonic() + INCIDENT_CHECK_SECONDS
            with db.unit_of_work(self.factory) as session:
                stats.retried_incidents = retry_due_incidents(session)
        return stats

    def run(self, max_batches: int | None = None, max_seconds: float | None = None) -> SweepStats:
        """Batches until nothing is due (or a budget runs out); returns the totals."""
        total, started, runs = SweepStats(), time.monotonic(), 0
        while True:
            stats = self.run_once()
            runs += 1
            for name in ("claimed", "fired", "skipped", "failed", "retried_incidents"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            total.lags_ms.extend(stats.lags_ms)
            if stats.claimed < self.batch or (max_batches and runs >= max_batches):
                return total
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return total

    @staticmethod
    def _count(stats: SweepStats, result: FireResult) -> None:
        if result.outcome == "fired":
            stats.fired += 1
            stats.lags_ms.append(result.lag_ms or 0)
        elif result.outcome == "failed":
            stats.failed += 1
        else:
            stats.skipped += 1


@handler("engine.escalate", "Escalate open tasks of this instance to a supervisor role (reassign or notify).",
         params=("role", "task", "mode"))
def escalate(ctx: HandlerContext, role: str, task: str | None = None, mode: str = "reassign") -> dict:
    """Move the instance's open tasks (or only `task`) to `role`'s inbox, or just notify; always audited."""
    if not roles.is_role(role):
        raise ValueError(f"engine.escalate: '{role}' is not a known role; name a lane role (a supervisor).")
    if mode not in ("reassign", "notify"):
        raise ValueError(f"engine.escalate: mode must be 'reassign' or 'notify', not '{mode}'.")
    session = ctx.session
    query = select(HumanTask).where(HumanTask.instance_id == ctx.instance_id, HumanTask.status == "open")
    if task:
        query = query.where(HumanTask.task_name == task)
    rows = list(session.scalars(query))
    for row in rows:
        before = {"lane": row.lane, "assignee": row.assignee}
        if mode == "reassign":
            row.lane, row.assignee, row.priority = role, None, max(row.priority, 80)
        audit.record(session, ctx.actor, "escalate", ctx.instance_id, row.id, row.task_name,
                     {"to_role": role, "mode": mode, "before": before, "by_task": ctx.task_name})
    if not rows:
        audit.record(session, ctx.actor, "escalate", ctx.instance_id, ctx.task_id, ctx.task_name,
                     {"to_role": role, "mode": mode, "tasks": []})
    return {"escalated_to": role, "escalated_tasks": [r.task_name for r in rows],
            "escalated_at": clock.to_local(ctx.now).isoformat()}
