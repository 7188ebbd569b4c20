"""Human tasks: form validation that saves nothing, claim/unclaim rules, cancel, and the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import commit
from sqlalchemy import func, select

from engine import audit, instances, tasks, timers
from engine.errors import FormInvalid, InstanceNotActive, MessageNotCorrelated, NotAllowed, TaskNotReady
from engine.messages import correlate_message
from engine.models import AuditEvent, MessageSubscription, Timer


def _start_review(session, key: str = "R-1"):
    inst = instances.start_instance(session, "eng_review", {"amount": 7}, "alice", business_key=key)
    commit(session)
    [task] = [t for t in tasks.list_tasks(session) if t.instance_id == inst.id]
    return inst, task


def _audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def test_form_rejection_lists_each_field_and_saves_nothing(session, deploy):
    """FormInvalid names every bad field; instance state, inbox row and audit trail are unchanged."""
    deploy("eng_review.bpmn")
    inst, task = _start_review(session)
    before = (inst.state, inst.version_id, inst.updated_at, _audit_count(session))

    with pytest.raises(FormInvalid) as caught:
        tasks.complete_task(session, task.id, {"comment": "x" * 30, "amount": -1, "extra": 1}, "bob")
    session.rollback()

    errors = {e.field: e.message for e in caught.value.errors}
    assert set(errors) == {"approved", "comment", "amount", "(form)"}
    assert errors["approved"] == "This field is required."
    assert "too long" in errors["comment"] and "minimum" in errors["amount"] and "extra" in errors["(form)"]
    assert caught.value.to_dict()["fields"]["approved"] == "This field is required."
    inst = instances.get_instance(session, inst.id)
    assert (inst.state, inst.version_id, inst.updated_at, _audit_count(session)) == before
    row = tasks.get_task(session, task.id)
    assert (row.status, row.completed_by, row.assignee) == ("open", None, None)

    tasks.complete_task(session, task.id, {"approved": True, "amount": 3}, "bob")
    commit(session)
    assert instances.get_instance(session, inst.id).status == "completed"


def test_wrong_type_is_reported_per_field(session, deploy):
    deploy("eng_review.bpmn")
    _, task = _start_review(session)
    with pytest.raises(FormInvalid) as caught:
        tasks.complete_task(session, task.id, {"approved": "yes"}, "bob")
    errors = [(e.field, e.message) for e in caught.value.errors]
    assert errors == [("approved", "'yes' is not of type 'boolean'")]


def test_completing_twice_is_refused(session, deploy):
    deploy("eng_review.bpmn")
    _, task = _start_review(session)
    tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)
    with pytest.raises(TaskNotReady, match="already completed by bob"):
        tasks.complete_task(session, task.id, {"approved": False}, "carol")


def test_claim_and_unclaim_rules(session, deploy):
    """Only the assignee completes or releases a claimed task; force (a supervisor) may release it."""
    deploy("eng_review.bpmn")
    inst, task = _start_review(session)

    assert tasks.claim_task(session, task.id, "bob").assignee == "bob"
    commit(session)
    assert tasks.claim_task(session, task.id, "bob").assignee == "bob"  # claiming again is harmless
    with pytest.raises(NotAllowed, match="already claimed by bob"):
        tasks.claim_task(session, task.id, "carol")
    with pytest.raises(NotAllowed, match="claimed by bob"):
        tasks.complete_task(session, task.id, {"approved": True}, "carol")
    with pytest.raises(NotAllowed, match="only they can release"):
        tasks.unclaim_task(session, task.id, "carol")
    assert [t.id for t in tasks.list_tasks(session, assignee="bob")] == [task.id]

    assert tasks.unclaim_task(session, task.id, "carol", force=True).assignee is None
    commit(session)
    assert tasks.claim_task(session, task.id, "carol").assignee == "carol"
    assert tasks.claim_task(session, task.id, "supervisor-sue", assignee="dave").assignee == "dave"
    commit(session)
    done = tasks.complete_task(session, task.id, {"approved": True}, "dave")
    commit(session)
    assert (done.status, done.completed_by, done.assignee) == ("completed", "dave", "dave")
    with pytest.raises(TaskNotReady):
        tasks.claim_task(session, task.id, "bob")
    with pytest.raises(TaskNotReady):
        tasks.unclaim_task(session, task.id, "dave")

    trail = [(e.action, e.actor, e.data.get("assignee")) for e in audit.history(session, inst.id)
             if e.action in ("claim", "unclaim", "reassign")]
    assert trail == [("claim", "bob", "bob"), ("claim", "bob", "bob"), ("unclaim", "carol", None),
                     ("claim", "carol", "carol"), ("reassign", "supervisor-sue", "dave")]


def test_cancel_removes_tasks_and_cancels_timers(session, deploy, fixed_clock):
    """cancel_instance closes the inbox rows, cancels waiting timers and drops message subscriptions."""
    deploy("eng_waits.bpmn")
    inst = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-1")
    commit(session)
    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    tasks.complete_task(session, fill.id, {}, "carl")
    correlate_message(session, "eng_docs", {"pages": 3}, business_key="W-1")
    commit(session)
    assert [t.status for t in session.scalars(select(Timer))] == ["waiting"]

    fixed_clock.advance(dt.timedelta(days=1))
    timers.fire_due(session)
    commit(session)
    [approve] = tasks.list_tasks(session, lanes=["supervisor"])
    assert sorted(t.status for t in session.scalars(select(Timer))) == ["fired", "waiting"]

    instances.cancel_instance(session, inst.id, "sue", reason="withdrawn")
    commit(session)
    inst = instances.get_instance(session, inst.id)
    assert (inst.status, inst.ended_at) == ("cancelled", fixed_clock.now())
    assert tasks.list_tasks(session, lanes=["supervisor", "clerk"]) == []
    session.refresh(approve)  # projections write with Core statements; the ORM copy is refreshed by hand
    assert approve.status == "cancelled"
    assert sorted(t.status for t in session.scalars(select(Timer))) == ["cancelled", "fired"]
    assert session.scalars(select(MessageSubscription)).all() == []
    fixed_clock.advance(dt.timedelta(days=5))
    assert timers.fire_due(session) == []
    with pytest.raises(TaskNotReady):
        tasks.complete_task(session, approve.id, {"approved": True}, "sue")
    with pytest.raises(InstanceNotActive):
        instances.cancel_instance(session, inst.id, "sue")
    [event] = [e for e in audit.history(session, inst.id) if e.action == "cancel"]
    assert (event.actor, event.data) == ("sue", {"reason": "withdrawn"})


def test_cancel_while_waiting_for_a_message(session, deploy):
    deploy("eng_waits.bpmn")
    inst = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-2")
    commit(session)
    [fill] = tasks.list_tasks(session, lanes=["clerk"])
    tasks.complete_task(session, fill.id, {}, "carl")
    commit(session)
    instances.cancel_instance(session, inst.id, "sue")
    commit(session)
    with pytest.raises(MessageNotCorrelated, match="No instance is waiting"):
        correlate_message(session, "eng_docs", {}, business_key="W-2")


def test_audit_trail_records_who_did_what(session, deploy):
    """start, claim, complete and complete_instance rows carry actor, task and data changes."""
    deploy("eng_review.bpmn")
    inst, task = _start_review(session)
    tasks.claim_task(session, task.id, "bob")
    tasks.complete_task(session, task.id, {"approved": True, "comment": "ok"}, "bob")
    commit(session)
    events = audit.history(session, inst.id)
    assert [(e.action, e.actor) for e in events] == [
        ("start", "alice"), ("claim", "bob"), ("complete", "bob"), ("complete_instance", "bob")]
    start, claim, complete, _ = events
    assert start.data["data"] == {"amount": 7, "business_key": "R-1"} and start.data["version"] == 1
    assert (claim.task_id, claim.task_name) == (task.id, "Task_review")
    assert complete.data["changed"] == {"approved": True, "comment": "ok"}
    assert all(e.at is not None for e in events)
