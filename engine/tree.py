"""The engine's workflow and task classes: SpiffWorkflow's, with a faster walk of the task tree and state
changes that build log records only when someone listens.

Every engine step walks the whole task tree several times: once per pass of `do_engine_steps` for READY
tasks and once after every task completion for WAITING ones. Spiff's iterators are general (filters,
end-at specs, breadth-first, depth limits) and cost about four times a plain walk. The two calls the step
loop makes, `get_tasks(state=...)` and `update_waiting_tasks()`, are answered here by walks that visit
the same tasks in the same order with the same pruning (including Spiff's depth bookkeeping); any other
call goes to Spiff unchanged. `VERIFY = True` (tests) compares every fast answer with Spiff's own.

Spiff's Task formats a log message and gathers its extra fields (state names, ids, times) on every state
change, even when the `spiff.task` logger drops the record; EngineTask asks the logger first and sends the
same record when it is enabled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskIterator, TaskState

#: Spiff's default depth limit for iterators.
_MAX_DEPTH = 1000
_FINISHED = TaskState.FINISHED_MASK
_WAITING = TaskState.WAITING


def _min_state(state: int) -> int:
    """The lowest state whose children a walk for `state` descends into (as Spiff's TaskIterator)."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _leaf_depth(task, stack: list, depth: int) -> int:
    """Spiff's depth correction after a leaf: climb from the leaf to the next task's parent."""
    ancestor = stack[-1].parent
    current = task.parent
    while current is not None and current != ancestor:
        current = current.parent
        depth -= 1
    return depth


def bpmn_tasks(workflow: BpmnWorkflow, state: int, root=None, spec_name: str | None = None) -> list:
    """What `list(BpmnTaskIterator(root or workflow.task_tree, state=state, spec_name=spec_name))` returns,
    computed directly."""
    subprocesses = workflow.top_workflow.subprocesses
    min_state = _min_state(state)
    skip_finished_subprocesses = state <= _FINISHED
    found = []
    stack = [root if root is not None else workflow.task_tree]
    depth = 0
    while stack:
        task = stack.pop()
        subprocess = subprocesses.get(task.id) if subprocesses else None
        if (task._children or subprocess is not None) and (task._state >= min_state or subprocess is not None) \
                and depth < _MAX_DEPTH:
            children = task.children
            if subprocess is not None and not (task._state >= _FINISHED and skip_finished_subprocesses):
                children.insert(0, subprocess.task_tree)
            children.reverse()
            stack.extend(children)
            depth += 1
        elif stack:
            depth = _leaf_depth(task, stack, depth)
        if task._state & state and (spec_name is None or task.task_spec.name == spec_name):
            found.append(task)
    return found


def plain_tasks(workflow, state: int, end_at_spec: str | None = None) -> Iterator:
    """What `TaskIterator(workflow.task_tree, state=state, end_at_spec=...)` yields, lazily and in the same
    order: a task's children are taken when it is reached, before the caller sees (and perhaps changes) it."""
    min_state = _min_state(state)
    stack = [workflow.task_tree]
    depth = 0
    while stack:
        task = stack.pop()
        if task._children and task._state >= min_state and depth < _MAX_DEPTH \
                and task.task_spec.name != end_at_spec:
            children = task.children
            children.reverse()
            stack.extend(children)
            depth += 1
        elif stack:
            depth = _leaf_depth(task, stack, depth)
        if task._state & state:
            yield task


class EngineEndJoin(_EndJoin):
    """The join before a process's end: it may fire when no other task of its workflow is unfinished.
    Spiff answers that by walking the tree with its general iterator on every update; this is the same
    walk, pruned at the same place, stopping at the first unfinished task."""

    def _check_threshold_unstructured(self, my_task):
        for task in plain_tasks(my_task.workflow, TaskState.NOT_FINISHED_MASK, self.name):
            if task != my_task:
                may_fire = False
                break
        else:
            may_fire = True
        if EngineWorkflow.VERIFY:
            assert may_fire == super()._check_threshold_unstructured(my_task), "end join threshold differs"
        return may_fire


_TASK_LOG = logging.getLogger("spiff.task")  # Spiff's own task logger: the same records when enabled


class EngineTask(Task):
    """A Spiff Task whose state changes skip building log records nobody receives; its children are
    EngineTasks too."""

    def _set_state(self, value: int) -> None:
        if value != self._state:
            now = time.time()
            elapsed = now - self.last_state_change
            self.last_state_change = now
            self._state = value
            if _TASK_LOG.isEnabledFor(logging.INFO):
                _TASK_LOG.info(f"State changed to {TaskState.get_name(value)}",
                               extra=self.collect_log_extras({"elapsed": elapsed}))
        elif _TASK_LOG.isEnabledFor(logging.DEBUG):
            _TASK_LOG.debug(f"State set to {TaskState.get_name(value)}", extra=self.collect_log_extras())

    def _add_child(self, task_spec, state: int = TaskState.MAYBE) -> Task:
        child = super()._add_child(task_spec, state)
        child.__class__ = EngineTask
        return child


class EngineWorkflow(BpmnWorkflow):
    """A BpmnWorkflow of EngineTasks whose step loop walks its task tree without Spiff's general-purpose
    iterators."""

    def __init__(self, spec, subprocess_specs=None, script_engine=None, **kwargs):
        super().__init__(spec, subprocess_specs, script_engine, **kwargs)
        for task in self.tasks.values():  # the tree Spiff's constructor built (a restore brings its own)
            task.__class__ = EngineTask

    #: Tests set this: every fast walk is checked against Spiff's iterator (AssertionError on a difference).
    VERIFY = False

    def get_tasks(self, first_task=None, **kwargs):
        if first_task is None and len(kwargs) == 1 and "state" in kwargs:
            found = bpmn_tasks(self, kwargs["state"])
            if EngineWorkflow.VERIFY:
                expected = list(BpmnTaskIterator(self.task_tree, state=kwargs["state"]))
                assert found == expected, f"fast walk differs for state {kwargs['state']}: {found} != {expected}"
            return found
        if first_task is not None and len(kwargs) == 1 and "spec_name" in kwargs:
            # a catching event resets the other tasks of its spec below it (CatchingEvent._run_hook)
            found = bpmn_tasks(self, TaskState.ANY_MASK, first_task, kwargs["spec_name"])
            if EngineWorkflow.VERIFY:
                expected = list(BpmnTaskIterator(first_task, spec_name=kwargs["spec_name"]))
                assert found == expected, f"fast walk differs below {first_task} for {kwargs['spec_name']}"
            return found
        return super().get_tasks(first_task, **kwargs)

    def update_waiting_tasks(self) -> None:
        if EngineWorkflow.VERIFY:
            fast, spiff = plain_tasks(self, _WAITING), TaskIterator(self.task_tree, state=_WAITING)
            for task in fast:
                assert task is next(spiff), "fast walk differs for WAITING tasks"
                task.task_spec._update(task)
            assert next(spiff, None) is None, "fast walk missed WAITING tasks"
            return
        for task in plain_tasks(self, _WAITING):
            task.task_spec._update(task)
