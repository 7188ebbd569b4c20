"""The sweeper and its scheduler: leased claims, exactly-once fires, take-over, wake-ups at the due time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

from conftest import commit
from sqlalchemy import select

from engine import db, instances, scheduler, timers
from engine.models import AuditEvent, Timer


def start_many(session, n: int, process_id: str = "tmr_duration", **data) -> list[int]:
    ids = [instances.start_instance(session, process_id, data, "alice").id for _ in range(n)]
    commit(session)
    return ids


def fire_counts(session) -> Counter:
    return Counter(session.scalars(select(AuditEvent.task_id).where(AuditEvent.action == "timer_fired")))


def test_sweeper_fires_due_timers_in_batches_and_records_lag(session, factory, deploy, fixed_clock):
    deploy("tmr_duration.bpmn")
    ids = start_many(session, 7)
    fixed_clock.advance(dt.timedelta(days=31))
    stats = timers.Sweeper(factory, owner="w1", batch=3, chunk=2).run()
    assert (stats.claimed, stats.fired, stats.failed) == (7, 7, 0)
    assert stats.lags_ms == [24 * 3600 * 1000] * 7, "lag = fired_at - due_at (the clock is one day late)"
    session.expire_all()
    assert {instances.get_instance(session, i).status for i in ids} == {"completed"}
    assert set(fire_counts(session).values()) == {1}
    assert timers.Sweeper(factory, owner="w1").run().claimed == 0


def test_two_sweepers_racing_fire_each_timer_once(session, factory, deploy, fixed_clock):
    deploy("tmr_duration.bpmn")
    start_many(session, 40)
    fixed_clock.advance(dt.timedelta(days=31))
    sweepers = [timers.Sweeper(factory, owner=f"w{i}", batch=5, chunk=1) for i in range(2)]
    results: list[timers.SweepStats] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.run())) for s in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.fired for r in results) == 40
    counts = fire_counts(session)
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_an_expired_lease_is_taken_over_and_the_late_owner_loses(session, factory, deploy, fixed_clock,
                                                                 monkeypatch):
    deploy("tmr_duration.bpmn")
    start_many(session, 3)
    fixed_clock.advance(dt.timedelta(days=31))
    with db.unit_of_work(factory) as s:
        claimed = timers.claim(s, "crashed", limit=10, lease_seconds=60)
    assert len(claimed) == 3
    assert timers.Sweeper(factory, owner="w2").run_once().claimed == 0, "a live lease is respected"
    later = timers.wall_now() + dt.timedelta(seconds=61)
    monkeypatch.setattr(timers, "wall_now", lambda: later)
    stats = timers.Sweeper(factory, owner="w2").run_once()
    assert (stats.claimed, stats.fired) == (3, 3)
    with db.unit_of_work(factory) as s:
        assert [timers.fire(s, tid, "crashed").outcome for tid in claimed] == ["lost"] * 3
    assert set(fire_counts(session).values()) == {1}
    rows = session.scalars(select(Timer)).all()
    assert {(r.status, r.attempts) for r in rows} == {("fired", 2)}


def test_the_scheduler_wakes_at_the_next_due_time_with_two_jobs_only(session, factory, deploy):
    """Wall clock: the date job fires a timer within a fraction of a second, not at the next poll."""
    deploy("tmr_date.bpmn")
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
    [inst_id] = start_many(session, 1, "tmr_date", due_date=due.isoformat())
    worker = scheduler.TimerScheduler(factory, owner="embedded", poll_seconds=60).start()
    try:
        deadline = time.monotonic() + 10
        while worker.armed_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.armed_at == due
        assert sorted(worker.jobs()) == [scheduler.NEXT_DUE_JOB, scheduler.POLL_JOB]
        while worker.totals.fired < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.shutdown()
    assert worker.totals.fired == 1
    session.expire_all()
    assert instances.get_instance(session, inst_id).status == "completed"
    [row] = timers.list_timers(session, status=None, instance_id=inst_id)
    assert row.fired_at >= due and row.lag_ms < 1500


def test_the_scheduler_arms_nothing_on_the_simulated_clock(factory, fixed_clock):
    worker = scheduler.TimerScheduler(factory, poll_seconds=60)
    worker.arm(fixed_clock.now() + dt.timedelta(days=1))
    assert worker.armed_at is None and worker.jobs() == []


def test_the_worker_loop_runs_until_told_to_stop(factory):
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    worker = scheduler.run_worker(factory, stop=stop, handle_signals=False, poll_seconds=0.1)
    assert 0.4 < time.monotonic() - started < 5
    assert worker.ticks >= 1 and not worker.scheduler.running


def test_the_sweeper_retries_service_incidents_after_their_backoff(session, factory, deploy, fixed_clock,
                                                                   monkeypatch):
    from engine import clock, roles
    from engine.models import Incident

    deploy("tmr_boundary.bpmn")
    [inst_id] = start_many(session, 1, "tmr_boundary", reported_at="2027-03-01T09:00:00+08:00")
    monkeypatch.setattr(roles, "is_role", lambda name: False)
    clock.next(session)  # the SLA timer fires, its escalation fails: an incident with a retry time
    commit(session)
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == inst_id)).all()
    assert incident.status == "open" and incident.next_retry_at is not None
    monkeypatch.undo()
    assert timers.Sweeper(factory, owner="w").run_once().retried_incidents == 0, "not before its backoff"
    fixed_clock.advance(dt.timedelta(minutes=5))
    assert timers.Sweeper(factory, owner="w").run_once().retried_incidents == 1
    session.rollback()  # end the test's own read snapshot (SQLite WAL) before looking again
    session.refresh(incident)
    assert incident.status == "resolved"


def test_busy_timers_are_swept_together_not_one_wake_up_each(factory):
    """After a sweep, the next-due wake-up is never sooner than MIN_SWEEP_GAP_SECONDS: timers falling due
    every few milliseconds are fired together, one sweep per gap (the poll still runs)."""
    worker = scheduler.TimerScheduler(factory, poll_seconds=60, min_gap_seconds=0.5)
    worker.scheduler.start(paused=True)
    try:
        now = dt.datetime.now(dt.UTC)
        worker.last_sweep_at = now
        worker.arm(now + dt.timedelta(milliseconds=20))
        run_at = worker.scheduler.get_job(scheduler.NEXT_DUE_JOB).next_run_time
        assert run_at >= now + dt.timedelta(seconds=0.5)
        worker.last_sweep_at = now - dt.timedelta(seconds=5)  # idle for a while: wake at the due time
        worker.arm(now + dt.timedelta(seconds=1))
        run_at = worker.scheduler.get_job(scheduler.NEXT_DUE_JOB).next_run_time
        assert run_at == now + dt.timedelta(seconds=1)
    finally:
        worker.shutdown(wait=False)


def test_a_busy_sweeper_looks_for_incidents_once_a_second(factory, monkeypatch):
    """Incident retries are looked for on the first sweep and then at most once per INCIDENT_CHECK_SECONDS."""
    looked = []
    monkeypatch.setattr(timers, "retry_due_incidents", lambda session, *a, **k: looked.append(1) or 0)
    sweeper = timers.Sweeper(factory, owner="w")
    for _ in range(5):
        sweeper.run_once()
    assert len(looked) == 1
    sweeper._next_incident_check = time.monotonic() - 0.001  # a second later
    sweeper.run_once()
    assert len(looked) == 2


def test_a_chunk_fires_in_instance_order_so_two_workers_never_lock_in_a_cycle(factory, monkeypatch):
    """Timers claimed in due order are fired chunk by chunk in instance order (due order within an instance):
    every worker takes the instance locks of a chunk in the same order, so no two chunks deadlock."""
    claimed = [("t1", 9), ("t2", 3), ("t3", 9), ("t4", 1), ("t5", 3)]  # (timer, instance) by due time
    fired: list[list[str]] = []
    monkeypatch.setattr(timers, "claim_rows", lambda *_a, **_k: list(claimed))

    def record(_session, timer_id, _owner, instance_id):
        fired[-1].append(timer_id)
        return timers.FireResult(timer_id, "skipped")

    monkeypatch.setattr(timers, "fire", record)
    sweeper = timers.Sweeper(factory, owner="w1", batch=10, chunk=3)
    original = db.unit_of_work

    def chunk_of_work(*args, **kwargs):
        fired.append([])
        return original(*args, **kwargs)

    monkeypatch.setattr(timers.db, "unit_of_work", chunk_of_work)
    sweeper.run_once()
    chunks = [c for c in fired if c]
    assert chunks == [["t2", "t1", "t3"], ["t4", "t5"]]
