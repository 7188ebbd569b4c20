"""list_tasks: soonest due first, undated last, paged correctly across the two index reads; key prefix search.

list_tasks reads dated and undated tasks separately so that the inbox index serves the order (see
bench/inbox.py); these tests pin the order and the paging at the seam between the two reads.
"""

from __future__ import annotations

import datetime as dt

from conftest import commit
from sqlalchemy import insert

from engine import instances, tasks
from engine.models import HumanTask

T0 = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)


def _fill(session, deploy, rows: list[tuple[str, str, int | None, int, str]]) -> None:
    """Open tasks (id, lane, due in days or None, created minutes after T0, business key) on one instance."""
    deploy("simple.bpmn")
    inst = instances.start_instance(session, "simple", {"amount": 1}, "alice")  # ends at once: no own task
    session.execute(insert(HumanTask), [dict(
        id=task_id, instance_id=inst.id, process_id="simple", task_name="Task_x", title=task_id, lane=lane,
        candidate_users=[], assignee=None, due_at=None if due is None else T0 + dt.timedelta(days=due),
        priority=50, form_ref=None, business_key=key, case_title="", status="open",
        created_at=T0 + dt.timedelta(minutes=created)) for task_id, lane, due, created, key in rows])
    commit(session)


ROWS = [  # clerk order: d1 (due day 1), d2a/d2b (day 2, by creation), d5, then undated u1, u2, u3, p1
    ("u2", "clerk", None, 20, "LG-2027-0002"), ("d5", "clerk", 5, 1, "LG-2027-0001"),
    ("d2b", "clerk", 2, 9, "LG-2027-0011"), ("u1", "clerk", None, 3, "LG-2027-0012"),
    ("d1", "clerk", 1, 30, "LG-2027-0100"), ("d2a", "clerk", 2, 4, "LG-2028-0001"),
    ("u3", "clerk", None, 40, "lg-2027-0013"), ("s1", "supervisor", 0, 0, "LG-2027-0014"),
    ("p1", "clerk", None, 50, "LG-20%_-0001"),
]
CLERK = ["d1", "d2a", "d2b", "d5", "u1", "u2", "u3", "p1"]


def test_inbox_is_soonest_due_first_then_undated_by_creation(session, deploy):
    _fill(session, deploy, ROWS)
    assert [t.id for t in tasks.list_tasks(session, lanes=["clerk"])] == CLERK


def test_every_page_size_and_offset_yields_the_same_order(session, deploy):
    """Pages that end before, at and across the dated/undated seam concatenate to the full order."""
    _fill(session, deploy, ROWS)
    for size in range(1, len(CLERK) + 2):
        pages = [t.id for offset in range(0, len(CLERK) + size, size)
                 for t in tasks.list_tasks(session, lanes=["clerk"], limit=size, offset=offset)]
        assert pages == CLERK, f"page size {size}"
    assert [t.id for t in tasks.list_tasks(session, lanes=["clerk"], limit=3, offset=3)] == ["d5", "u1", "u2"]
    assert tasks.list_tasks(session, lanes=["clerk"], offset=len(CLERK)) == []


def test_several_lanes_merge_into_one_order(session, deploy):
    _fill(session, deploy, ROWS)
    page = tasks.list_tasks(session, lanes=["clerk", "supervisor"], limit=3)
    assert [t.id for t in page] == ["s1", "d1", "d2a"]


def test_business_key_prefix_search_matches_the_prefix_only(session, deploy):
    """A prefix matches keys that start with it (case as typed); % and _ in it are literal characters."""
    _fill(session, deploy, ROWS)
    assert [t.id for t in tasks.list_tasks(session, business_key="LG-2027-001")] == ["s1", "d2b", "u1"]
    assert [t.id for t in tasks.list_tasks(session, business_key="LG-2027-0001")] == ["d5"]
    assert [t.id for t in tasks.list_tasks(session, business_key="LG-20%_")] == ["p1"]
    assert [t.id for t in tasks.list_tasks(session, business_key="LG-2027-001", lanes=["clerk"],
                                            limit=1, offset=1)] == ["u1"]
    assert tasks.list_tasks(session, business_key="LG-2029") == []
