"""list_tasks reads an inbox page with prebuilt Core statements: lane lists of every size give one order,
pending changes are seen, and the page's rows are the session's HumanTask objects."""

from __future__ import annotations

import datetime as dt

from conftest import commit
from sqlalchemy import insert

from engine import instances, tasks
from engine.models import HumanTask

T0 = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)
LANES = [f"lane{i:02d}" for i in range(tasks._LANE_PARTS + 3)]  # more lanes than are read one by one


def _fill(session, deploy) -> list[str]:
    """Two open tasks per lane (one due, one undated) plus a completed one; returns the expected order."""
    deploy("simple.bpmn")
    inst = instances.start_instance(session, "simple", {"amount": 1}, "alice")
    rows = []
    for i, lane in enumerate(LANES):
        rows.append(dict(id=f"d{i:02d}", lane=lane, due_at=T0 + dt.timedelta(hours=len(LANES) - i),
                         created_at=T0, status="open"))
        rows.append(dict(id=f"u{i:02d}", lane=lane, due_at=None, created_at=T0 + dt.timedelta(minutes=i),
                         status="open"))
        rows.append(dict(id=f"c{i:02d}", lane=lane, due_at=T0 + dt.timedelta(minutes=i), created_at=T0,
                         status="completed"))
    session.execute(insert(HumanTask), [dict(
        instance_id=inst.id, process_id="simple", task_name="Task_x", title=r["id"], candidate_users=[],
        assignee=None, priority=50, form_ref=None, business_key=None, case_title="", **r) for r in rows])
    commit(session)
    dated = sorted((r for r in rows if r["status"] == "open" and r["due_at"]), key=lambda r: r["due_at"])
    return [r["id"] for r in dated] + [f"u{i:02d}" for i in range(len(LANES))]


def test_few_and_many_lanes_give_the_same_order_and_pages(session, deploy):
    expected = _fill(session, deploy)
    assert [t.id for t in tasks.list_tasks(session, lanes=LANES, limit=100)] == expected
    few = LANES[:3]
    assert [t.id for t in tasks.list_tasks(session, lanes=few + few, limit=100)] == [
        i for i in expected if int(i[1:]) < 3]  # a lane named twice shows its tasks once
    for size in (1, 5, len(LANES) + 1):
        pages = [t.id for offset in range(0, len(expected), size)
                 for t in tasks.list_tasks(session, lanes=LANES, limit=size, offset=offset)]
        assert pages == expected, f"page size {size}"
    assert tasks.list_tasks(session, lanes=[]) == []
    assert [t.id for t in tasks.list_tasks(session, limit=100)] == expected  # no lane filter: every lane
    assert [t.id for t in tasks.list_tasks(session, status="completed", lanes=LANES[:2])] == ["c00", "c01"]


def test_a_pending_change_is_seen_and_rows_are_the_sessions_objects(session, deploy):
    _fill(session, deploy)
    task = session.get(HumanTask, "u00")
    task.lane = "elsewhere"  # not flushed yet: the page must not show it in its old lane
    page = tasks.list_tasks(session, lanes=[LANES[0]])
    assert [t.id for t in page] == ["d00"]
    moved = tasks.list_tasks(session, lanes=["elsewhere"])
    assert moved == [task] and moved[0] is task and task.lane == "elsewhere"
