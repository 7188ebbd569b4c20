"""Service tasks: handler results, BPMN errors to boundary events, incidents, retries with backoff."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import commit
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import BpmnError, audit, handler, incidents, instances, runtime, tasks
from engine.errors import InstanceConflict
from engine.models import Incident

#: What the eng.charge handler does next: "ok", "declined" (caught BpmnError), "other" (uncaught
#: BpmnError) or "boom" (RuntimeError, an incident).
CHARGE = {"mode": "ok", "calls": 0}


@handler("eng.charge")
def charge(ctx, amount):
    """Charge `amount`; behaviour is switched by CHARGE['mode']."""
    CHARGE["calls"] += 1
    if CHARGE["mode"] == "declined":
        raise BpmnError("DECLINED", "card declined", {"reason": "limit"})
    if CHARGE["mode"] == "other":
        raise BpmnError("NOT_MODELLED")
    if CHARGE["mode"] == "boom":
        raise RuntimeError("payment gateway unreachable")
    return {"charged": amount, "by": ctx.actor, "instance": ctx.instance_id}


@pytest.fixture(autouse=True)
def _charge_mode():
    CHARGE.update(mode="ok", calls=0)
    yield
    CHARGE.update(mode="ok", calls=0)


def _open_names(session, instance_id: int) -> set[str]:
    return {t.task_name for t in tasks.list_tasks(session, limit=500) if t.instance_id == instance_id}


def _task_state(session, instance_id: int, task_name: str):
    loaded = runtime.open_instance(session, instance_id, "probe", require_active=False)
    [task] = [t for t in loaded.workflow.get_tasks() if t.task_spec.bpmn_id == task_name]
    session.rollback()
    return task.state


def _start(session, mode: str):
    CHARGE["mode"] = mode
    inst = instances.start_instance(session, "eng_service", {"amount": 120}, "alice", business_key="S-1")
    commit(session)
    return inst


def test_handler_result_lands_in_the_result_variable(session, deploy):
    deploy("eng_service.bpmn")
    inst = _start(session, "ok")
    assert _open_names(session, inst.id) == {"Task_review_charge"}
    charged = instances.variables(session, inst.id)["charge"]
    assert charged == {"charged": 120, "by": "alice", "instance": inst.id}
    assert not inst.has_incident


def test_bpmn_error_takes_the_error_boundary(session, deploy):
    """A handler raising BpmnError('DECLINED') leaves by the boundary event; no incident is opened."""
    deploy("eng_service.bpmn")
    inst = _start(session, "declined")
    assert _open_names(session, inst.id) == {"Task_handle_declined"}
    assert not inst.has_incident and incidents.list_incidents(session) == []
    data = instances.variables(session, inst.id)
    assert (data["error_code"], data["error_message"]) == ("DECLINED", "card declined")
    assert data["reason"] == "limit"
    assert "charge" not in data


def test_handler_exception_opens_an_incident_and_the_task_waits(session, deploy, fixed_clock):
    """RuntimeError in a handler: the instance stays running with an open incident; nothing moves on."""
    deploy("eng_service.bpmn")
    inst = _start(session, "boom")
    assert (inst.status, inst.has_incident) == ("running", True)
    assert _open_names(session, inst.id) == set()
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    assert (incident.task_name, incident.error_type) == ("Service_charge", "RuntimeError")
    assert incident.status == "open"
    assert "payment gateway unreachable" in incident.message and "RuntimeError" in incident.traceback
    assert incident.attempts == 1
    assert incident.next_retry_at == fixed_clock.now() + dt.timedelta(seconds=runtime.RETRY_BASE_SECONDS)
    assert _task_state(session, inst.id, "Service_charge") == TaskState.ERROR
    assert "incident" in [e.action for e in audit.history(session, inst.id)]


def test_retry_after_the_handler_is_fixed_resolves_the_incident(session, deploy, fixed_clock):
    deploy("eng_service.bpmn")
    inst = _start(session, "boom")
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    CHARGE["mode"] = "ok"
    fixed_clock.advance(dt.timedelta(minutes=5))
    retried = incidents.retry_incident(session, incident.id, "operator")
    commit(session)
    assert (retried.status, retried.resolved_by, retried.next_retry_at) == ("resolved", "operator", None)
    assert retried.resolved_at == fixed_clock.now()
    inst = instances.get_instance(session, inst.id)
    assert (inst.status, inst.has_incident) == ("running", False)
    assert _open_names(session, inst.id) == {"Task_review_charge"}
    assert instances.variables(session, inst.id)["charge"]["charged"] == 120
    actions = [e.action for e in audit.history(session, inst.id)]
    assert actions == ["start", "incident", "retry"]
    assert incidents.list_incidents(session) == []


def test_uncaught_bpmn_error_becomes_an_incident(session, deploy):
    """A BPMN error code no boundary catches is an incident that names the code."""
    deploy("eng_service.bpmn")
    inst = _start(session, "other")
    assert inst.has_incident
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    assert "NOT_MODELLED" in incident.message and "no error boundary" in incident.message
    assert _open_names(session, inst.id) == set()


def test_failing_retry_counts_attempts_and_backs_off(session, deploy, fixed_clock):
    """Each failed retry adds an attempt and doubles the wait; at max_attempts no retry is planned."""
    deploy("eng_service.bpmn")
    inst = _start(session, "boom")
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    assert incident.max_attempts == runtime.DEFAULT_MAX_ATTEMPTS == 3
    base = runtime.RETRY_BASE_SECONDS

    fixed_clock.advance(dt.timedelta(seconds=base))
    assert incidents.due_for_retry(session) == [incident.id]
    again = incidents.retry_incident(session, incident.id, "worker")
    commit(session)
    assert (again.status, again.attempts) == ("open", 2)
    assert again.next_retry_at == fixed_clock.now() + dt.timedelta(seconds=2 * base)
    assert incidents.due_for_retry(session) == []
    assert session.scalars(select(Incident)).all() == [again]

    fixed_clock.advance(dt.timedelta(seconds=2 * base))
    third = incidents.retry_incident(session, incident.id, "worker")
    commit(session)
    assert (third.status, third.attempts, third.next_retry_at) == ("open", 3, None)
    assert instances.get_instance(session, inst.id).has_incident
    assert CHARGE["calls"] == 3
    history = [(e.action, e.data.get("attempt")) for e in audit.history(session, inst.id)
               if e.action in ("retry", "incident")]
    assert history == [("incident", None), ("retry", 2), ("incident", None), ("retry", 3), ("incident", None)]


def test_retry_of_a_resolved_incident_is_refused(session, deploy):
    deploy("eng_service.bpmn")
    inst = _start(session, "boom")
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    CHARGE["mode"] = "ok"
    incidents.retry_incident(session, incident.id, "operator")
    commit(session)
    with pytest.raises(InstanceConflict, match="already resolved"):
        incidents.retry_incident(session, incident.id, "operator")
