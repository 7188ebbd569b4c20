"""The fast state serializer writes and reads exactly what SpiffWorkflow's own converters do.

engine/serialization.py replaces Spiff's per-task converter (for speed, see bench/engine.py). These tests
hold it to Spiff's format: the same JSON for the same workflow, and the same task tree after a load, for
workflows with user tasks, parallel branches, a call activity (subprocess), timers and message waits.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from uuid import UUID

import pytest
from conftest import commit
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import definitions, instances, runtime, serialization, tasks
from engine.messages import correlate_message
from engine.models import ProcessInstance
from engine.services import EngineServiceTask
from engine.tree import EngineTask, EngineWorkflow


class _SpiffStateConverter(BpmnWorkflowConverter):
    """The reference: Spiff's stock workflow and task converters, minus the spec (the format we store)."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _reference() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config.pop(ServiceTask, None)
    config[EngineServiceTask] = ServiceTaskConverter
    config[BpmnWorkflow] = _SpiffStateConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # The engine's workflow class (engine/tree.py) is a BpmnWorkflow: dumped as one, loaded as Spiff's own.
    registry.typenames[EngineWorkflow] = registry.typenames[BpmnWorkflow]
    registry.typenames[EngineTask] = registry.typenames[Task]
    registry.register(decimal.Decimal, lambda v: {"value": str(v)}, lambda d: decimal.Decimal(d["value"]))
    registry.register(dt.date, lambda v: {"value": v.isoformat()},
                      lambda d: dt.date.fromisoformat(d["value"]))
    return BpmnWorkflowSerializer(registry)


REFERENCE = _reference()


def _reference_dump(workflow) -> str:
    registry = REFERENCE.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    return json.dumps(dct, cls=REFERENCE._encoder_cls, separators=(",", ":"))


def _reference_load(state: str, loaded_def):
    dct = json.loads(state)
    converter = REFERENCE.registry.convert_from_dict[REFERENCE.registry.typenames[BpmnWorkflow]]
    return converter(dct, spec=loaded_def.spec, subprocess_specs=loaded_def.subprocess_specs)


def _tree(workflow) -> list[tuple]:
    """Everything a task carries, for every task of the workflow and its subprocesses, in dict order."""
    rows = []
    for wf in (workflow, *workflow.subprocesses.values()):
        for task in wf.tasks.values():
            rows.append((task.id, task._parent, list(task._children), task.state, task.task_spec.name,
                         task.triggered, task.last_state_change, task.internal_data, task.data))
    return rows


def _waiting_instances(session, deploy, fixed_clock) -> list[ProcessInstance]:
    """Instances parked at different waits: user task, parallel tasks, call activity, timer, message."""
    deploy("eng_review.bpmn", "eng_parallel.bpmn", "eng_parent.bpmn", "eng_child.bpmn", "eng_waits.bpmn")
    made = [
        instances.start_instance(session, "eng_review", {"amount": 7, "price": decimal.Decimal("1.50"),
                                                          "when": dt.date(2027, 3, 1), "tags": ["a", "b"],
                                                          "nested": {"k": [1, {"x": None}]}}, "alice"),
        instances.start_instance(session, "eng_parallel", {}, "alice", business_key="PAR-1"),
        instances.start_instance(session, "eng_parent", {"case": "C-1"}, "alice", business_key="P-1"),
    ]
    waits = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-1")
    commit(session)
    [fill] = [t for t in tasks.list_tasks(session, limit=500) if t.instance_id == waits.id]
    tasks.complete_task(session, fill.id, {"filled": True}, "carl")  # now waiting for a message
    commit(session)
    made.append(instances.get_instance(session, waits.id))
    later = instances.start_instance(session, "eng_waits", {}, "alice", business_key="W-2")
    commit(session)
    [fill] = [t for t in tasks.list_tasks(session, limit=500) if t.instance_id == later.id]
    tasks.complete_task(session, fill.id, {}, "carl")
    correlate_message(session, "eng_docs", {"pages": 2}, business_key="W-2")  # now waiting on timers
    commit(session)
    made.append(instances.get_instance(session, later.id))
    return made


@pytest.fixture
def waiting(session, deploy, fixed_clock):
    """(instance row, its loaded definition) for each kind of wait."""
    rows = _waiting_instances(session, deploy, fixed_clock)
    return [(row, definitions.load(session, row.definition_id)) for row in rows]


