"""Move running instances from one version of a process to another, keeping every waiting timer's due date.

SpiffWorkflow's `migrate_workflow` resets READY and WAITING tasks by default, which re-evaluates timers
from "now": a 10-year cover timer migrated 18 months in would end 18 months late. We pass
`reset_mask=TaskState.READY` so WAITING tasks keep their evaluated due dates, and we compare every due
date before and after as a guard. An instance whose live tokens sit on an element the new version no
longer has cannot move; the plan says why instead of guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import audit, definitions, projections, runtime, serialization
from .errors import EngineError, InstanceNotFound
from .models import HumanTask, ProcessDefinition, ProcessInstance

#: States of a token still in play (predicted MAYBE/LIKELY tasks are recomputed, not moved).
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
MOVABLE_STATUSES = ("running", "suspended")


class MigrationRefused(EngineError, ValueError):
    """An instance cannot move to the target version; the reasons say why and what to do."""

    http_status = 409


@dataclass
class TokenLanding:
    """Where one live token of the instance lands in the new version."""

    task_id: str
    element: str
    name: str
    state: str
    lands_on: str | None
    changed: bool = False


@dataclass
class KeptTimer:
    """A waiting timer and its due date before and after the move (they must be equal)."""

    task_id: str
    element: str
    due_before: str | None
    due_after: str | None
    expression_changed: bool = False

    @property
    def kept(self) -> bool:
        return self.due_before == self.due_after


@dataclass
class MigrationPlan:
    """The dry run of moving one instance: can it move, where its tokens land, which timers it keeps."""

    instance_id: int
    business_key: str | None
    process_id: str
    from_version: int
    to_version: int
    can_move: bool = True
    reasons: list[str] = field(default_factory=list)
    tokens: list[TokenLanding] = field(default_factory=list)
    timers: list[KeptTimer] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        """Record why the instance cannot move."""
        self.can_move = False
        self.reasons.append(reason)

    def to_dict(self) -> dict:
        """A JSON-safe view for the cockpit and the API."""
        out = asdict(self)
        for timer, item in zip(self.timers, out["timers"], strict=True):
            item["kept"] = timer.kept
        return out


@dataclass
class MigrationReport:
    """What a bulk migration did."""

    migrated: list[MigrationPlan] = field(default_factory=list)
    refused: list[MigrationPlan] = field(default_factory=list)


def _label(task) -> str:
    spec = task.task_spec
    return spec.bpmn_name or spec.bpmn_id or spec.name


def _timer_dues(workflow) -> dict[str, str | None]:
    dues = {}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        due = projections.timer_due(task)
        if due is not None or hasattr(getattr(task.task_spec, "event_definition", None), "expression"):
            dues[str(task.id)] = due.isoformat() if due else None
    return {k: v for k, v in dues.items() if v is not None}


def _target(session: Session, row: ProcessInstance, target_definition_id: int) -> ProcessDefinition:
    target = session.get(ProcessDefinition, target_definition_id)
    if target is None:
        raise MigrationRefused(f"No process definition with id {target_definition_id}; "
                               "pick a deployed version.")
    if target.process_id != row.process_id:
        raise MigrationRefused(f"Instance {row.id} runs '{row.process_id}', not '{target.process_id}'; "
                               "an instance can only move between versions of its own process.")
    return target


def _migrate_in_memory(session: Session, row: ProcessInstance, target: ProcessDefinition):
    """Load the instance, move it onto `target` in memory and return (plan, workflow, loaded target)."""
    current = session.get(ProcessDefinition, row.definition_id)
    plan = MigrationPlan(row.id, row.business_key, row.process_id, current.version, target.version)
    if row.status not in MOVABLE_STATUSES:
        plan.refuse(f"The instance is {row.status}; only running or suspended instances move.")
        return plan, None, None
    if target.id == row.definition_id:
        plan.refuse(f"The instance already runs version {target.version}.")
        return plan, None, None
    old_def = definitions.load(session, row.definition_id)
    new_def = definitions.load(session, target.id)
    wf = serialization.load_state(row.state, old_def.spec, old_def.subprocess_specs, row.serializer_version)
    dues_before = _timer_dues(wf)

    registry = serialization.SERIALIZER.registry
    top_diff, sub_diffs = diff_workflow(registry, wf, new_def.spec, new_def.subprocess_specs)
    diffs = [(wf, top_diff, new_def.spec)]
    for sub_id, sub in wf.subprocesses.items():
        sub_diff = sub_diffs.get(sub_id)
        name = sub.spec.name
        if sub_diff is None:
            live = [t for t in sub.get_tasks(state=LIVE, skip_subprocesses=True)]
            if live:
                plan.refuse(f"The called/embedded process '{name}' holding token(s) at "
                            f"{', '.join(sorted({_label(t) for t in live}))} is not part of version "
                            f"{target.version}.")
            continue
        diffs.append((sub, sub_diff, new_def.subprocess_specs[name]))

    for workflow, diff, _spec in diffs:
        changed = {t.id for t in diff.changed}
        removed = {t.id for t in diff.removed}
        for task in workflow.get_tasks(state=LIVE, skip_subprocesses=True):
            if task.task_spec.name.startswith(("Root", "Start")) or task.task_spec.bpmn_id is None:
                continue
            landing = diff.alignment.get(task)
            plan.tokens.append(TokenLanding(str(task.id), task.task_spec.bpmn_id, _label(task),
                                            TaskState.get_name(task.state),
                                            landing.bpmn_id if landing is not None else None,
                                            task.id in changed))
            if task.id in removed or landing is None:
                plan.refuse(f"Its current task '{_label(task)}' ({task.task_spec.bpmn_id}) does not exist in "
                            f"version {target.version}; finish that task first or keep the instance on "
                            f"version {plan.from_version}.")
            if task.state == TaskState.ERROR:
                plan.refuse(f"Task '{_label(task)}' has an open incident; retry or resolve it before moving.")
        gone = [t for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
                if t.id in removed and t.task_spec.bpmn_id]
        if gone:
            plan.refuse(f"Completed step(s) {', '.join(sorted({_label(t) for t in gone}))} were removed in "
                        f"version {target.version}; the history could not be kept.")
    if not plan.can_move:
        return plan, None, new_def

    for workflow, diff, spec in diffs:
        migrate_workflow(diff, workflow, spec, reset_mask=TaskState.READY)
        _repredict(workflow)
    wf.subprocess_specs = new_def.subprocess_specs
    dues_after = _timer_dues(wf)
    changed_names = {t.task_spec.name for _w, d, _s in diffs for t in d.changed}
    for task_id, due in dues_before.items():
        task = runtime.find_task(wf, task_id)
        element = task.task_spec.bpmn_id if task is not None else "?"
        plan.timers.append(KeptTimer(task_id, element, due, dues_after.get(task_id),
                                     task is not None and task.task_spec.name in changed_names))
    for timer in plan.timers:
        if not timer.kept:
            plan.refuse(f"Timer {timer.element} would move from {timer.due_before} to {timer.due_after}; "
                        "a waiting timer must keep its due date.")
    try:  # the moved state must load again under the new spec, or it must not be saved
        serialization.load_state(serialization.dump_state(wf), new_def.spec, new_def.subprocess_specs)
    except (KeyError, ValueError, TypeError) as err:
        plan.refuse(f"The moved state does not load under version {target.version} ({err}).")
    return plan, wf, new_def


def _repredict(workflow) -> None:
    """Re-predict what follows tokens that were kept (waiting timers): the old predictions name old specs."""
    for task in workflow.get_tasks(state=TaskState.WAITING | TaskState.STARTED, skip_subprocesses=True):
        stale = [c for c in task.children if c.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE)
                 and c.task_spec not in task.task_spec.outputs]
        for child in stale:
            workflow._remove_task(child.id)
        # _predict only fills in children of tasks whose own state is in the mask.
        task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE | task.state)


def plan(session: Session, instance_id: int, target_definition_id: int) -> MigrationPlan:
    """Dry run for one instance: nothing is written."""
    row = session.get(ProcessInstance, instance_id)
    if row is None:
        raise InstanceNotFound(f"No process instance with id {instance_id}.", instance_id=instance_id)
    target = _target(session, row, target_definition_id)
    return _migrate_in_memory(session, row, target)[0]


def migrate_instance(session: Session, instance_id: int, target_definition_id: int,
                     actor: str) -> MigrationPlan:
    """Move one instance to the target version in the caller's unit of work; refuse with reasons."""
    row = runtime.lock(session, instance_id)
    target = _target(session, row, target_definition_id)
    result, wf, new_def = _migrate_in_memory(session, row, target)
    if not result.can_move:
        raise MigrationRefused(f"Instance {row.id} ({row.business_key or row.process_id}) cannot move to "
                               f"version {target.version}: " + " ".join(result.reasons),
                               instance_id=row.id, reasons=result.reasons)
    row.definition_id = target.id
    loaded = runtime.Loaded(row, new_def, wf, actor, dict(row.waiting or {}))
    wf.script_engine = runtime.SCRIPT_ENGINE
    runtime.save(session, loaded)
    _refresh_inbox(session, wf, row.id)
    audit.record(session, actor, "migrate", row.id, data={
        "from_version": result.from_version, "to_version": result.to_version,
        "tokens": {t.element: t.lands_on for t in result.tokens},
        "timers_kept": {t.element: t.due_after for t in result.timers}})
    return result


