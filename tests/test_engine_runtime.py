"""Runtime flows: user tasks, exclusive and parallel gateways, call activities, run through the database."""

from __future__ import annotations

import pytest
from conftest import commit

from engine import audit, definitions, instances, tasks
from engine.errors import DefinitionNotFound


def _open(session, instance_id: int) -> dict[str, object]:
    """Open inbox rows of one instance, by task name."""
    return {t.task_name: t for t in tasks.list_tasks(session, limit=500) if t.instance_id == instance_id}


def _complete(session, instance_id: int, task_name: str, data: dict, actor: str = "bob"):
    row = _open(session, instance_id)[task_name]
    tasks.complete_task(session, row.id, data, actor)
    commit(session)
    return row


def test_start_user_task_complete_end(session, deploy):
    """start -> user task -> complete -> end: the inbox row closes, the instance completes with the data."""
    deploy("eng_review.bpmn")
    inst = instances.start_instance(session, "eng_review", {"amount": 7}, "alice", business_key="R-1")
    commit(session)
    assert inst.status == "running" and inst.ended_at is None
    [task] = tasks.list_tasks(session, lanes=["reviewer"])
    assert (task.task_name, task.title, task.lane, task.business_key) == (
        "Task_review", "Review the case", "reviewer", "R-1")
    assert tasks.list_tasks(session, lanes=["clerk"]) == []

    done = tasks.complete_task(session, task.id, {"approved": True, "comment": "fine"}, "bob")
    commit(session)
    assert (done.status, done.completed_by) == ("completed", "bob")
    inst = instances.get_instance(session, inst.id)
    assert inst.status == "completed" and inst.ended_at is not None
    assert instances.variables(session, inst.id) == {"amount": 7, "business_key": "R-1", "approved": True,
                                                     "comment": "fine"}
    assert [e.action for e in audit.history(session, inst.id)] == ["start", "complete", "complete_instance"]


def test_exclusive_gateway_takes_the_condition_branch(session, deploy):
    """amount > 100 routes to the supervisor's approval."""
    deploy("eng_gateway.bpmn")
    inst = instances.start_instance(session, "eng_gateway", {"amount": 500}, "alice")
    commit(session)
    assert list(_open(session, inst.id)) == ["Task_supervisor_approve"]
    assert _open(session, inst.id)["Task_supervisor_approve"].lane == "supervisor"
    _complete(session, inst.id, "Task_supervisor_approve", {"approved": False})
    assert instances.get_instance(session, inst.id).status == "completed"
    assert "route" not in instances.variables(session, inst.id)


def test_exclusive_gateway_takes_the_default_branch(session, deploy):
    """amount <= 100 takes the default flow: the script approves and the instance ends without a task."""
    deploy("eng_gateway.bpmn")
    inst = instances.start_instance(session, "eng_gateway", {"amount": 100}, "alice")
    commit(session)
    assert inst.status == "completed"
    assert _open(session, inst.id) == {}
    assert instances.variables(session, inst.id) == {"amount": 100, "approved": True, "route": "auto"}


def test_parallel_split_and_join(session, deploy):
    """Both branches are open at once; the join waits for both before the final task."""
    deploy("eng_parallel.bpmn")
    inst = instances.start_instance(session, "eng_parallel", {}, "alice")
    commit(session)
    opened = _open(session, inst.id)
    assert {n: t.lane for n, t in opened.items()} == {"Task_check_a": "reviewer", "Task_check_b": "clerk"}

    _complete(session, inst.id, "Task_check_b", {"note": "b ok"})
    assert list(_open(session, inst.id)) == ["Task_check_a"]
    _complete(session, inst.id, "Task_check_a", {"note": "a ok"})
    assert list(_open(session, inst.id)) == ["Task_final"]
    _complete(session, inst.id, "Task_final", {"approved": True})
    assert instances.get_instance(session, inst.id).status == "completed"


def test_call_activity_runs_a_child_process_from_the_same_bundle(session, deploy):
    """The parent waits on the child's user task; the child's data comes back to the parent."""
    deploy("eng_parent.bpmn", "eng_child.bpmn")
    inst = instances.start_instance(session, "eng_parent", {"case": "C-1"}, "alice", business_key="P-1")
    commit(session)
    [child_task] = _open(session, inst.id).values()
    assert (child_task.task_name, child_task.lane, child_task.business_key) == (
        "Task_child_fill", "clerk", "P-1")

    _complete(session, inst.id, "Task_child_fill", {"note": "filled"})
    assert list(_open(session, inst.id)) == ["Task_after_child"]
    _complete(session, inst.id, "Task_after_child", {"approved": True})
    assert instances.get_instance(session, inst.id).status == "completed"
    data = instances.variables(session, inst.id)
    assert (data["case"], data["note"], data["child_done"]) == ("C-1", "filled", True)


def test_call_activity_to_a_process_deployed_earlier_in_another_bundle(session, deploy):
    """A bundle may call a process that is only deployed (not in the bundle); it runs the deployed child."""
    [child] = deploy("eng_child.bpmn")
    [parent] = deploy("eng_parent.bpmn")
    assert (child.process_id, parent.process_id) == ("eng_child", "eng_parent")
    definitions.clear_cache()
    inst = instances.start_instance(session, "eng_parent", {}, "alice")
    commit(session)
    assert list(_open(session, inst.id)) == ["Task_child_fill"]
    _complete(session, inst.id, "Task_child_fill", {"note": "x"})
    _complete(session, inst.id, "Task_after_child", {"approved": True})
    assert instances.get_instance(session, inst.id).status == "completed"
    assert instances.variables(session, inst.id)["child_done"] is True


def test_unknown_process_cannot_be_started(session, deploy):
    deploy("eng_review.bpmn")
    with pytest.raises(DefinitionNotFound, match="Deploy it first"):
        instances.start_instance(session, "eng_nothing", {}, "alice")


@pytest.mark.parametrize(("amount", "band"), [(500, "high"), (100, "low")])
def test_decision_table_with_comparison_cells(session, deploy, amount, band):
    """A business rule task evaluates DMN cells such as '> 100' under the restricted engine."""
    deploy("eng_decide.bpmn", "eng_threshold.dmn")
    inst = instances.start_instance(session, "eng_decide", {"amount": amount}, "alice")
    commit(session)
    assert (inst.status, inst.has_incident) == ("completed", False)
    assert instances.variables(session, inst.id)["band"] == band
