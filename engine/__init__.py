"""idiflow's domain-free BPMN runtime on SpiffWorkflow and SQLAlchemy.

Boundaries: this package imports SpiffWorkflow, SQLAlchemy, lxml, RestrictedPython, jsonschema and the
standard library only; never Flask, never `handlers` or `web`. Every entry point takes a Session first,
does one unit of work and never commits: the caller (a request, a worker batch, a CLI command, a test)
commits once.
"""

from . import clock, timers, workdays  # timers registers engine.escalate, workdays the date helpers
from .definitions import deploy
from .errors import (
    BpmnError,
    DefinitionInvalid,
    EngineError,
    FormInvalid,
    InstanceConflict,
    InstanceNotFound,
    NotAllowed,
    TaskNotFound,
    TaskNotReady,
)
from .incidents import list_incidents, retry_incident
from .instances import cancel_instance, get_instance, list_instances, start_instance
from .messages import correlate_message
from .roles import register_roles
from .services import HandlerContext, handler
from .tasks import claim_task, complete_task, get_task, list_tasks, unclaim_task

__all__ = [
    "BpmnError", "DefinitionInvalid", "EngineError", "FormInvalid", "HandlerContext", "InstanceConflict",
    "InstanceNotFound", "NotAllowed", "TaskNotFound", "TaskNotReady", "cancel_instance", "claim_task", "clock",
    "complete_task", "correlate_message", "deploy", "get_instance", "get_task", "handler", "list_incidents",
    "list_instances", "list_tasks", "register_roles", "retry_incident", "start_instance", "unclaim_task",
    "timers", "workdays",
]
