"""Save/restore at every wait state: reloading from the DB (new session, no spec cache) changes nothing."""

from __future__ import annotations

import datetime as dt

from conftest import CommitGuard, bundle, commit
from SpiffWorkflow.util.task import TaskState

from engine import definitions, instances, serialization, tasks, timers
from engine.db import Base
from engine.messages import correlate_message


def _snapshot(session, instance_id: int) -> dict:
    """What the stored state says: task states by name, data, inbox and projection snapshot."""
    row = instances.get_instance(session, instance_id)
    spec = definitions.load(session, row.definition_id)
    wf = serialization.load_state(row.state, spec.spec, spec.subprocess_specs, row.serializer_version)
    # A faithful round trip: serializing the restored workflow gives back the stored state exactly.
    assert serialization.dump_state(wf) == row.state
    states = sorted((t.task_spec.bpmn_id, TaskState.get_name(t.state)) for t in wf.get_tasks()
                    if t.task_spec.bpmn_id and t.state in (TaskState.READY, TaskState.WAITING,
                                                           TaskState.COMPLETED))
    inbox = sorted((t.task_name, t.lane, t.due_at) for t in tasks.list_tasks(session, limit=500)
                   if t.instance_id == instance_id)
    pending = sorted((t.task_name, t.due_at, t.status)
                     for t in timers.list_timers(session, instance_id=instance_id))
    last = wf.last_task.data if wf.last_task else {}
    return {"status": row.status, "states": states, "inbox": inbox, "timers": pending,
            "data": wf.data if wf.is_completed() else last}


def _scenario(session, clock, checkpoint, escalate: bool) -> list[dict]:
    """Drive eng_waits through user task, message, timer and boundary timer; checkpoint at every wait."""
    seen = []
    inst = instances.start_instance(session, "eng_waits", {"applicant": "Li"}, "alice", business_key="W-1")
    commit(session)
    session = checkpoint(session)
    seen.append(_snapshot(session, inst.id))  # 1. waiting on the user task

    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    tasks.complete_task(session, fill.id, {"note": "complete"}, "carl")
    commit(session)
    session = checkpoint(session)
    seen.append(_snapshot(session, inst.id))  # 2. waiting on the message

    correlate_message(session, "eng_docs", {"pages": 4}, business_key="W-1")
    commit(session)
    session = checkpoint(session)
    seen.append(_snapshot(session, inst.id))  # 3. waiting on the timer

    clock.advance(dt.timedelta(days=1))
    assert [r.outcome for r in timers.fire_due(session)] == ["fired"]
    commit(session)
    session = checkpoint(session)
    seen.append(_snapshot(session, inst.id))  # 4. user task with a waiting boundary timer

    if escalate:
        clock.advance(dt.timedelta(days=2))
        assert [r.outcome for r in timers.fire_due(session)] == ["fired"]
    else:
        [approve] = tasks.list_tasks(session, lanes=["supervisor"])
        tasks.complete_task(session, approve.id, {"approved": True}, "sue")
    commit(session)
    session = checkpoint(session)
    seen.append(_snapshot(session, inst.id))  # 5. finished
    session.close()
    return seen


def _run(factory, clock, reload: bool, escalate: bool) -> list[dict]:
    def checkpoint(session):
        if not reload:
            return session
        session.close()
        definitions.clear_cache()
        fresh = factory()
        fresh.info["guard"] = CommitGuard(fresh)
        return fresh

    session = factory()
    session.info["guard"] = CommitGuard(session)
    definitions.deploy(session, bundle("eng_waits.bpmn"), "owner")
    commit(session)
    return _scenario(session, clock, checkpoint, escalate)


def _reset(factory):
    """Empty every table the scenario wrote, so the second run starts from the same place."""
    with factory() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
        s.info["guard"] = CommitGuard(s)
        commit(s)
    definitions.clear_cache()


def test_reload_at_every_wait_state_continues_identically(factory, fixed_clock):
    """User task, message catch, timer and boundary timer: reloading at each gives the same run."""
    start = fixed_clock.now()
    reloaded = _run(factory, fixed_clock, reload=True, escalate=False)
    _reset(factory)
    fixed_clock.set(start)
    straight = _run(factory, fixed_clock, reload=False, escalate=False)
    assert reloaded == straight
    waits = [[(name, state) for name, state in snap["states"] if state in ("READY", "WAITING")]
             for snap in reloaded]
    assert ("Task_fill", "READY") in waits[0]
    assert ("Event_wait_docs", "WAITING") in waits[1]
    assert ("Event_cooldown", "WAITING") in waits[2]
    assert {("Task_approve", "READY"), ("Boundary_approve_overdue", "WAITING")} <= set(waits[3])
    assert reloaded[3]["inbox"] == [("Task_approve", "supervisor", start + dt.timedelta(days=3))]
    final = reloaded[4]
    assert final["status"] == "completed" and final["inbox"] == [] and final["timers"] == []
    data = final["data"]
    assert (data["applicant"], data["note"], data["docs"]) == ("Li", "complete", {"pages": 4})
    assert data["approved"] is True


def test_reload_before_a_boundary_timer_fires_continues_identically(factory, fixed_clock):
    """The boundary timer survives a reload with its due time and fires the escalation path."""
    start = fixed_clock.now()
    reloaded = _run(factory, fixed_clock, reload=True, escalate=True)
    _reset(factory)
    fixed_clock.set(start)
    straight = _run(factory, fixed_clock, reload=False, escalate=True)
    assert reloaded == straight
    assert reloaded[4]["status"] == "completed"
    assert reloaded[4]["data"]["escalated"] is True and "approved" not in reloaded[4]["data"]
