"""The engine's fast task-tree walks (engine/tree.py) answer exactly what SpiffWorkflow's iterators answer."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState
from test_policy_support import workflow_bundle

from engine import db, definitions, serialization
from engine.models import ProcessInstance
from engine.tree import EngineEndJoin, EngineTask, EngineWorkflow, bpmn_tasks, plain_tasks
from handlers import demo

MASKS = [TaskState.READY, TaskState.WAITING, TaskState.NOT_FINISHED_MASK, TaskState.FINISHED_MASK,
         TaskState.PREDICTED_MASK, TaskState.DEFINITE_MASK, TaskState.COMPLETED, TaskState.ANY_MASK]


@pytest.fixture
def verify():
    """Every fast walk the engine makes is checked against Spiff's own iterator while this is active."""
    EngineWorkflow.VERIFY = True
    yield
    EngineWorkflow.VERIFY = False


def test_every_walk_of_the_whole_demo_matches_spiff(sqlite_template, tmp_path, verify):
    """The demo runs every diagram (call activities, boundary timers, event gateways, loops, subprocesses)
    through all its phases; each fast walk on the way, and each end-join decision, is compared with Spiff's
    answer (AssertionError)."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    try:
        with db.unit_of_work(factory) as session:
            summary = demo.seed(session, workflow_bundle())
        assert summary is not None
        with factory() as session:
            rows = list(session.query(ProcessInstance))
            assert len(rows) > 20
            checked = 0
            for row in rows:  # and every stored state, for every mask, from the root
                loaded = definitions.load(session, row.definition_id)
                wf = serialization.load_state(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
                end = f"{loaded.spec.name}.EndJoin"
                assert isinstance(wf, EngineWorkflow) and isinstance(loaded.spec.task_specs[end], EngineEndJoin)
                for mask in MASKS:
                    assert bpmn_tasks(wf, mask) == list(BpmnTaskIterator(wf.task_tree, state=mask))
                    assert list(plain_tasks(wf, mask)) == list(TaskIterator(wf.task_tree, state=mask))
                    assert list(plain_tasks(wf, mask, end)) == list(TaskIterator(wf.task_tree, state=mask,
                                                                                 end_at_spec=end))
                    checked += 1
                for task in list(wf.tasks.values())[::3]:  # a catching event's reset walk, from many places
                    name = task.task_spec.name
                    assert bpmn_tasks(wf, TaskState.ANY_MASK, task, name) == \
                        list(BpmnTaskIterator(task, spec_name=name))
                join = loaded.spec.task_specs[end]
                for task in wf.tasks.values():  # "may the end join fire?" asked from every task's place
                    assert EngineEndJoin._check_threshold_unstructured(join, task) == \
                        _EndJoin._check_threshold_unstructured(join, task)
            assert checked == len(rows) * len(MASKS)
    finally:
        engine.dispose()
        definitions.clear_cache()


def test_other_queries_still_go_to_spiff(sqlite_template, tmp_path):
    """Calls with a first task or other filters are Spiff's own (only the step loop's shapes are fast)."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    try:
        with db.unit_of_work(factory) as session:
            demo.seed(session, workflow_bundle())
        with factory() as session:
            row = session.query(ProcessInstance).filter(ProcessInstance.status == "running").first()
            loaded = definitions.load(session, row.definition_id)
            wf = serialization.load_state(row.state, loaded.spec, loaded.subprocess_specs, row.serializer_version)
            manual = wf.get_tasks(state=TaskState.READY, manual=True)
            assert manual == list(BpmnTaskIterator(wf.task_tree, state=TaskState.READY, manual=True))
            some = wf.task_tree.children[0]
            assert wf.get_tasks(some) == list(BpmnTaskIterator(some))
    finally:
        engine.dispose()
        definitions.clear_cache()


def test_engine_tasks_log_state_changes_only_when_someone_listens(session, deploy):
    """Every task of an engine workflow (built, run, restored) is an EngineTask; with spiff.task at INFO it
    sends Spiff's own records (message, task id, state, elapsed), at WARNING none are built."""
    import logging

    from SpiffWorkflow.task import Task

    from engine import runtime

    deploy("eng_review.bpmn")
    loaded = definitions.load(session, definitions.resolve(session, "eng_review").id)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("spiff.task")
    keep = Keep(level=logging.DEBUG)
    logger.addHandler(keep)
    try:
        wf = runtime.new_workflow(loaded)
        wf.get_tasks(state=TaskState.READY)[0].data.update({"amount": 7})
        wf.do_engine_steps()
        assert records == []  # the engine keeps spiff.task at WARNING
        assert all(type(t) is EngineTask for t in wf.tasks.values())
        logger.setLevel(logging.INFO)
        [review] = wf.get_tasks(state=TaskState.READY, manual=True)
        review.run()
        wf.do_engine_steps()
    finally:
        logger.setLevel(logging.WARNING)
        logger.removeHandler(keep)
    assert wf.is_completed()
    changed = [r for r in records if r.getMessage() == "State changed to COMPLETED"]
    assert changed and {"task_id", "state", "elapsed", "task_spec"} <= set(vars(changed[0]))
    assert changed[0].state == "COMPLETED" and changed[0].task_id in wf.tasks
    restored = serialization.load_state(serialization.dump_state(wf), loaded.spec, loaded.subprocess_specs)
    assert all(isinstance(t, Task) and type(t) is EngineTask for t in restored.tasks.values())
