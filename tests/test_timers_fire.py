"""One timer fire: its row is written once (status, due, fired_at, lag) with one audit event, the lease
decides who fires, and a forced timer that does not fire is a failure, not a silent success."""

from __future__ import annotations

import datetime as dt
import threading
import time

from conftest import commit
from sqlalchemy import select, text, update

from engine import db, instances, projections, runtime, timers
from engine.models import AuditEvent, Incident, Timer

DAY_MS = 24 * 3600 * 1000


def start(session, process_id: str, **data) -> int:
    inst = instances.start_instance(session, process_id, data, "alice")
    commit(session)
    return inst.id


def row_of(session, instance_id: int) -> Timer:
    session.expire_all()
    [row] = session.scalars(select(Timer).where(Timer.instance_id == instance_id)).all()
    return row


def fired_events(session, timer_id: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "timer_fired",
                                                         AuditEvent.task_id == timer_id)))


def test_a_fired_timer_row_records_fired_at_and_lag_once_with_one_audit_event(session, deploy, fixed_clock):
    deploy("tmr_duration.bpmn")
    iid = start(session, "tmr_duration")
    due = row_of(session, iid).due_at
    fixed_clock.advance(dt.timedelta(days=31))
    [result] = timers.fire_due(session, owner="w1")
    commit(session)
    assert (result.outcome, result.lag_ms) == ("fired", DAY_MS)
    row = row_of(session, iid)
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("fired", None, None)
    assert (row.due_at, row.fired_at, row.lag_ms, row.attempts) == (due, fixed_clock.now(), DAY_MS, 1)
    [event] = fired_events(session, row.id)
    assert (event.actor, event.instance_id, event.task_name, event.at) == ("timer", iid, "Event_cooldown",
                                                                           fixed_clock.now())
    assert event.data == {"due_at": due.isoformat(), "lag_ms": DAY_MS}
    assert instances.get_instance(session, iid).status == "completed"
    assert timers.fire_due(session, owner="w1") == [], "nothing is left to fire"


def test_sync_leaves_the_firing_timer_row_to_the_fire(session, deploy, fixed_clock):
    """settle_fired_timer takes the row out of the snapshot: the save writes nothing to it (one write)."""
    deploy("tmr_duration.bpmn")
    iid = start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    [timer_id] = timers.claim(session, "w1")
    loaded = runtime.open_instance(session, iid, "timer")
    task = runtime.find_task(loaded.workflow, timer_id)
    task._set_internal_data(event_fired=True)
    runtime.advance(session, loaded)
    due = row_of(session, iid).due_at
    assert projections.settle_fired_timer(loaded, timer_id, due) == ("fired", due)
    assert timer_id not in loaded.waiting_before["timers"]
    runtime.save(session, loaded)
    row = row_of(session, iid)
    assert (row.status, row.lease_owner, row.fired_at) == ("leased", "w1", None), "left to the fire"
    session.rollback()


def test_a_cycle_occurrence_records_its_fire_and_waits_for_the_next_one(session, deploy, fixed_clock):
    deploy("tmr_cycle.bpmn")
    iid = start(session, "tmr_cycle", cycle="R3/2027-03-02T09:00:00+08:00/P1Y")
    first = row_of(session, iid).due_at
    fixed_clock.set(first + dt.timedelta(seconds=2))
    [result] = timers.fire_due(session, owner="w1")
    commit(session)
    assert (result.outcome, result.lag_ms) == ("fired", 2000)
    row = row_of(session, iid)
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("waiting", None, None)
    assert row.due_at == first.replace(year=2028), "the next occurrence"
    assert (row.fired_at, row.lag_ms) == (fixed_clock.now(), 2000)
    assert len(fired_events(session, row.id)) == 1
    assert timers.fire_due(session, owner="w1") == [], "the next occurrence is not due yet"


