"""Serialize workflow state without its spec; rebuild workflows from a cached spec plus state.

The spec of a version is stored once in process_definition.spec_json; each instance stores only its task
tree and data (design/SPIFFWORKFLOW.md section 6). Loading skips Spiff's per-load spec rebuild.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from copy import copy
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.specs.StartTask import StartTask
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .db import json_loads
from .services import EngineServiceTask
from .tree import EngineEndJoin, EngineTask, EngineWorkflow

SERIALIZER_VERSION = BpmnWorkflowSerializer.VERSION if hasattr(BpmnWorkflowSerializer, "VERSION") else "1.5"


_PRIMITIVES = frozenset({str, int, float, bool, type(None)})
_MUTABLE = (dict, list, set)


def _data_and_delta(task, parent) -> tuple[dict, dict]:
    """A task's stored data: all of it for the root, else empty plus the delta from its parent's data."""
    if parent is None:
        return task.data, {}
    pdata, tdata = parent.data, task.data
    return {}, {"updates": {k: v for k, v in tdata.items() if k not in pdata or v != pdata[k]},
                "deletions": [k for k in pdata if k not in tdata]}


class FastTaskConverter(TaskConverter):
    """Spiff's task converter with the same dict format, minus its per-task overhead.

    Every save and load converts every task; Spiff's version parses each UUID string up to four times and
    walks primitive values through the registry. Output is identical (tests/test_engine_serialization.py).
    """

    def to_dict(self, task, names=None):
        """The dict Spiff's TaskConverter makes; `names` maps task ids to their strings when given."""
        parent_id = task._parent
        parent = task.workflow.tasks.get(parent_id) if parent_id is not None else None
        data, delta = _data_and_delta(task, parent)
        name = names.__getitem__ if names is not None else str
        internal = task.internal_data
        return {
            "id": name(task.id),
            "parent": name(parent_id) if parent is not None else None,
            "children": [name(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task._state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": self.registry.convert(internal) if internal else {},
            "data": data,
            "delta": delta,
            "typename": self.typename,
        }

    def from_dict(self, dct, workflow, uuid=UUID):
        """Restore one task into `workflow`; `uuid` parses id strings (pass a caching one)."""
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        if task_spec is None:  # Task() would put a StartTask in its place; so does this
            task_spec = StartTask(workflow.spec)
        task_id, parent_id, internal, state = uuid(dct["id"]), dct["parent"], dct["internal_data"], dct["state"]
        parent_id = uuid(parent_id) if parent_id is not None else None
        delta = dct.get("delta")
        parent = workflow.tasks.get(parent_id) if parent_id is not None else None
        if delta and parent is not None:
            data = {k: copy(v) if isinstance(v, _MUTABLE) else v for k, v in parent.data.items()}
            data.update(self._restore_data(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                data.pop(key, None)
        else:
            data = self._restore_data(dct["data"])
        # The attributes Task.__init__ sets, set at once: the constructor's own defaults (an empty data dict,
        # a fresh clock reading, a parent lookup) would all be overwritten here.
        task = object.__new__(self.target_class)
        task.__dict__ = {
            "id": task_id, "workflow": workflow, "_parent": parent_id,
            "_children": [uuid(child) for child in dct["children"]], "_state": state,
            "triggered": dct["triggered"], "task_spec": task_spec, "thread_id": Task.thread_id_pool,
            "data": data, "internal_data": self.registry.restore(internal) if internal else {},
            "last_state_change": dct["last_state_change"]}
        workflow.tasks[task_id] = task
        if state & TaskState.WAITING and isinstance(task_spec, CatchingEvent):
            workflow.top_workflow.event_manager.add_task(task)
        return task

    def _restore_data(self, data):
        if not isinstance(data, dict) or "typename" in data:
            return self.registry.restore(data)
        restore = self.registry.restore
        return {k: v if type(v) in _PRIMITIVES else restore(v) for k, v in data.items()}


#: Task ids seen recently, both ways (id string -> UUID, UUID's integer -> string): the next operation on an
#: instance loads the ids its last save wrote. UUIDs are immutable, so a hit is exactly what parsing or
#: formatting would give; the maps are simply emptied when they grow past their bound. The string map is keyed
#: by `UUID.int` (a C-level hash; a UUID's own __hash__ is a Python call), as are the per-call maps below.
_IDS: dict[str, UUID] = {}
_NAMES: dict[int, str] = {}
_IDS_BOUND = 20_000


def _remember(names: dict[int, str], ids: dict[str, UUID]) -> None:
    if len(_NAMES) > _IDS_BOUND:
        _NAMES.clear()
        _IDS.clear()
    _NAMES.update(names)
    _IDS.update(ids)


class _UuidCache(dict):
    """Parses each task id string once per load (a tree mentions every id up to four times)."""

    def __missing__(self, key: str) -> UUID:
        value = _IDS.get(key)
        if value is None:
            value = UUID(key)
        self[key] = value
        return value


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Converts a workflow without its spec; restores it around a spec object passed in.

    Both directions do the work of Spiff's converters (and FastTaskConverter's, for each task) in one loop
    over the tasks, finding parents and id strings in maps keyed by id string or `UUID.int`.
    """

    def to_dict(self, workflow):
        tasks = workflow.tasks
        known = _NAMES.get
        names: dict[int, str] = {}
        by_int = {}
        fresh = {}
        for task_id, task in tasks.items():
            key = task_id.int
            name = known(key)
            if name is None:
                name = str(task_id)
                fresh[name] = task_id
            names[key] = name
            by_int[key] = task
        if fresh:
            _remember(names, fresh)
        registry = self.registry
        convert = registry.convert
        typename = TASKS.typename
        out = {}
        for key, task in by_int.items():
            parent_id = task._parent
            parent = by_int.get(parent_id.int) if parent_id is not None else None
            data, delta = _data_and_delta(task, parent)
            internal = task.internal_data
            name = names[key]
            out[name] = {
                "id": name,
                "parent": names[parent_id.int] if parent is not None else None,
                "children": [names.get(child.int) or str(child) for child in task._children],
                "last_state_change": task.last_state_change,
                "state": task._state,
                "task_spec": task.task_spec.name,
                "triggered": task.triggered,
                "internal_data": convert(internal) if internal else {},
                "data": data,
                "delta": delta,
                "typename": typename,
            }
        last_task = workflow.last_task
        wf_data = workflow.data
        root = workflow.task_tree.id
        dct = {
            "data": convert(registry.clean(wf_data)) if wf_data else {},
            "correlations": workflow.correlations,
            "last_task": (names.get(last_task.id.int) or str(last_task.id)) if last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": out,
            "root": names.get(root.int) or str(root),
        }
        subprocesses, events = workflow.subprocesses, workflow.bpmn_events
        dct["subprocesses"] = self.mapping_to_dict(subprocesses) if subprocesses else {}
        dct["bpmn_events"] = convert(events) if events else []
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            return super().from_dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        task_dcts = dct["tasks"]
        uuid = _UuidCache()
        known = _IDS.get
        for name in task_dcts:
            task_id = known(name)
            uuid[name] = task_id if task_id is not None else UUID(name)
        uuid = uuid.__getitem__
        registry = self.registry
        restore = registry.restore
        restore_data = TASKS._restore_data
        typename, target = TASKS.typename, TASKS.target_class
        specs = workflow.spec.task_specs
        tasks = workflow.tasks
        events = workflow.top_workflow.event_manager
        restored = {}  # id string -> task
        for task_dct in task_dcts.values():  # Task() files itself in workflow.tasks, in this order
            if task_dct.get("typename") != typename:
                restore(task_dct, workflow=workflow)
                continue
            task_spec = specs.get(task_dct["task_spec"])
            if task_spec is None:  # Task() would put a StartTask in its place; so does this
                task_spec = StartTask(workflow.spec)
            name, parent_name, internal, state = (task_dct["id"], task_dct["parent"], task_dct["internal_data"],
                                                  task_dct["state"])
            task_id = uuid(name)
            if parent_name is None:
                parent_id = parent = None
            else:
                parent_id = uuid(parent_name)
                parent = restored.get(parent_name)
                if parent is None:
                    parent = tasks.get(parent_id)
            delta = task_dct.get("delta")
            if delta and parent is not None:
                pdata = parent.data
                data = pdata.copy()
                for k, v in pdata.items():
                    if isinstance(v, _MUTABLE):
                        data[k] = copy(v)
                updates = delta.get("updates")
                if updates:
                    data.update(restore_data(updates))
                for key in delta.get("deletions", ()):
                    data.pop(key, None)
            else:
                data = restore_data(task_dct["data"])
            # The attributes Task.__init__ sets, set at once: the constructor's own defaults (an empty data
            # dict, a fresh clock reading, a parent lookup) would all be overwritten here.
            task = object.__new__(target)
            task.__dict__ = {
                "id": task_id, "workflow": workflow, "_parent": parent_id,
                "_children": [uuid(child) for child in task_dct["children"]], "_state": state,
                "triggered": task_dct["triggered"], "task_spec": task_spec, "thread_id": target.thread_id_pool,
                "data": data, "internal_data": restore(internal) if internal else {},
                "last_state_change": task_dct["last_state_change"]}
            tasks[task_id] = task
            restored[name] = task
            if state & TaskState.WAITING and isinstance(task_spec, CatchingEvent):
                events.add_task(task)
        root = dct["root"]
        workflow.task_tree = restored[root] if root in restored else tasks.get(uuid(root))
        # set_default_attributes, with its lookups in the maps above
        workflow.success = dct["success"]
        workflow.completed = dct.get("completed", False)
        workflow.correlations = dct.pop("correlations", {})
        last_task = dct["last_task"]
        if isinstance(last_task, str):
            workflow.last_task = restored[last_task] if last_task in restored else tasks.get(uuid(last_task))
        wf_data = dct.pop("data", {})
        workflow.data = restore(wf_data) if wf_data else {}
        subprocesses = dct["subprocesses"]
        if subprocesses:
            self.subprocesses_from_dict(subprocesses, workflow)
        events = dct.pop("bpmn_events", [])
        workflow.bpmn_events = restore(events) if events else []
        return workflow


def _build_serializer() -> tuple[BpmnWorkflowSerializer, FastTaskConverter]:
    config = dict(SPIFF_CONFIG)
    config.pop(ServiceTask, None)
    config[EngineServiceTask] = ServiceTaskConverter
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    config.pop(Task)
    registry = BpmnWorkflowSerializer.configure(config)
    # Tasks are restored as the engine's own class (engine/tree.py) under Spiff's name; Spiff's class (the
    # tasks of subprocess trees) is written the same way.
    tasks = FastTaskConverter(EngineTask, registry, typename="Task")
    registry.typenames[Task] = "Task"
    # The engine's own workflow class, stored under Spiff's name: states written before it load unchanged.
    StateOnlyWorkflowConverter(EngineWorkflow, registry, typename="BpmnWorkflow")
    # Deployed specs load with the engine's end join (engine/tree.py), stored under Spiff's name.
    config[_EndJoin](EngineEndJoin, registry, typename=registry.typenames[_EndJoin])
    registry.register(decimal.Decimal, lambda v: {"value": str(v)}, lambda d: decimal.Decimal(d["value"]))
    registry.register(dt.date, lambda v: {"value": v.isoformat()},
                      lambda d: dt.date.fromisoformat(d["value"]))
    return BpmnWorkflowSerializer(registry), tasks


SERIALIZER, TASKS = _build_serializer()
SERIALIZER_VERSION = SERIALIZER.VERSION


#: Spiff's own encoder hook (registered types such as datetime, date, Decimal, timedelta, UUID become typed
#: dicts; sets lists; callables null), handed to orjson, which otherwise writes the same JSON several times
#: faster. Dates and datetimes must reach the hook (orjson would write them as plain strings).
_SPIFF_DEFAULT = SERIALIZER._encoder_cls().default
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _dumps(obj_dict) -> str:
    """Compact JSON of a converted workflow or spec, as Spiff's encoder would write it.

    What orjson refuses (dict keys that are not strings, integers beyond 64 bits, lone surrogates) goes to
    the standard encoder, which converts or rejects it as Spiff always did. Text is written as UTF-8, not
    \\u escapes. Two differences from Spiff's encoder: NaN and infinities are written as null, and a bare
    UUID in task data as its text (task data comes from forms, messages and handler results, all JSON, and
    from restricted scripts, which cannot make either without the helpers offering it).
    """
    try:
        return orjson.dumps(obj_dict, default=_SPIFF_DEFAULT, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj_dict, cls=SERIALIZER._encoder_cls, separators=(",", ":"))


_loads = json_loads  # stored state: orjson, or the standard parser (NaN written by it, huge integers)


def dump_specs(spec, subprocess_specs: dict) -> str:
    """The JSON stored once per version: the process spec and every called/embedded spec."""
    registry = SERIALIZER.registry
    return _dumps({
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(s) for name, s in subprocess_specs.items()},
    })


def load_specs(spec_json: str):
    """Rebuild (spec, subprocess_specs) from `dump_specs` output."""
    dct = _loads(spec_json)
    registry = SERIALIZER.registry
    return registry.restore(dct["spec"]), {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}


def dump_state(workflow) -> str:
    """Serialize a workflow's state (task tree, data, events) without its spec."""
    registry = SERIALIZER.registry
    registry._encoder_mode = True  # 3.2.0 converts task data only in encoder mode (SPIFFWORKFLOW.md §6)
    try:
        dct = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    return _dumps(dct)


def load_state(state: str, spec, subprocess_specs, serializer_version: str = SERIALIZER_VERSION):
    """Rebuild a workflow from stored state around a cached spec."""
    dct = _loads(state)
    if serializer_version != SERIALIZER_VERSION:
        dct["spec"], dct["subprocess_specs"] = {}, {}
        dct[SERIALIZER.VERSION_KEY] = serializer_version
        migrate = MIGRATIONS.get(serializer_version)
        if migrate is not None:
            migrate(dct)
        dct.pop(SERIALIZER.VERSION_KEY, None)
    converter = SERIALIZER.registry.convert_from_dict[SERIALIZER.registry.typenames[BpmnWorkflow]]
    return converter(dct, spec=spec, subprocess_specs=subprocess_specs)
