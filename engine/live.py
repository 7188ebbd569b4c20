"""Live workflows kept between units of work, so that the next operation on an instance skips rebuilding it.

The database stays the truth. A workflow is kept only after the transaction that saved it has committed,
together with the exact state text it was saved as; the next unit of work takes it (out of the cache, so
that no two ever share it) only if the instance row it has just read and locked holds that very text and
the same deployed version. Anything else (a rollback, another process or worker that changed the instance,
a restored or reset database, a migration) leaves a different text in the row, and the workflow is
rebuilt from it as always. This is the in-memory workflow a plain SpiffWorkflow program would keep, with
every state change still written and committed first (Temporal's workers keep a "sticky" cache the same way).

A kept workflow must be the workflow load_state would rebuild from that text, not merely an equal one: a
script must see the same values and the same sharing whether or not its instance was kept. The text says
less than the objects do. Each task's data is written as a delta from its parent's, so a value equal to the
parent's (1 for True, Decimal("100") for Decimal("100.00")) reads back as the parent's; one list held under
two names, or shared by two branches, reads back as two lists; a tuple, a set or a UUID reads back as a
list or a string, a datetime in a named zone at a bare offset. So after the commit the kept workflow's data
is rebuilt the way the loader rebuilds it (`as_loaded`: by the dumper's delta rule, in the loader's
order, with its copies), and a workflow holding anything that cannot read back as it is stays out.

The size budget (IDIFLOW_LIVE_CACHE_MB, 0 keeps none) is reckoned from the length of the state text plus
the per-task copies of data that the text stores once.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import os
import sys
import threading
from collections import OrderedDict
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState

log = logging.getLogger(__name__)

#: Memory of a kept workflow per byte of its state text, beyond its per-task copies of data (measured:
#: ~2.6 for the benchmark's diagram; the copies are counted one by one, see `as_loaded`).
BYTES_PER_STATE_BYTE = 3


def _budget_from_env() -> int:
    raw = os.environ.get("IDIFLOW_LIVE_CACHE_MB", "").strip()
    try:
        megabytes = float(raw) if raw else 64.0
    except ValueError:
        raise ValueError(f"IDIFLOW_LIVE_CACHE_MB must be a number of megabytes, not {raw!r}") from None
    return max(0, int(megabytes * 1024 * 1024))


class LiveWorkflows:
    """A bounded map (instance -> (state text, definition, workflow)), least recently kept out first."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.used = 0
        self._entries: OrderedDict[Any, tuple[str, Any, Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def take(self, key, state: str, definition) -> Any | None:
        """The kept workflow of `key` if it was saved as exactly `state` for `definition`; it leaves the
        cache either way (the caller rebuilds and, after its commit, keeps its own)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.used -= entry[3]
            if entry is not None and entry[1] is definition and entry[0] == state:
                self.hits += 1
                return entry[2]
            self.misses += 1
        return None

    def cost(self, state: str, extra: int = 0) -> int:
        """The memory a workflow saved as `state` is reckoned to take, `extra` bytes of copies included."""
        return len(state) * BYTES_PER_STATE_BYTE + extra

    def keep(self, key, state: str, definition, workflow, extra: int = 0) -> None:
        """Keep a workflow just committed as `state` (call only after the commit)."""
        cost = self.cost(state, extra)
        if cost > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old[3]
            self._entries[key] = (state, definition, workflow, cost)
            self.used += cost
            while self.used > self.budget:
                self.used -= self._entries.popitem(last=False)[1][3]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._entries)


CACHE = LiveWorkflows(_budget_from_env())


def keep_committed(key, state: str, definition, workflow) -> None:
    """Keep a workflow whose unit of work has just committed it as `state` (an engine.db.after_commit
    callback), made first what load_state(state) would give. Keeping is a shortcut only: whatever goes wrong
    here is logged and the workflow is not kept; it never reaches the caller, whose work is committed."""
    cache = CACHE
    try:
        if cache.cost(state) > cache.budget:
            return
        extra = as_loaded(workflow)
        if extra is not None:
            cache.keep(key, state, definition, workflow, extra)
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("a committed workflow was not kept in memory (it is rebuilt from the database)")


#: What `_copy` returns for a value that would not read back as it is.
_REFUSED = object()
_SCALARS = frozenset({str, int, bool, type(None)})
#: Beyond the scalars: what reads back as itself from task and workflow data (the registry's typed values,
#: engine/serialization.py), and from correlations (stored as plain JSON, not through the registry).
_EXACT = frozenset({float, dt.date, dt.datetime, decimal.Decimal})
_JSON = frozenset({float})
_CONTAINERS = frozenset({dict, list})
_EMPTY: dict = {}


def _exact_datetime(value: dt.datetime) -> bool:
    """True if `value` comes back from its isoformat text as it is: naive, or at a bare fixed offset (a
    ZoneInfo comes back as a bare offset, with another tzname and, across daylight saving, other arithmetic;
    a fold is not written)."""
    if value.fold:
        return False
    zone = value.tzinfo
    if zone is None:
        return True
    if type(zone) is not dt.timezone:
        return False
    offset = zone.utcoffset(None)
    if offset.microseconds:  # Python reads "+00:00:00.000005" back as UTC; refuse any such offset
        return False
    return zone.tzname(None) == dt.timezone(offset).tzname(None)


def _copy(value, kinds: frozenset = _EXACT):
    """A copy of `value` as it reads back from stored state (every dict and list new, other values shared:
    they are immutable), or _REFUSED if it would read back differently."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if "typename" in value:  # a dict with this key is read back as a registered object
            return _REFUSED
        copied = {}
        for key, item in value.items():
            if type(key) is not str:
                return _REFUSED
            if type(item) not in _SCALARS:
                item = _copy(item, kinds)
                if item is _REFUSED:
                    return _REFUSED
            copied[key] = item
        return copied
    if kind is list:
        copied = []
        for item in value:
            if type(item) not in _SCALARS:
                item = _copy(item, kinds)
                if item is _REFUSED:
                    return _REFUSED
            copied.append(item)
        return copied
    if kind not in kinds:
        return _REFUSED
    if kind is float:
        return value if value - value == 0 else _REFUSED  # NaN and infinities are stored as null
    if kind is dt.datetime:
        return value if _exact_datetime(value) else _REFUSED
    return value


def reads_back_exactly(value) -> bool:
    """True if `value` (task data) comes back from stored state as equal values of the same types."""
    return _copy(value) is not _REFUSED


def detached(data) -> dict:
    """A dict copy of the caller's data (a mapping) whose dicts and lists are the engine's own: a workflow
    kept here outlives its unit of work, and must not change when the caller later changes what it passed."""
    return {key: _detached_value(value) for key, value in data.items()}


def _detached_value(value):
    """`value` with every dict and list in it copied (other values are shared: immutable, or the caller's)."""
    kind = type(value)
    if kind is dict:
        return {key: _detached_value(item) for key, item in value.items()}
    if kind is list:
        return [_detached_value(item) for item in value]
    return value


def as_loaded(workflow) -> int | None:
    """Make a workflow just saved what load_state would rebuild from the text it was saved as, and return
    the bytes its tasks' own copies of data take (the text stores them once); None, leaving the workflow as
    it was, if it cannot be made so (a value that reads back differently, or a tree the loader would not
    rebuild whole).

    The loader's work on data, by the dumper's delta rule (engine/serialization.py): each task's data
    from its parent's with its dicts and lists copied one level deep, then its updates read back, then
    its deletions; workflow data and correlations read back whole; subprocesses and waiting events in the
    order the loader restores them. Nothing changes until all of it is known to read back."""
    subprocesses = _subprocesses_as_loaded(workflow)
    if subprocesses is None:
        return None
    rebuilt, extra = [], 0
    for wf in (workflow, *subprocesses.values()):
        data, correlations = _copy(wf.data), _copy(wf.correlations, _JSON)
        tasks = _tasks_as_loaded(wf.tasks)
        if data is _REFUSED or correlations is _REFUSED or tasks is None:
            return None
        rebuilt.append((wf, data, correlations, tasks[0]))
        extra += tasks[1]
    waiting = {}
    for wf, data, correlations, task_data in rebuilt:
        wf.data, wf.correlations = data, correlations
        for task_id, task in wf.tasks.items():
            task.data = task_data[id(task)]
            if task._state == TaskState.WAITING and isinstance(task.task_spec, CatchingEvent):
                waiting[task_id] = task
    workflow.subprocesses.clear()
    workflow.subprocesses.update(subprocesses)
    workflow.event_manager.tasks = waiting
    return extra


def _subprocesses_as_loaded(workflow) -> dict | None:
    """The workflow's subprocesses in the order the loader restores them (depth first, each found under its
    task in tree order), or None if the loader would leave one out."""
    subprocesses = workflow.subprocesses
    if not subprocesses:
        return {}
    ordered: dict = {}

    def visit(wf) -> None:
        for task_id, task in wf.tasks.items():
            sub = subprocesses.get(task_id)
            if sub is not None and task_id not in ordered and isinstance(task.task_spec, SubWorkflowTask):
                ordered[task_id] = sub
                visit(sub)

    visit(workflow)
    return ordered if len(ordered) == len(subprocesses) else None


def _tasks_as_loaded(tasks: dict) -> tuple[dict, int] | None:
    """Each task's data as the loader rebuilds it, by id() of the task (a UUID's hash is a Python call), and
    the bytes of the per-task dicts and copies; None if a value would read back differently or a task comes
    before its parent.

    The delta is serialization._data_and_delta's, computed inline (this runs once per kept unit of work, over
    every task): updates are the keys missing from the parent's data or unequal to its value, deletions the
    parent's keys the task lacks. A dict with dicts or lists in it is remembered as such, so that a child of
    flat data is copied without looking for them."""
    rebuilt: dict[int, tuple[dict, bool]] = {}
    extra = 0
    getsizeof = sys.getsizeof
    for task in tasks.values():
        parent_id = task._parent
        parent = tasks.get(parent_id) if parent_id is not None else None
        tdata = task.data
        if parent is None:  # the root of its tree: stored whole
            data = _copy(tdata)
            if data is _REFUSED:
                return None
            nested = any(type(value) in _CONTAINERS for value in data.values())
        else:
            found = rebuilt.get(id(parent))
            if found is None:  # the loader would not find the parent, and lose this task's data
                return None
            inherited, nested = found
            if not tdata:  # every key of the parent's is deleted (theirs are the parent's keys, see below)
                extra += getsizeof(_EMPTY)
                rebuilt[id(task)] = ({}, False)
                continue
            data = inherited.copy()
            if nested:
                for key, value in inherited.items():
                    if type(value) in _CONTAINERS:
                        data[key] = value = value.copy()
                        extra += getsizeof(value)
            if "typename" in tdata:  # updates holding this key are read back as a registered object
                return None
            pdata = parent.data
            for key, value in tdata.items():
                if key not in pdata or value != pdata[key]:  # in the delta's updates
                    if type(key) is not str:  # written as its JSON text ("1", "true", "null"), or not at all
                        return None
                    kind = type(value)
                    if kind not in _SCALARS:
                        value = _copy(value)
                        if value is _REFUSED:
                            return None
                        nested = nested or kind in _CONTAINERS
                    data[key] = value
                # else: not in the delta, the task reads back its parent's value
            if len(data) != len(tdata):  # the parent has keys the task lacks: the delta's deletions
                for key in pdata:
                    if key not in tdata:
                        data.pop(key, None)
        extra += getsizeof(data)
        rebuilt[id(task)] = (data, nested)
    return {key: found[0] for key, found in rebuilt.items()}, extra
