"""Deliver a message from outside to the waiting instance it correlates with (one unit of work)."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from . import audit, live, runtime
from .errors import InstanceConflict, MessageNotCorrelated
from .models import MessageSubscription, ProcessInstance


def correlate_message(session: Session, message_name: str, payload: dict[str, Any] | None = None,
                      business_key: str | None = None, correlation: str | None = None,
                      actor: str = "system") -> ProcessInstance:
    """Send `message_name` to the one instance waiting for it with this business key or correlation value."""
    if business_key is None and correlation is None:
        raise MessageNotCorrelated("A message needs a business key or a correlation value to find its "
                                   "instance.", message=message_name)
    query = select(MessageSubscription).where(MessageSubscription.message_name == message_name)
    conditions = []
    if business_key is not None:
        conditions.append(MessageSubscription.business_key == business_key)
    if correlation is not None:
        conditions.append(MessageSubscription.correlation_value == str(correlation))
    subs = list(session.scalars(query.where(or_(*conditions)).order_by(MessageSubscription.created_at)))
    instance_ids = sorted({s.instance_id for s in subs})
    if not subs:
        key = business_key if business_key is not None else correlation
        raise MessageNotCorrelated(f"No instance is waiting for message '{message_name}' with key '{key}'.",
                                   message=message_name, business_key=business_key, correlation=correlation)
    if len(instance_ids) > 1:
        raise InstanceConflict(f"Message '{message_name}' matches {len(instance_ids)} instances "
                               f"({instance_ids}); give a more specific correlation.", message=message_name)
    sub = subs[0]
    loaded = runtime.open_instance(session, sub.instance_id, actor)
    task = runtime.find_task(loaded.workflow, sub.id)
    if task is None:
        raise InstanceConflict(f"Instance {sub.instance_id} stopped waiting for '{message_name}'; retry.",
                               instance_id=sub.instance_id)
    ed = task.task_spec.event_definition
    # Copied away from the caller: the catch may keep the payload in task internal data, which a kept
    # workflow holds on to as it is (live.as_loaded rebuilds task data only).
    data = live.detached(payload or {})
    try:
        loaded.workflow.send_event(BpmnEvent(ed, data, _correlations(loaded.workflow, ed, data, correlation)))
    except WorkflowException:
        raise MessageNotCorrelated(f"Instance {sub.instance_id} waits for '{message_name}', but the "
                                   "payload's correlation values do not match its own; check the payload.",
                                   message=message_name, instance_id=sub.instance_id) from None
    audit.record(session, actor, "message", loaded.row.id, sub.id, sub.task_name,
                 {"message": message_name, "payload": data})
    runtime.advance(session, loaded)
    runtime.save(session, loaded)
    return loaded.row


def _correlations(workflow, ed, payload: dict, correlation: str | None) -> dict:
    """The event's correlations; a payload that omits a plain correlation variable gets the routed value."""
    props = getattr(ed, "correlation_properties", None) or []
    engine = workflow.script_engine
    for prop in props:
        expression = (prop.retrieval_expression or "").strip()
        try:
            engine.environment.evaluate(expression, dict(payload))
            continue
        except (NameError, KeyError, TypeError, AttributeError):
            pass
        # The subscription lookup already chose this instance, so the payload need not repeat its key;
        # Spiff evaluates the retrieval expression on the payload again when it catches the event.
        known = [workflow.correlations.get(key, {}).get(prop.name) for key in prop.correlation_keys]
        value = next((v for v in known if v is not None), correlation)
        if not expression.isidentifier() or value is None:
            raise MessageNotCorrelated(f"The payload of '{ed.name}' lacks the correlation property "
                                       f"'{prop.name}' ({expression}); add it to the payload.",
                                       message=ed.name, property=prop.name)
        payload[expression] = value
    return ed.calculate_correlations(engine, props, payload) if props else {}
