"""Service-task handlers: the registry, the context they receive and the task spec that calls them."""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState

from . import clock
from .errors import BpmnError, HandlerNotRegistered


@dataclass(frozen=True)
class HandlerInfo:
    """A registered operator: the function and what the modeler shows about it."""

    operator: str
    func: Callable[..., dict]
    description: str = ""
    params: tuple[str, ...] = ()


_REGISTRY: dict[str, HandlerInfo] = {}


def handler(operator: str, description: str = "", params: tuple[str, ...] = ()):
    """Register `func(ctx, **params) -> dict` as the handler for service-task `operator`."""

    def register(func: Callable[..., dict]) -> Callable[..., dict]:
        _REGISTRY[operator] = HandlerInfo(operator, func, description or (func.__doc__ or "").strip(), params)
        return func

    return register


def registered() -> dict[str, HandlerInfo]:
    """Every registered operator, by name."""
    return dict(_REGISTRY)


def lookup(operator: str) -> HandlerInfo:
    """The handler for `operator`, or HandlerNotRegistered naming what is available."""
    try:
        return _REGISTRY[operator]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise HandlerNotRegistered(
            f"No handler is registered for service operator '{operator}'. Registered: {known}.",
            operator=operator) from None


def unregister(operator: str) -> None:
    """Remove an operator (tests)."""
    _REGISTRY.pop(operator, None)


@dataclass
class HandlerContext:
    """What a handler may use: the session of the unit of work, the instance and the task."""

    session: Any
    instance_id: int | None
    business_key: str | None
    task_id: str
    task_name: str
    data: dict
    actor: str
    extra: dict = field(default_factory=dict)

    @property
    def now(self) -> dt.datetime:
        return clock.now()


#: Set by the unit of work while Spiff runs, so the service task can reach the session and instance.
current_run: contextvars.ContextVar[dict | None] = contextvars.ContextVar("current_run", default=None)


def _json_default(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"handler result holds a {type(value).__name__}, which is not JSON-safe")


def call_handler(task, operation_name: str, operation_params: dict) -> str:
    """Run the registered handler for a service task and return its result as JSON text."""
    info = lookup(operation_name)
    run = current_run.get() or {}
    ctx = HandlerContext(
        session=run.get("session"), instance_id=run.get("instance_id"), business_key=run.get("business_key"),
        task_id=str(task.id), task_name=task.task_spec.bpmn_id, data=task.data,
        actor=run.get("actor", "system"),
    )
    params = {name: p["value"] for name, p in operation_params.items()}
    session = ctx.session
    savepoint = session.begin_nested() if session is not None else None
    try:
        result = info.func(ctx, **params)
    except BaseException:
        if savepoint is not None and savepoint.is_active:
            savepoint.rollback()
        raise
    if savepoint is not None and savepoint.is_active:
        savepoint.commit()
    if result is None:
        result = {}
    if not isinstance(result, dict):
        raise TypeError(f"handler '{operation_name}' returned {type(result).__name__}; it must return a dict")
    return json.dumps(result, default=_json_default)


class EngineServiceTask(ServiceTask):
    """A service task whose handler may raise BpmnError to take an error boundary event."""

    def _execute(self, task):
        try:
            return super()._execute(task)
        except BpmnError as err:
            definition = ErrorEventDefinition(err.code, code=err.code)
            payload = {"error_code": err.code, "error_message": err.message, **(err.data or {})}
            task.data.update(payload)
            event = BpmnEvent(definition, payload=payload, target=task.workflow)
            if not _has_catcher(task, definition):
                raise
            task.workflow.top_workflow.catch(event)
            _hand_payload_to_catchers(task, payload)
            # Leave the task STARTED: the boundary event, now READY, cancels it when the engine steps on.
            return None


def _hand_payload_to_catchers(task, payload: dict) -> None:
    """Put the error's data on the boundary path: Spiff drops it unless the error names a variableName."""
    for catcher in task.workflow.top_workflow.get_tasks(state=TaskState.READY):
        spec_def = getattr(catcher.task_spec, "event_definition", None)
        if isinstance(spec_def, ErrorEventDefinition) and spec_def.variable is None \
                and spec_def.name in catcher.internal_data:
            catcher.data.update(payload)


def _has_catcher(task, definition) -> bool:
    """True when an error boundary on this task (or an enclosing subprocess) catches `definition`."""
    workflow = task.workflow.top_workflow
    for waiting in workflow.get_tasks(state=TaskState.WAITING):
        spec_def = getattr(waiting.task_spec, "event_definition", None)
        if isinstance(spec_def, ErrorEventDefinition) and spec_def.code in (None, definition.code):
            return True
    return False
