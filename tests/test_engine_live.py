"""Live workflows (engine/live.py): a committed workflow is kept for the next unit of work on its instance,
and the database row stays the truth: anything the row does not say exactly is rebuilt from it."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from conftest import commit
from sqlalchemy import select, update

from engine import db, instances, live, runtime, serialization, tasks
from engine.errors import TaskNotReady
from engine.messages import correlate_message
from engine.models import HumanTask, ProcessInstance


@pytest.fixture(autouse=True)
def _empty_cache():
    live.CACHE.clear()
    yield
    live.CACHE.clear()


@pytest.fixture
def loads(monkeypatch):
    """Counts the workflows rebuilt from stored state."""
    counted = []
    real = serialization.load_state

    def counting(*args, **kwargs):
        counted.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(serialization, "load_state", counting)
    return counted


def _open_task(session, instance_id: int) -> HumanTask:
    return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status == "open")).one()


def _started(session, data=None):
    inst = instances.start_instance(session, "eng_waits", data or {"applicant": "Li"}, "alice", business_key="L-1")
    commit(session)
    return inst


def test_the_next_unit_of_work_takes_the_workflow_its_instance_committed(session, deploy, loads):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    assert len(live.CACHE) == 1
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "done"}, "carl")
    commit(session)
    correlate_message(session, "eng_docs", {"pages": 4}, business_key="L-1")
    commit(session)
    assert loads == []  # neither the completion nor the message rebuilt the workflow
    stored = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == inst.id))
    wf = serialization.load_state(stored, *_specs(session, inst))
    assert wf.last_task.data["docs"] == {"pages": 4} and wf.last_task.data["note"] == "done"


def _specs(session, inst):
    from engine import definitions

    loaded = definitions.load(session, inst.definition_id)
    return loaded.spec, loaded.subprocess_specs


def test_a_unit_of_work_that_rolls_back_after_saving_leaves_nothing_kept(session, deploy, loads):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "undone"}, "carl")
    session.rollback()  # saved, never committed
    db.forget_after_commit(session)
    assert len(live.CACHE) == 0  # the completion took the kept workflow, and kept nothing back
    tasks.complete_task(session, task.id, {"note": "again"}, "carl")  # rebuilt from the row: still open
    commit(session)
    assert len(loads) == 1
    row = session.get(ProcessInstance, inst.id, populate_existing=True)
    wf = serialization.load_state(row.state, *_specs(session, inst))
    assert wf.last_task.data["note"] == "again"


def test_a_row_changed_elsewhere_is_rebuilt_from_the_database_not_taken_from_memory(session, deploy, loads):
    """Another process (or a restore) wrote the row: its text differs from the kept one, so it wins."""
    deploy("eng_waits.bpmn")
    inst = _started(session)
    before = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == inst.id))
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "first"}, "carl")
    commit(session)
    assert len(live.CACHE) == 1  # kept: waiting for the message
    # Put the instance back where it was before the completion, as a restore from backup would.
    session.execute(update(ProcessInstance).where(ProcessInstance.id == inst.id).values(state=before))
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(status="open", completed_at=None,
                                                                            completed_by=None))
    commit(session)
    tasks.complete_task(session, task.id, {"note": "second"}, "carl")  # the kept one is past this task
    commit(session)
    assert loads == [before]
    row = session.get(ProcessInstance, inst.id, populate_existing=True)
    assert serialization.load_state(row.state, *_specs(session, inst)).last_task.data["note"] == "second"


def test_a_kept_workflow_is_never_handed_to_two_units_of_work(session, deploy):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    row = runtime.lock(session, inst.id)
    first = runtime.open_instance(session, inst.id, "carl", row=row)
    second = runtime.open_instance(session, inst.id, "carl", row=row)
    assert first.workflow is not second.workflow
    session.rollback()


def test_a_completed_instance_is_not_kept(session, deploy):
    deploy("eng_review.bpmn")
    inst = instances.start_instance(session, "eng_review", {}, "alice")
    commit(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"approved": True}, "rita")
    commit(session)
    assert len(live.CACHE) == 0


def test_data_that_would_read_back_differently_keeps_the_workflow_out(session, deploy, loads):
    """A tuple comes back from the stored state as a list: the next unit of work must see the list."""
    deploy("eng_waits.bpmn")
    inst = _started(session, {"applicant": "Li", "pair": (1, 2)})
    assert len(live.CACHE) == 0
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "ok"}, "carl")
    commit(session)
    assert len(loads) == 1


def test_what_the_caller_changes_after_submitting_does_not_reach_the_kept_workflow(session, deploy):
    deploy("eng_waits.bpmn")
    start = {"applicant": "Li", "parties": [{"name": "A"}]}
    inst = _started(session, start)
    form = {"note": "ok", "items": [{"qty": 1}]}
    tasks.complete_task(session, _open_task(session, inst.id).id, form, "carl")
    commit(session)
    start["parties"][0]["name"] = "changed"
    form["items"].append({"qty": 2})
    [(_state, _definition, wf, _cost)] = live.CACHE._entries.values()
    data = wf.last_task.data
    assert data["parties"] == [{"name": "A"}] and data["items"] == [{"qty": 1}]


def test_a_second_completion_of_a_kept_task_is_refused(session, deploy):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "once"}, "carl")
    commit(session)
    with pytest.raises(TaskNotReady):
        tasks.complete_task(session, task.id, {"note": "twice"}, "carl")


@pytest.mark.parametrize("value", [
    "text", 1, 2.5, True, None, dt.date(2027, 1, 2), dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.UTC),
    decimal.Decimal("1.50"), {"a": [1, {"b": None}]}, [],
])
def test_values_that_read_back_exactly(value):
    assert live.reads_back_exactly({"v": value})


@pytest.mark.parametrize("value", [
    (1, 2), {1, 2}, uuid.uuid4(), float("nan"), float("inf"), {1: "int key"}, {"typename": "x"},
    [("nested", "tuple")], b"bytes", dt.timedelta(days=1), object(),
])
def test_values_that_would_read_back_differently(value):
    assert not live.reads_back_exactly({"v": value})


def test_the_budget_lets_go_of_the_least_recently_kept():
    cache = live.LiveWorkflows(budget_bytes=10 * live.BYTES_PER_STATE_BYTE)
    definition = object()
    cache.keep(1, "aaaa", definition, "wf1")
    cache.keep(2, "bbbb", definition, "wf2")
    cache.keep(3, "cccc", definition, "wf3")  # 12 bytes of state > 10: the oldest goes
    assert cache.take(1, "aaaa", definition) is None
    assert cache.take(3, "cccc", definition) == "wf3"
    assert cache.take(3, "cccc", definition) is None  # taken: gone
    assert cache.take(2, "bbbb", object()) is None  # another version of the process: not this workflow
    cache.keep(4, "x" * 11, definition, "too big")
    assert len(cache) == 0 and cache.used == 0


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "0")
    assert live._budget_from_env() == 0
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "1.5")
    assert live._budget_from_env() == 1536 * 1024
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="IDIFLOW_LIVE_CACHE_MB must be a number of megabytes, not 'lots'"):
        live._budget_from_env()


def test_with_no_budget_every_unit_of_work_rebuilds(session, deploy, loads, monkeypatch):
    monkeypatch.setattr(live, "CACHE", live.LiveWorkflows(0))
    deploy("eng_waits.bpmn")
    inst = _started(session)
    tasks.complete_task(session, _open_task(session, inst.id).id, {"note": "ok"}, "carl")
    commit(session)
    assert len(loads) == 1 and len(live.CACHE) == 0
