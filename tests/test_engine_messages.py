"""Messages from outside: correlation by business key or correlation value, refusals that change nothing."""

from __future__ import annotations

import pytest
from conftest import commit
from sqlalchemy import func, select

from engine import audit, instances, tasks
from engine.errors import MessageNotCorrelated
from engine.messages import correlate_message
from engine.models import AuditEvent, MessageSubscription


def _start(session, claim_no: str, key: str):
    inst = instances.start_instance(session, "eng_message", {"claim_no": claim_no}, "alice", business_key=key)
    commit(session)
    return inst


def _subscriptions(session) -> dict[int, tuple]:
    return {s.instance_id: (s.message_name, s.correlation_value, s.business_key, s.task_name)
            for s in session.scalars(select(MessageSubscription))}


def _open_names(session, instance_id: int) -> list[str]:
    return [t.task_name for t in tasks.list_tasks(session) if t.instance_id == instance_id]


def test_waiting_catch_is_projected_as_a_subscription(session, deploy):
    deploy("eng_message.bpmn")
    first, second = _start(session, "CL-7", "K-7"), _start(session, "CL-8", "K-8")
    assert _subscriptions(session) == {
        first.id: ("eng_payment", "CL-7", "K-7", "Event_wait_payment"),
        second.id: ("eng_payment", "CL-8", "K-8", "Event_wait_payment")}
    assert _open_names(session, first.id) == []


def test_message_correlated_by_business_key(session, deploy):
    """The message reaches the instance with that business key only; its payload lands in the variable."""
    deploy("eng_message.bpmn")
    first, second = _start(session, "CL-7", "K-7"), _start(session, "CL-8", "K-8")
    hit = correlate_message(session, "eng_payment", {"amount": 50, "claim_no": "CL-8"}, business_key="K-8",
                            actor="bank")
    commit(session)
    assert hit.id == second.id
    assert _open_names(session, second.id) == ["Task_check_payment"]
    assert _open_names(session, first.id) == []
    assert instances.variables(session, second.id)["payment"] == {"amount": 50, "claim_no": "CL-8"}
    assert set(_subscriptions(session)) == {first.id}
    [event] = [e for e in audit.history(session, second.id) if e.action == "message"]
    assert (event.actor, event.task_name) == ("bank", "Event_wait_payment")
    assert event.data["message"] == "eng_payment"


def test_message_correlated_by_correlation_value(session, deploy):
    """A correlation value finds the instance even when the payload does not repeat the key."""
    deploy("eng_message.bpmn")
    first, second = _start(session, "CL-7", "K-7"), _start(session, "CL-8", "K-8")
    hit = correlate_message(session, "eng_payment", {"amount": 70}, correlation="CL-7")
    commit(session)
    assert hit.id == first.id
    assert _open_names(session, first.id) == ["Task_check_payment"]
    assert _open_names(session, second.id) == []
    assert instances.variables(session, first.id)["payment"]["amount"] == 70


def _audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize("how", [{"business_key": "K-404"}, {"correlation": "CL-404"}, {}])
def test_wrong_or_missing_key_is_not_correlated(session, deploy, how):
    deploy("eng_message.bpmn")
    inst = _start(session, "CL-7", "K-7")
    before = (inst.state, _audit_count(session))
    with pytest.raises(MessageNotCorrelated):
        correlate_message(session, "eng_payment", {"amount": 1}, **how)
    session.rollback()
    assert (instances.get_instance(session, inst.id).state, _audit_count(session)) == before
    assert set(_subscriptions(session)) == {inst.id}


def test_wrong_message_name_is_not_correlated(session, deploy):
    deploy("eng_message.bpmn")
    _start(session, "CL-7", "K-7")
    with pytest.raises(MessageNotCorrelated, match="eng_refund"):
        correlate_message(session, "eng_refund", {}, business_key="K-7")


def test_payload_with_a_conflicting_correlation_value_is_refused(session, deploy):
    """Routed by business key, but the payload names another claim: refused, the instance keeps waiting."""
    deploy("eng_message.bpmn")
    inst = _start(session, "CL-7", "K-7")
    with pytest.raises(MessageNotCorrelated, match="do not match"):
        correlate_message(session, "eng_payment", {"claim_no": "CL-999"}, business_key="K-7")
    session.rollback()
    assert set(_subscriptions(session)) == {inst.id}
    assert _open_names(session, inst.id) == []


def test_a_delivered_message_cannot_be_delivered_twice(session, deploy):
    deploy("eng_message.bpmn")
    _start(session, "CL-7", "K-7")
    correlate_message(session, "eng_payment", {}, business_key="K-7")
    commit(session)
    with pytest.raises(MessageNotCorrelated):
        correlate_message(session, "eng_payment", {}, business_key="K-7")