def test_a_timer_re_leased_while_its_first_owner_waited_for_the_instance_is_not_fired_by_it(
        session, factory, deploy, fixed_clock):
    deploy("tmr_duration.bpmn")
    iid = start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    with db.unit_of_work(factory) as s:
        [timer_id] = timers.claim(s, "slow")
    results: list[timers.FireResult] = []

    def slow_owner() -> None:
        with db.unit_of_work(factory) as s:
            results.append(timers.fire(s, timer_id, "slow", instance_id=iid))

    with db.write_intent(), factory() as other:  # holds the instance while the lease moves to "fast"
        runtime.lock(other, iid)
        other.execute(update(Timer).where(Timer.id == timer_id).values(lease_owner="fast"))
        thread = threading.Thread(target=slow_owner)
        thread.start()
        time.sleep(0.3)
        other.commit()
    thread.join(30)
    assert [r.outcome for r in results] == ["lost"]
    row = row_of(session, iid)
    assert (row.status, row.lease_owner, row.fired_at) == ("leased", "fast", None)
    assert fired_events(session, timer_id) == []
    assert instances.get_instance(session, iid).status == "running"
    with db.unit_of_work(factory) as s:
        assert timers.fire(s, timer_id, "fast", instance_id=iid).outcome == "fired"
    session.rollback()  # a fresh snapshot (on SQLite the read transaction keeps its own)
    assert row_of(session, iid).status == "fired"
    assert len(fired_events(session, timer_id)) == 1


def test_a_forced_timer_whose_task_does_not_fire_is_a_failure_not_a_fire(session, deploy, fixed_clock,
                                                                          monkeypatch):
    deploy("tmr_duration.bpmn")
    iid = start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    monkeypatch.setattr(runtime, "advance", lambda *_a, **_k: None)  # the engine never runs the timer
    [result] = timers.fire_due(session, owner="w1")
    commit(session)
    assert result.outcome == "failed" and "did not fire" in result.error
    row = row_of(session, iid)
    assert (row.status, row.lease_owner, row.fired_at, row.lag_ms) == ("leased", "retry", None, None)
    assert fired_events(session, row.id) == []
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == iid)).all()
    assert (incident.kind, incident.task_id, incident.status) == ("timer", row.id, "open")
    assert instances.get_instance(session, iid).status == "running"


def test_a_database_error_in_one_fire_is_rolled_back_to_its_savepoint_and_the_next_fire_goes_on(
        session, factory, deploy, fixed_clock, monkeypatch):
    deploy("tmr_duration.bpmn")
    first, second = start(session, "tmr_duration"), start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    real_save = runtime.save

    def save(s, loaded):
        real_save(s, loaded)
        if loaded.row.id == first:  # after the save's writes: the statement fails, the transaction aborts
            s.execute(text("SELECT no_such_column FROM timer"))

    monkeypatch.setattr(runtime, "save", save)
    stats = timers.Sweeper(factory, owner="w1", chunk=10).run_once()
    assert (stats.claimed, stats.fired, stats.failed) == (2, 1, 1)
    session.expire_all()
    assert instances.get_instance(session, first).status == "running", "its save was rolled back"
    assert instances.get_instance(session, second).status == "completed"
    assert (row_of(session, first).status, row_of(session, first).lease_owner) == ("leased", "retry")
    assert row_of(session, second).status == "fired"
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == first)).all()
    assert incident.error_type in ("ProgrammingError", "OperationalError")  # PostgreSQL, SQLite


def test_a_fire_the_database_undid_for_a_concurrent_unit_goes_back_to_waiting_not_to_an_incident(
        session, factory, deploy, fixed_clock, monkeypatch):
    """A deadlock or serialization failure (PostgreSQL 40P01 / 40001) is a lost race, not a failure: the
    timer is waiting again, due as it was, no incident is opened, and the next sweep fires it."""
    deploy("tmr_duration.bpmn")
    first, second = start(session, "tmr_duration"), start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    due_before = row_of(session, first).due_at
    session.rollback()  # end this read: the checks below must see what the sweeps committed
    real_save = runtime.save

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    def save(s, loaded):
        if loaded.row.id == first:
            raise DeadlockDetected("deadlock detected")
        real_save(s, loaded)

    monkeypatch.setattr(runtime, "save", save)
    stats = timers.Sweeper(factory, owner="w1", chunk=10).run_once()
    assert (stats.claimed, stats.fired, stats.skipped, stats.failed) == (2, 1, 1, 0)
    session.rollback()
    assert row_of(session, second).status == "fired"
    row = row_of(session, first)
    assert (row.status, row.lease_owner, row.due_at) == ("waiting", None, due_before)
    assert not session.scalars(select(Incident).where(Incident.instance_id == first)).all()
    session.rollback()
    monkeypatch.setattr(runtime, "save", real_save)
    assert timers.Sweeper(factory, owner="w2").run_once().fired == 1
    session.rollback()
    assert instances.get_instance(session, first).status == "completed"
