"""Read-only views of instances for operators: where the tokens are, the path taken, where work piles up."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, definitions, lint, parsing, serialization
from .models import Deployment, HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, Timer

CURRENT = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


@dataclass
class Tokens:
    """The elements of one diagram to highlight: done, holding a token, failed; flows taken."""

    process_id: str
    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    called_from: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _collect(workflow, tokens: Tokens) -> None:
    for task in workflow.get_tasks(skip_subprocesses=True):
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue  # Spiff's own bookkeeping tasks (start, joins, boundary splits)
        if task.state == TaskState.COMPLETED:
            tokens.completed.append(bpmn_id)
        elif task.state == TaskState.WAITING:
            tokens.waiting.append(bpmn_id)
            tokens.current.append(bpmn_id)
        elif task.state == TaskState.ERROR:
            tokens.failed.append(bpmn_id)
            tokens.current.append(bpmn_id)
        elif task.has_state(TaskState.READY | TaskState.STARTED):
            tokens.current.append(bpmn_id)
    for name in ("completed", "current", "waiting", "failed"):
        setattr(tokens, name, sorted(set(getattr(tokens, name))))
    tokens.completed = [e for e in tokens.completed if e not in tokens.current]


def token_map(workflow) -> list[Tokens]:
    """One entry per diagram shown: the top process, then each called process that holds tokens.

    An embedded subprocess is drawn inside its parent's diagram, so its tokens join the parent's entry;
    a call activity's child has a diagram of its own, linked to the call activity that holds it.
    """
    top = Tokens(workflow.spec.name)
    _collect(workflow, top)
    result = [top]
    by_workflow = {id(workflow): top}
    # Parents come before children in `subprocesses` (they are created in that order).
    for sub_id, sub in workflow.subprocesses.items():
        parent_task = workflow.get_task_from_id(sub_id)
        parent_entry = by_workflow.get(id(parent_task.workflow), top)
        if type(parent_task.task_spec).__name__ == "CallActivity":
            entry = Tokens(sub.spec.name, called_from=parent_task.task_spec.bpmn_id)
            _collect(sub, entry)
            result.append(entry)
        else:
            entry = parent_entry
            extra = Tokens(sub.spec.name)
            _collect(sub, extra)
            for name in ("completed", "current", "waiting", "failed"):
                setattr(entry, name, sorted(set(getattr(entry, name)) | set(getattr(extra, name))))
        by_workflow[id(sub)] = entry
    return result


def instance_tokens(session: Session, row: ProcessInstance) -> list[Tokens]:
    """The token map of a stored instance."""
    loaded = definitions.load(session, row.definition_id)
    wf = serialization.load_state(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
    return token_map(wf)


def taken_flows(xml: str, tokens: Tokens) -> list[str]:
    """Sequence flows from a completed element to a completed or current one (the path walked)."""
    tree = parsing.parse_xml(xml.encode("utf-8"), "diagram")
    done, here = set(tokens.completed), set(tokens.current)
    return sorted(f.get("id") for f in tree.getroot().iterfind(".//bpmn:sequenceFlow", lint.NS)
                  if f.get("sourceRef") in done and f.get("targetRef") in done | here)


def diagram_source(session: Session, process_id: str, near: ProcessDefinition | None = None) -> str | None:
    """The BPMN XML that defines `process_id`: from the deployment of `near` if it holds it, else the
    latest deployed version of that process."""
    candidates = []
    if near is not None:
        candidates.append(session.get(Deployment, near.deployment_id))
    latest = session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
                             .order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if latest is not None:
        if near is None or latest.deployment_id != near.deployment_id:
            candidates.append(session.get(Deployment, latest.deployment_id))
    marker = f'id="{process_id}"'
    for deployment in candidates:
        for name, content in (deployment.files if deployment else {}).items():
            if name.endswith(".bpmn") and marker in content and "process" in content:
                tree = parsing.parse_xml(content.encode("utf-8"), name)
                ids = {p.get("id") for p in tree.getroot().iterfind(".//bpmn:process", lint.NS)}
                if process_id in ids:
                    return content
    return None


def heatmap(session: Session, process_id: str, at: dt.datetime | None = None) -> list[dict]:
    """Where tokens of one process wait, per element: how many, and how long the oldest has waited.

    Every wait is measured from when its projection row was written: a human task or a message catch from
    its creation, a timer from `timer.created_at` (when the token reached the timer event). Timer rows
    written before that column existed have no known start: they are counted, with `unknown` raised, but
    add nothing to the waiting times. Timers also show when the next one is due.
    """
    at = at or clock.now()
    cells: dict[str, dict] = defaultdict(lambda: {"count": 0, "oldest_seconds": 0, "total_seconds": 0,
                                                  "timed": 0, "unknown": 0, "kind": "", "next_due": None})
    running = select(ProcessInstance.id).where(ProcessInstance.process_id == process_id,
                                               ProcessInstance.status == "running")
    for name, since in session.execute(select(HumanTask.task_name, HumanTask.created_at)
                                       .where(HumanTask.status == "open",
                                              HumanTask.process_id == process_id)):
        _add(cells[name], "task", (at - since).total_seconds())
    for name, since in session.execute(select(MessageSubscription.task_name, MessageSubscription.created_at)
                                       .where(MessageSubscription.instance_id.in_(running))):
        _add(cells[name], "message", (at - since).total_seconds())
    for name, due, since in session.execute(select(Timer.task_name, Timer.due_at, Timer.created_at)
                                            .where(Timer.status.in_(("waiting", "leased")),
                                                   Timer.instance_id.in_(running))):
        cell = cells[name]
        _add(cell, "timer", None if since is None else (at - since).total_seconds())
        if cell["next_due"] is None or due < cell["next_due"]:
            cell["next_due"] = due
    out = []
    for element, cell in sorted(cells.items()):
        timed = cell.pop("timed")
        cell["avg_seconds"] = cell.pop("total_seconds") / timed if timed else 0
        cell["next_due"] = clock.to_local(cell["next_due"]).isoformat() if cell["next_due"] else None
        out.append({"element": element, **cell})
    return out


def _add(cell: dict, kind: str, seconds: float | None) -> None:
    cell["count"] += 1
    cell["kind"] = cell["kind"] or kind
    if seconds is None:
        cell["unknown"] += 1
        return
    seconds = max(0.0, seconds)
    cell["timed"] += 1
    cell["oldest_seconds"] = max(cell["oldest_seconds"], seconds)
    cell["total_seconds"] += seconds
