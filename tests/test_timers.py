"""Timers under the simulated clock: they fire on their instant, once, in order, and never early."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import commit
from dateutil.relativedelta import relativedelta
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import audit, clock, instances, runtime, timers
from engine.models import AuditEvent, HumanTask, Incident, Timer

SHANGHAI = clock.LOCAL_TZ


def local(*args) -> dt.datetime:
    """An Asia/Shanghai wall-clock time as aware UTC."""
    return dt.datetime(*args, tzinfo=SHANGHAI).astimezone(dt.UTC)


def start(session, process_id: str, **data):
    inst = instances.start_instance(session, process_id, data, "alice")
    commit(session)
    return inst


def timer_of(session, instance_id: int, task_name: str) -> Timer:
    rows = [t for t in timers.list_timers(session, status=None, instance_id=instance_id)
            if t.task_name == task_name]
    assert len(rows) == 1, f"expected one timer row for {task_name}, got {len(rows)}"
    session.refresh(rows[0])
    return rows[0]


def fired_events(session, instance_id: int) -> list[AuditEvent]:
    return [e for e in audit.history(session, instance_id) if e.action == "timer_fired"]


def test_ten_year_timedate_fires_on_its_day_and_not_a_second_earlier(session, deploy, fixed_clock):
    deploy("tmr_date.bpmn")
    inst = start(session, "tmr_date", due_date="2037-03-01T00:00:00+08:00")
    due = local(2037, 3, 1)
    assert timer_of(session, inst.id, "Event_expiry").due_at == due

    assert clock.advance_to(session, due - dt.timedelta(seconds=1)) == []
    commit(session)
    assert instances.get_instance(session, inst.id).status == "running"
    assert timer_of(session, inst.id, "Event_expiry").status == "waiting"
    # A unit of work a second early (Spiff refreshes every timer) must not fire it either.
    loaded = runtime.open_instance(session, inst.id, "probe")
    runtime.advance(session, loaded)
    runtime.save(session, loaded)
    commit(session)
    assert instances.get_instance(session, inst.id).status == "running"

    fired = clock.advance_to(session, due)
    commit(session)
    assert [(f.task_name, f.outcome, f.fired_at, f.lag_ms) for f in fired] == [
        ("Event_expiry", "fired", due, 0)]
    assert instances.get_instance(session, inst.id).status == "completed"
    assert instances.variables(session, inst.id)["expired"] is True
    row = timer_of(session, inst.id, "Event_expiry")
    assert (row.status, row.fired_at, row.lag_ms) == ("fired", due, 0)


def test_duration_timer_is_counted_from_when_the_engine_reached_it(session, deploy, fixed_clock):
    deploy("tmr_duration.bpmn")
    started = fixed_clock.now()
    inst = start(session, "tmr_duration")
    due = started + dt.timedelta(days=30)
    assert timer_of(session, inst.id, "Event_cooldown").due_at == due
    assert clock.advance(session, dt.timedelta(days=29)) == []
    commit(session)
    assert instances.get_instance(session, inst.id).status == "running"
    fired = clock.advance(session, dt.timedelta(days=2))
    commit(session)
    assert [(f.outcome, f.due_at, f.fired_at) for f in fired] == [("fired", due, due)]
    assert instances.get_instance(session, inst.id).status == "completed"


def test_cycle_timer_keeps_its_calendar_day_across_a_leap_year(session, deploy, fixed_clock):
    """R/P1Y from 2027-03-01 gives 2028-03-01 (Spiff alone gives 2028-02-29: 365 days)."""
    fixed_clock.set(local(2027, 2, 1))
    deploy("tmr_cycle.bpmn")
    inst = start(session, "tmr_cycle", cycle="R3/2027-03-01T00:00:00+08:00/P1Y")
    dues = []
    for _ in range(5):
        fired = clock.next(session)
        commit(session)
        dues.extend(clock.to_local(f.due_at).date().isoformat() for f in fired if f.outcome == "fired")
        if not fired:
            break
    assert dues == ["2027-03-01", "2028-03-01", "2029-03-01"]
    loaded = runtime.open_instance(session, inst.id, "probe")
    assert instances.get_instance(session, inst.id).status == "running"
    [hold] = [t for t in loaded.workflow.get_tasks() if t.task_spec.bpmn_id == "Task_hold"]
    assert hold.state == TaskState.READY, "the cycle is non-interrupting: the task stays open"
    session.rollback()
    assert len(fired_events(session, inst.id)) == 3


def test_cycle_writes_the_calendar_occurrence_back_into_spiff(session, deploy, fixed_clock):
    fixed_clock.set(local(2027, 2, 1))
    deploy("tmr_cycle.bpmn")
    inst = start(session, "tmr_cycle", cycle="R/2027-03-01T00:00:00+08:00/P1Y")
    clock.next(session)
    commit(session)
    assert timer_of(session, inst.id, "Boundary_annual").due_at == local(2028, 3, 1)
    loaded = runtime.open_instance(session, inst.id, "probe")
    [boundary] = [t for t in loaded.workflow.get_tasks() if t.task_spec.bpmn_id == "Boundary_annual"
                  and t.state == TaskState.WAITING]
    assert boundary._get_internal_data("event_value")["next"] == "2028-03-01T00:00:00+08:00"
    session.rollback()


def test_interrupting_boundary_timer_cancels_its_task(session, deploy, fixed_clock):
    deploy("tmr_boundary.bpmn")
    inst = start(session, "tmr_boundary", reported_at="2027-03-01T09:00:00+08:00")
    [task] = session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)).all()
    assert task.status == "open"
    clock.advance(session, dt.timedelta(days=30))
    commit(session)
    session.refresh(task)
    assert task.status == "cancelled"
    assert instances.get_instance(session, inst.id).status == "completed"
    assert instances.variables(session, inst.id)["outcome"] == "timed_out"
    assert timer_of(session, inst.id, "Boundary_timeout").status == "fired"


def test_non_interrupting_boundary_escalates_and_leaves_the_task_open(session, deploy, fixed_clock):
    """DEC-DAYS: reported Saturday 2031-03-01, 7-day decision due Saturday 03-08, moved to Monday 03-10."""
    fixed_clock.set(local(2031, 3, 1, 10))
    deploy("tmr_boundary.bpmn")
    inst = start(session, "tmr_boundary", reported_at="2031-03-01T10:00:00+08:00")
    deadline = local(2031, 3, 11)  # the end (24:00) of Monday 2031-03-10
    [task] = session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)).all()
    assert task.due_at == deadline, "the boundary timer sets the task's due date in the inbox"
    assert (task.lane, task.status) == ("reviewer", "open")

    assert clock.advance_to(session, deadline - dt.timedelta(seconds=1)) == []
    commit(session)
    fired = clock.advance_to(session, deadline)
    commit(session)
    assert [f.task_name for f in fired] == ["Boundary_sla"]
    session.refresh(task)
    assert (task.status, task.lane, task.assignee) == ("open", "supervisor", None)
    assert instances.get_instance(session, inst.id).status == "running"
    escalations = [e for e in audit.history(session, inst.id) if e.action == "escalate"]
    assert [(e.task_name, e.data["to_role"], e.data["before"]["lane"]) for e in escalations] == [
        ("Task_review", "supervisor", "reviewer")]
    assert timer_of(session, inst.id, "Boundary_timeout").status == "waiting"


def test_event_based_gateway_fires_only_the_first_timer(session, deploy, fixed_clock):
    """Spiff shares one due time between a gateway's timers; ours keeps one per timer, earliest wins."""
    deploy("tmr_gateway.bpmn")
    started = fixed_clock.now()
    inst = start(session, "tmr_gateway")
    gateway = timer_of(session, inst.id, "Gateway_race")
    assert (gateway.kind, gateway.due_at) == ("gateway", started + dt.timedelta(days=1))
    fired = clock.advance(session, dt.timedelta(days=3))
    commit(session)
    assert [(f.task_name, f.outcome, f.due_at) for f in fired] == [
        ("Gateway_race", "fired", started + dt.timedelta(days=1))]
    assert instances.variables(session, inst.id)["path"] == "short"
    assert instances.get_instance(session, inst.id).status == "completed"
    assert timers.list_timers(session, instance_id=inst.id) == [], "nothing of the gateway still waits"