def test_state_written_by_the_engine_is_what_spiff_writes(waiting):
    """Stored state, loaded by Spiff's converters and dumped by them, is byte-for-byte the engine's dump."""
    for row, loaded_def in waiting:
        spiff_wf = _reference_load(row.state, loaded_def)
        assert _reference_dump(spiff_wf) == row.state, row.process_id
        ours = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs)
        assert serialization.dump_state(ours) == _reference_dump(ours) == row.state, row.process_id


def test_workflows_run_in_memory_dump_as_spiff_dumps_them(waiting):
    """Workflows our serializer never touched (run from the spec in memory): the same JSON as Spiff's."""
    for _row, loaded_def in waiting:
        wf = runtime.new_workflow(loaded_def)
        wf.get_tasks(state=TaskState.READY)[0].data.update({"amount": 7, "case": "C-2", "drop": 1})
        wf.do_engine_steps()
        assert serialization.dump_state(wf) == _reference_dump(wf), loaded_def.process_id
        for task in wf.get_tasks(state=TaskState.READY, manual=True):
            task.data.update({"approved": True, "note": "n", "when": dt.date(2027, 1, 2)})
            task.data.pop("drop", None)
            task.run()
        wf.do_engine_steps()
        assert serialization.dump_state(wf) == _reference_dump(wf), loaded_def.process_id


def test_loaded_task_tree_is_the_one_spiff_restores(waiting):
    """Ids, parents, children, states, specs, data (typed values included) and event waits all match."""
    kinds = set()
    for row, loaded_def in waiting:
        ours = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs)
        spiff_wf = _reference_load(row.state, loaded_def)
        assert _tree(ours) == _tree(spiff_wf), row.process_id
        assert ours.task_tree.id == spiff_wf.task_tree.id and ours.last_task.id == spiff_wf.last_task.id
        assert sorted(map(str, ours.event_manager.tasks)) == sorted(map(str, spiff_wf.event_manager.tasks))
        assert sorted(map(str, ours.subprocesses)) == sorted(map(str, spiff_wf.subprocesses))
        kinds.update({"subprocess"} if ours.subprocesses else set())
        kinds.update({"event wait"} if ours.event_manager.tasks else set())
    assert kinds == {"subprocess", "event wait"}, "the fixture must cover subprocesses and event waits"


def test_typed_task_data_survives_a_round_trip(session, waiting):
    """Decimal, date, lists and nested dicts come back as they went in."""
    row = session.scalars(select(ProcessInstance).where(ProcessInstance.process_id == "eng_review")).one()
    loaded_def = definitions.load(session, row.definition_id)
    wf = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in wf.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["price"] == decimal.Decimal("1.50") and isinstance(ready.data["price"], decimal.Decimal)
    assert ready.data["when"] == dt.date(2027, 3, 1)
    assert ready.data["nested"] == {"k": [1, {"x": None}]} and ready.data["tags"] == ["a", "b"]


