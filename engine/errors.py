"""The engine's error hierarchy: each error says what was wrong and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass, field


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""

    http_status = 400

    def __init__(self, message: str, /, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict:
        """A JSON-safe description used by the API and the CLI."""
        return {"error": type(self).__name__, "detail": self.message, **self.detail}


@dataclass(frozen=True)
class Problem:
    """One lint or parse problem: where it is, what is wrong and how to fix it."""

    file: str
    element: str | None
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "") + (f" [{self.element}]" if self.element else "")
        return f"{where}: {self.message}" + (f" Fix: {self.fix}" if self.fix else "")

    def to_dict(self) -> dict:
        return {"file": self.file, "element": self.element, "line": self.line,
                "message": self.message, "fix": self.fix}


class DefinitionInvalid(EngineError, ValueError):
    """A bundle was refused; nothing of it was stored."""

    http_status = 422

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"The bundle was rejected with {len(self.problems)} problem(s):\n{lines}")

    def to_dict(self) -> dict:
        return {"error": "DefinitionInvalid", "detail": self.message,
                "problems": [p.to_dict() for p in self.problems]}


class UnsafeInput(DefinitionInvalid):
    """An upload is hostile or too large (DTD, entities, size cap)."""


class NotFound(EngineError, LookupError):
    """Something named by id does not exist."""

    http_status = 404


class DefinitionNotFound(NotFound):
    """No deployed process with that id (and version)."""


class InstanceNotFound(NotFound):
    """No process instance with that id or business key."""


class TaskNotFound(NotFound):
    """No task with that id."""


class IncidentNotFound(NotFound):
    """No incident with that id."""


class InstanceConflict(EngineError):
    """Someone else changed the instance first; reload and try again."""

    http_status = 409


class TaskNotReady(InstanceConflict):
    """The task is no longer waiting for input (completed, cancelled or moved on)."""


class InstanceNotActive(InstanceConflict):
    """The instance is finished, cancelled or suspended."""


#: SQLSTATEs of a transaction the database aborted whole because another one ran at the same time
#: (PostgreSQL deadlock_detected, serialization_failure): nothing of it was written, and a retry can succeed.
CONCURRENCY_ABORTS = {"40P01": "deadlock", "40001": "serialization failure"}


def conflict_from_database(err: BaseException) -> InstanceConflict | None:
    """The InstanceConflict a database error stands for when it only says that another transaction got in
    the way (a PostgreSQL deadlock or serialization failure; `err` may be SQLAlchemy's wrapper), else None.

    The engine takes its locks instance first, so a deadlock means a lock order was missed somewhere: the
    caller still gets the 409 that a lost race gets, and should log the error so that the order is fixed."""
    orig = getattr(err, "orig", None) or err
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate not in CONCURRENCY_ABORTS:
        return None
    return InstanceConflict("This change ran at the same time as another one and the database undid it whole "
                            f"({CONCURRENCY_ABORTS[sqlstate]}); reload and try again.",
                            database_error=CONCURRENCY_ABORTS[sqlstate])


class NotAllowed(EngineError, PermissionError):
    """The caller may not do this (wrong role, not the assignee)."""

    http_status = 403


@dataclass
class FieldError:
    """One form field that failed validation."""

    field: str
    message: str


class FormInvalid(EngineError, ValueError):
    """Form data did not match the task's JSON Schema; nothing was saved."""

    http_status = 422

    def __init__(self, errors: list[FieldError], task_name: str = ""):
        self.errors = errors
        fields = ", ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"The form for '{task_name}' has {len(errors)} invalid field(s): {fields}")

    def to_dict(self) -> dict:
        return {"error": "FormInvalid", "detail": self.message,
                "fields": {e.field: e.message for e in self.errors}}


class MessageNotCorrelated(NotFound):
    """No waiting instance matches the message name and correlation."""


class HandlerNotRegistered(EngineError, LookupError):
    """A service task names an operator with no registered handler."""


class ScriptRejected(EngineError, ValueError):
    """An expression or script failed the restricted compiler."""

    http_status = 422


@dataclass
class BpmnError(Exception):
    """Raised by a handler to take the diagram's error boundary for `code`."""

    code: str
    message: str = ""
    data: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"BPMN error {self.code}" + (f": {self.message}" if self.message else "")