def test_event_based_gateway_waits_for_the_earliest_even_when_listed_second(session, deploy, fixed_clock):
    deploy("tmr_gateway.bpmn")
    started = fixed_clock.now()
    inst = start(session, "tmr_gateway")
    loaded = runtime.open_instance(session, inst.id, "probe")
    [gw] = [t for t in loaded.workflow.get_tasks() if t.task_spec.bpmn_id == "Gateway_race"]
    assert sorted(gw._get_internal_data("timer_dues").values()) == [
        (started + dt.timedelta(days=n)).isoformat() for n in (1, 2)]
    session.rollback()


def test_jumping_twelve_years_fires_everything_due_in_order_exactly_once(session, deploy, fixed_clock):
    deploy("tmr_decade.bpmn")
    handover = "2027-03-01T12:00:00+08:00"
    inst = start(session, "tmr_decade", handover=handover)
    fired = clock.advance(session, relativedelta(years=12))
    commit(session)
    assert all(f.outcome == "fired" for f in fired)
    dues = [f.due_at for f in fired]
    assert dues == sorted(dues), "timers fire in due order"
    assert len({(f.timer_id, f.due_at) for f in fired}) == len(fired), "no occurrence fires twice"
    names = [f.task_name for f in fired]
    assert names.count("Boundary_annual") == 10
    assert [n for n in names if n != "Boundary_annual"] == ["Event_2y", "Event_2y_review", "Event_6y",
                                                            "Boundary_10y"]
    h = dt.datetime.fromisoformat(handover)
    by_name = {f.task_name: f.due_at for f in fired}
    assert by_name["Event_2y"] == h + relativedelta(years=2)
    assert by_name["Event_2y_review"] == h + relativedelta(years=2, days=30)
    assert by_name["Boundary_10y"] == h + relativedelta(years=10)
    assert instances.get_instance(session, inst.id).status == "completed"
    assert len(fired_events(session, inst.id)) == 14
    assert clock.advance(session, relativedelta(years=1)) == []
    commit(session)
    assert len(fired_events(session, inst.id)) == 14


