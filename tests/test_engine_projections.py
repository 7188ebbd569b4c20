"""Projections: human_task rows mirror READY tasks, timer rows mirror waiting timers with the right due_at."""

from __future__ import annotations

import datetime as dt

from conftest import commit
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import instances, runtime, tasks, timers
from engine.messages import correlate_message
from engine.models import HumanTask, MessageSubscription, Timer


def _workflow(session, instance_id: int):
    """The instance's workflow rebuilt from its stored state (read only)."""
    loaded = runtime.open_instance(session, instance_id, "probe", require_active=False)
    session.rollback()
    return loaded.workflow


def _assert_inbox_matches_ready_tasks(session, instance_id: int) -> set[str]:
    """Open human_task rows == READY manual tasks of the stored workflow (ids, names, lanes)."""
    wf = _workflow(session, instance_id)
    ready = {str(t.id): (t.task_spec.bpmn_id, t.task_spec.lane)
             for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    rows = {r.id: (r.task_name, r.lane) for r in session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open"))}
    assert rows == ready
    return {name for name, _ in rows.values()}


def _timers(session, instance_id: int) -> dict[str, Timer]:
    query = select(Timer).where(Timer.instance_id == instance_id).execution_options(populate_existing=True)
    return {t.task_name: t for t in session.scalars(query)}


def test_human_task_rows_match_ready_tasks_through_a_parallel_flow(session, deploy):
    deploy("eng_parallel.bpmn")
    inst = instances.start_instance(session, "eng_parallel", {}, "alice", business_key="PAR-1")
    commit(session)
    assert _assert_inbox_matches_ready_tasks(session, inst.id) == {"Task_check_a", "Task_check_b"}
    row = tasks.list_tasks(session, lanes=["reviewer"])[0]
    assert (row.form_ref, row.process_id, row.business_key, row.case_title, row.priority, row.due_at) == (
        "eng_note.schema.json", "eng_parallel", "PAR-1", "PAR-1", 50, None)

    for name in ("Task_check_a", "Task_check_b", "Task_final"):
        [row] = [t for t in tasks.list_tasks(session) if t.task_name == name]
        tasks.complete_task(session, row.id, {"approved": True} if name == "Task_final" else {}, "bob")
        commit(session)
        remaining = _assert_inbox_matches_ready_tasks(session, inst.id)
        assert name not in remaining
    closed = session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)).all()
    assert sorted((r.task_name, r.status) for r in closed) == [
        ("Task_check_a", "completed"), ("Task_check_b", "completed"), ("Task_final", "completed")]


def test_timer_rows_have_the_due_time_of_waiting_timers(session, deploy, fixed_clock):
    """An intermediate "P1D" timer is due one day after it is reached; it is marked fired when it fires."""
    deploy("eng_waits.bpmn")
    start = fixed_clock.now()
    inst = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-1")
    commit(session)
    assert _timers(session, inst.id) == {}
    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    fixed_clock.advance(dt.timedelta(hours=3))
    tasks.complete_task(session, fill.id, {}, "carl")
    commit(session)
    assert session.scalars(select(MessageSubscription.task_name)).all() == ["Event_wait_docs"]
    assert _timers(session, inst.id) == {}

    fixed_clock.advance(dt.timedelta(hours=1))
    correlate_message(session, "eng_docs", {"pages": 2}, business_key="W-1")
    commit(session)
    [cooldown] = _timers(session, inst.id).values()
    assert (cooldown.task_name, cooldown.kind, cooldown.status, cooldown.expression) == (
        "Event_cooldown", "duration", "waiting", '"P1D"')
    assert cooldown.due_at == start + dt.timedelta(hours=4, days=1)
    assert (cooldown.attached_to, cooldown.interrupting) == (None, True)
    assert timers.next_due(session) == cooldown.due_at

    fixed_clock.advance(dt.timedelta(hours=23, minutes=59))
    assert timers.fire_due(session) == []
    fixed_clock.advance(dt.timedelta(minutes=1))
    [result] = timers.fire_due(session)
    commit(session)
    assert (result.outcome, result.lag_ms) == ("fired", 0)
    assert _timers(session, inst.id)["Event_cooldown"].status == "fired"
    assert _assert_inbox_matches_ready_tasks(session, inst.id) == {"Task_approve"}


def test_boundary_timer_sets_the_task_due_date(session, deploy, fixed_clock):
    """A "P2D" boundary timer on a user task: a timer row attached to it, human_task.due_at = now + 2 days."""
    deploy("eng_waits.bpmn")
    inst = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-2")
    commit(session)
    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    tasks.complete_task(session, fill.id, {}, "carl")
    correlate_message(session, "eng_docs", {}, business_key="W-2")
    commit(session)
    fixed_clock.advance(dt.timedelta(days=1))
    timers.fire_due(session)
    commit(session)
    reached = fixed_clock.now()

    overdue = _timers(session, inst.id)["Boundary_approve_overdue"]
    assert (overdue.status, overdue.kind, overdue.attached_to, overdue.interrupting) == (
        "waiting", "duration", "Task_approve", True)
    assert overdue.due_at == reached + dt.timedelta(days=2)
    [approve] = tasks.list_tasks(session, lanes=["supervisor"])
    assert approve.due_at == reached + dt.timedelta(days=2)

    fixed_clock.advance(dt.timedelta(days=2, seconds=1))
    [result] = timers.fire_due(session)
    commit(session)
    assert result.outcome == "fired"
    session.refresh(approve)
    assert approve.status == "cancelled"
    assert _timers(session, inst.id)["Boundary_approve_overdue"].status == "fired"
    inst = instances.get_instance(session, inst.id)
    assert inst.status == "completed"
    assert instances.variables(session, inst.id)["escalated"] is True


def test_completing_the_task_cancels_its_boundary_timer(session, deploy, fixed_clock):
    deploy("eng_waits.bpmn")
    inst = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-3")
    commit(session)
    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    tasks.complete_task(session, fill.id, {}, "carl")
    correlate_message(session, "eng_docs", {}, business_key="W-3")
    fixed_clock.advance(dt.timedelta(days=1))
    timers.fire_due(session)
    commit(session)
    [approve] = tasks.list_tasks(session, lanes=["supervisor"])
    tasks.complete_task(session, approve.id, {"approved": True}, "sue")
    commit(session)
    assert _timers(session, inst.id)["Boundary_approve_overdue"].status == "cancelled"
    fixed_clock.advance(dt.timedelta(days=3))
    assert timers.fire_due(session) == []
    assert instances.get_instance(session, inst.id).status == "completed"