def _refresh_inbox(session: Session, wf, instance_id: int) -> None:
    """Open inbox rows keep their ids; give them the new version's name, lane and form."""
    for task in wf.get_tasks(state=TaskState.READY, manual=True):
        props = (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}) or {}
        form = props.get("formJsonSchemaFilename")
        session.execute(update(HumanTask).where(HumanTask.id == str(task.id), HumanTask.status == "open")
                        .values(task_name=task.task_spec.bpmn_id, title=_label(task),
                                lane=task.task_spec.lane, form_ref=form.rsplit("/", 1)[-1] if form else None),
                        execution_options={"synchronize_session": False})


def _instances_on(session: Session, process_id: str, version: int) -> list[int]:
    return list(session.scalars(
        select(ProcessInstance.id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessDefinition.process_id == process_id, ProcessDefinition.version == version,
               ProcessInstance.status.in_(MOVABLE_STATUSES)).order_by(ProcessInstance.id)))


def dry_run(session: Session, process_id: str, from_version: int, to_version: int) -> list[MigrationPlan]:
    """The plan of every running or suspended instance of one version; nothing is written."""
    target = definitions.resolve(session, process_id, to_version)
    return [plan(session, iid, target.id) for iid in _instances_on(session, process_id, from_version)]


def migrate_all(session: Session, process_id: str, from_version: int, to_version: int, actor: str,
                instance_ids: list[int] | None = None) -> MigrationReport:
    """Move every movable instance of one version (or the given ones); refused ones stay, with reasons.

    Each instance moves inside its own savepoint, so a refusal or failure leaves the others moved.
    """
    target = definitions.resolve(session, process_id, to_version)
    report = MigrationReport()
    ids = instance_ids if instance_ids is not None else _instances_on(session, process_id, from_version)
    for iid in ids:
        savepoint = session.begin_nested()
        try:
            report.migrated.append(migrate_instance(session, iid, target.id, actor))
            savepoint.commit()
        except MigrationRefused:
            savepoint.rollback()
            report.refused.append(plan(session, iid, target.id))
    return report
