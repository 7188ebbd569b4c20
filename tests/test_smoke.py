"""The smallest end-to-end path: deploy, start, complete, end."""

from conftest import commit

from engine import instances, tasks


def test_start_user_task_complete_end(session, deploy):
    deploy("simple.bpmn")
    inst = instances.start_instance(session, "simple", {"amount": 7}, "alice", business_key="K-1")
    commit(session)
    [task] = tasks.list_tasks(session, lanes=["reviewer"])
    assert task.title == "Review" and task.business_key == "K-1"
    tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)
    assert instances.get_instance(session, inst.id).status == "completed"
