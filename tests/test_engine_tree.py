"""The engine's fast task-tree walks (engine/tree.py) answer exactly what SpiffWorkflow's iterators answer."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState
from test_policy_support import workflow_bundle

from engine import db, definitions, serialization
from engine.models import ProcessInstance
from engine.tree import EngineWorkflow, bpmn_tasks, plain_tasks
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
    through all its phases; each fast walk on the way is compared with Spiff's answer (AssertionError)."""
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
                assert isinstance(wf, EngineWorkflow)
                for mask in MASKS:
                    assert bpmn_tasks(wf, mask) == list(BpmnTaskIterator(wf.task_tree, state=mask))
                    assert list(plain_tasks(wf, mask)) == list(TaskIterator(wf.task_tree, state=mask))
                    checked += 1
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