def test_simulated_clock_refuses_to_go_back(session, fixed_clock):
    with pytest.raises(clock.ClockMovedBackwards, match="cannot go back"):
        clock.advance_to(session, fixed_clock.now() - dt.timedelta(days=1))


def test_stale_timer_row_is_skipped_and_closed(session, deploy, fixed_clock):
    from engine import tasks

    deploy("tmr_boundary.bpmn")
    inst = start(session, "tmr_boundary", reported_at="2027-03-01T09:00:00+08:00")
    [task] = session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)).all()
    tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)
    stale = timer_of(session, inst.id, "Boundary_timeout")
    assert stale.status == "cancelled"
    stale.status, stale.due_at = "waiting", fixed_clock.now()  # a row that disagrees with the instance
    commit(session)
    results = timers.fire_due(session, owner="t")
    commit(session)
    assert [(r.timer_id, r.outcome) for r in results] == [(stale.id, "skipped")]
    assert timer_of(session, inst.id, "Boundary_timeout").status == "cancelled"


def test_a_failing_fire_becomes_an_incident_and_is_retried_after_its_backoff(session, deploy, fixed_clock,
                                                                             monkeypatch):
    deploy("tmr_duration.bpmn")
    inst = start(session, "tmr_duration")
    fixed_clock.advance(dt.timedelta(days=31))
    real_advance = runtime.advance

    def broken(*_a, **_k):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(runtime, "advance", broken)
    [result] = timers.fire_due(session, owner="t")
    commit(session)
    assert result.outcome == "failed" and "database hiccup" in result.error
    row = timer_of(session, inst.id, "Event_cooldown")
    assert (row.status, row.lease_owner) == ("leased", "retry")
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == inst.id)).all()
    assert (incident.kind, incident.status, incident.task_id) == ("timer", "open", row.id)
    session.expire_all()
    assert instances.get_instance(session, inst.id).has_incident is True

    monkeypatch.setattr(runtime, "advance", real_advance)
    assert timers.fire_due(session, owner="t") == [], "the retry waits for its backoff"
    later = timers.wall_now() + dt.timedelta(seconds=timers.RETRY_BASE_SECONDS + 1)
    monkeypatch.setattr(timers, "wall_now", lambda: later)
    [retried] = timers.fire_due(session, owner="t")
    commit(session)
    assert retried.outcome == "fired"
    session.refresh(incident)
    assert incident.status == "resolved"
    assert instances.get_instance(session, inst.id).status == "completed"


def test_escalation_to_an_unknown_role_is_an_incident(session, deploy, fixed_clock, monkeypatch):
    from engine import roles

    deploy("tmr_boundary.bpmn")
    inst = start(session, "tmr_boundary", reported_at="2027-03-01T09:00:00+08:00")
    monkeypatch.setattr(roles, "is_role", lambda name: False)
    clock.advance(session, dt.timedelta(days=10))
    commit(session)
    [incident] = session.scalars(select(Incident).where(Incident.instance_id == inst.id)).all()
    assert incident.task_name == "Service_escalate" and "not a known role" in incident.message