def test_fast_json_writes_what_spiffs_encoder_means(waiting):
    """State JSON is written by orjson with Spiff's encoder hook: typed values (datetime, date, Decimal,
    timedelta, UUID inside a registered type), Chinese text, sets and callables come back exactly as
    Spiff's own encoder and loader give them; int dict keys (which orjson refuses) take the standard path."""
    _row, loaded_def = next((r, d) for r, d in waiting if r.process_id == "eng_review")
    wf = runtime.new_workflow(loaded_def)
    start = wf.get_tasks(state=TaskState.READY)[0]
    start.data.update({"amount": 7, "note": "龙岗区 工程质量潜在缺陷保险",
                       "at": dt.datetime(2027, 6, 30, 16, tzinfo=dt.UTC), "day": dt.date(2028, 2, 29),
                       "fee": decimal.Decimal("12345.67"),
                       "span": dt.timedelta(days=3, seconds=5), "flags": {"b"}, "hook": len})
    wf.do_engine_steps()
    ours = serialization.dump_state(wf)
    assert "龙岗区" in ours  # UTF-8, not \u escapes
    assert json.loads(ours) == json.loads(_reference_dump(wf))
    back = serialization.load_state(ours, loaded_def.spec, loaded_def.subprocess_specs)
    assert _tree(back) == _tree(_reference_load(_reference_dump(wf), loaded_def))
    [ready] = [t for t in back.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["at"] == dt.datetime(2027, 6, 30, 16, tzinfo=dt.UTC)
    assert ready.data["fee"] == decimal.Decimal("12345.67") and ready.data["day"] == dt.date(2028, 2, 29)
    assert ready.data["span"] == dt.timedelta(days=3, seconds=5) and ready.data["flags"] == ["b"]
    assert ready.data["hook"] is None

    ready.data["by_year"] = {2027: "a"}  # orjson refuses int keys: the standard encoder writes "2027"
    fallback = serialization.dump_state(back)
    again = serialization.load_state(fallback, loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in again.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["by_year"] == {"2027": "a"} and ready.data["note"] == "龙岗区 工程质量潜在缺陷保险"


def test_states_written_by_the_standard_encoder_still_load(waiting):
    """States stored before orjson (\\u escapes, a NaN the standard encoder wrote) load unchanged."""
    row, loaded_def = next((r, d) for r, d in waiting if r.process_id == "eng_review")
    wf = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in wf.tasks.values() if t.task_spec.name == "Task_review"]
    ready.data.update({"note": "龙岗", "ratio": float("nan")})
    legacy = _reference_dump(wf)
    assert "\\u9f99" in legacy and "NaN" in legacy
    back = serialization.load_state(legacy, loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in back.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["note"] == "龙岗" and ready.data["ratio"] != ready.data["ratio"]  # NaN


def test_huge_integers_and_odd_text_survive_the_fast_json(waiting):
    """Integers beyond 64 bits stay integers (orjson would read them as floats), a lone surrogate is
    written as an escape (orjson refuses it); NaN is written as null (documented difference)."""
    _row, loaded_def = next((r, d) for r, d in waiting if r.process_id == "eng_review")
    wf = runtime.new_workflow(loaded_def)
    wf.get_tasks(state=TaskState.READY)[0].data.update({"amount": 7, "big": 2**70, "neg": -(2**64),
                                                        "odd": "a\ud800b", "nan": float("nan")})
    wf.do_engine_steps()
    back = serialization.load_state(serialization.dump_state(wf), loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in back.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["big"] == 2**70 and isinstance(ready.data["big"], int) and ready.data["neg"] == -(2**64)
    assert ready.data["odd"] == "a\ud800b"
    wf2 = runtime.new_workflow(loaded_def)
    wf2.get_tasks(state=TaskState.READY)[0].data.update({"amount": 7, "nan": float("nan")})
    wf2.do_engine_steps()
    again = serialization.load_state(serialization.dump_state(wf2), loaded_def.spec, loaded_def.subprocess_specs)
    [ready] = [t for t in again.tasks.values() if t.task_spec.name == "Task_review"]
    assert ready.data["nan"] is None


def test_one_pass_converter_matches_spiffs_on_workflow_attributes(waiting):
    """The workflow-level fields the one-pass converter handles itself (data, correlations, last task, root,
    events, subprocesses) and every task attribute match Spiff's restore, empty or not; parent data is
    copied, never shared."""
    for row, loaded_def in waiting:
        ours = serialization.load_state(row.state, loaded_def.spec, loaded_def.subprocess_specs)
        spiff_wf = _reference_load(row.state, loaded_def)
        assert set(vars(ours)) == set(vars(spiff_wf)), row.process_id
        for wf_ours, wf_spiff in zip((ours, *ours.subprocesses.values()),
                                     (spiff_wf, *spiff_wf.subprocesses.values()), strict=True):
            for task, ref in zip(wf_ours.tasks.values(), wf_spiff.tasks.values(), strict=True):
                assert vars(task).keys() == vars(ref).keys() and task.thread_id == ref.thread_id
                parent = task.parent
                if parent is not None:
                    assert all(task.data[k] is not v for k, v in parent.data.items()
                               if isinstance(v, dict | list) and k in task.data)
        assert (ours.success, ours.completed, ours.correlations, ours.bpmn_events, ours.data) == \
            (spiff_wf.success, spiff_wf.completed, spiff_wf.correlations, spiff_wf.bpmn_events, spiff_wf.data)
        ours.data.update({"day": dt.date(2027, 1, 2), "n": 1})
        ours.correlations = {"case": {"key": "C-1"}}
        text = serialization.dump_state(ours)
        assert text == _reference_dump(ours), row.process_id
        again = serialization.load_state(text, loaded_def.spec, loaded_def.subprocess_specs)
        reference = _reference_load(text, loaded_def)
        assert (again.data, again.correlations, again.last_task.id, again.task_tree.id) == \
            (reference.data, reference.correlations, reference.last_task.id, reference.task_tree.id)
        assert serialization.dump_state(again) == text
