"""list_task_rows gives exactly the page list_tasks gives (same rows, order, values), as plain column values;
GET /api/v1/tasks built from those rows answers what it answered when built from session objects."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from conftest import bundle, commit
from sqlalchemy import insert
from web_factories import close_app, gen_api_app, token_headers

from engine import db, definitions, instances, tasks
from engine.errors import TaskNotFound
from engine.models import HumanTask
from web.accounts import ADMIN_ROLE
from web.api.representations import task_json
from web.api.tasks import CASE_RULE_LANES
from web.db import database
from web.models import User
from web.permissions import AGENCY_ROLE, OWNER_ROLE, is_admin, may_work_on

T0 = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)
LANES = [f"lane{i:02d}" for i in range(tasks._LANE_PARTS + 3)]  # more lanes than are read one by one
KEYS = [c.key for c in HumanTask.__table__.columns]


def _rows(instance_id: int, lanes: list[str], count: int) -> list[dict]:
    """`count` tasks spread over `lanes`: dated and undated, open and completed, some assigned or offered."""
    rows = []
    for i in range(count):
        rows.append(dict(
            id=f"t{i:03d}", instance_id=instance_id, process_id="other" if i % 5 == 0 else "simple",
            task_name="Task_x", title=f"task {i}", lane=lanes[i % len(lanes)] if i % 13 else None,
            candidate_users=None if i % 7 == 0 else (["amy"] if i % 4 == 0 else []),
            assignee="amy" if i % 3 == 0 else None,
            due_at=None if i % 4 == 1 else T0 + dt.timedelta(hours=(i * 7) % 17),
            priority=i % 3 * 25, form_ref=None, business_key=f"K-{i % 4}-{i}", case_title=f"case {i}",
            status="completed" if i % 6 == 5 else "open", created_at=T0 + dt.timedelta(minutes=i % 9),
            completed_at=T0 if i % 6 == 5 else None, completed_by="bob" if i % 6 == 5 else None))
    return rows


def _fill(session, lanes: list[str], count: int = 60) -> None:
    definitions.deploy(session, bundle("simple.bpmn"), "tester")
    inst = instances.start_instance(session, "simple", {"amount": 1}, "alice")
    session.execute(insert(HumanTask), _rows(inst.id, lanes, count))
    commit(session)


def test_rows_are_the_page_list_tasks_gives_for_every_filter_and_page(session):
    """Lanes (none, an empty list, one, a few with a repeat, more than are read one by one), assignee,
    status, business-key prefix, process id and pages: the same rows in the same order with the same values."""
    _fill(session, LANES)
    compared = 0
    for lanes, assignee, status, key, process_id, (limit, offset) in itertools.product(
            [None, [], LANES[:1], LANES[:3] + LANES[:1], LANES], [None, "amy"], ["open", "completed"],
            [None, "K-1"], [None, "other"], [(50, 0), (3, 0), (3, 4), (5, 7)]):
        args = dict(lanes=lanes, assignee=assignee, status=status, business_key=key, process_id=process_id,
                    limit=limit, offset=offset)
        objects = tasks.list_tasks(session, **args)
        rows = tasks.list_task_rows(session, **args)
        assert rows == [{k: getattr(t, k) for k in KEYS} for t in objects], args
        assert all(r[k].tzinfo is dt.UTC for r in rows for k in ("due_at", "created_at", "completed_at")
                   if r[k] is not None)
        compared += len(rows)
    assert compared > 400  # the filters above select rows, not only empty pages
    page = tasks.list_task_rows(session, lanes=LANES[:3], limit=4)
    assert [r["id"] for r in page] == ["t034", "t056", "t022", "t044"]  # soonest due, then first created


def test_rows_see_pending_changes(session):
    """Like list_tasks, the row read flushes the session first (as the ORM's autoflush would)."""
    _fill(session, LANES)
    task = session.get(HumanTask, "t002")
    task.lane = "elsewhere"
    assert [r["id"] for r in tasks.list_task_rows(session, lanes=["elsewhere"])] == ["t002"]
    assert "t002" not in [r["id"] for r in tasks.list_task_rows(session, lanes=[LANES[2]])]


@pytest.fixture
def app(db_url):
    app = gen_api_app(db_url)
    yield app
    close_app(app)


def _old_view_items(app, username: str, query: dict) -> list[dict]:
    """What GET /api/v1/tasks answered when it listed session objects (the view's code before list_task_rows)."""
    with database(app).session_factory() as session:
        user = session.query(User).filter_by(username=username).one()
        lane, assignee = query.get("lane"), query.get("assignee")
        lanes = [lane] if lane else None
        if lane is None and assignee is None and not is_admin(user):
            lanes = list(user.roles or ())
        rows = tasks.list_tasks(session, lanes=lanes, assignee=assignee, status=query.get("status", "open"),
                                business_key=query.get("business_key"), process_id=query.get("process_id"),
                                limit=int(query.get("limit", 50)), offset=int(query.get("offset", 0)))
        if not is_admin(user):
            rows = [r for r in rows if r.lane not in CASE_RULE_LANES or may_work_on(session, user, r)
                    or r.assignee == user.username]
        return [task_json(r) for r in rows]


def test_the_api_inbox_answers_what_the_object_listing_answered(app):
    """Plain lanes, and the owner and risk-engineer lanes whose case rules filter the page row by row."""
    lanes = ["reviewer", "clerk", OWNER_ROLE, AGENCY_ROLE]
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, bundle("simple.bpmn"), "tester")
        inst = instances.start_instance(session, "simple", {"amount": 1}, "alice")
        session.execute(insert(HumanTask), _rows(inst.id, lanes, 80))
    callers = {"amy": token_headers(app, "amy", OWNER_ROLE, AGENCY_ROLE, "reviewer"),
               "rita": token_headers(app, "rita", "reviewer", "clerk"),
               "root": token_headers(app, "root", ADMIN_ROLE)}
    client = app.test_client()
    queries = [{}, {"limit": "3", "offset": "2"}, {"lane": OWNER_ROLE}, {"lane": AGENCY_ROLE, "limit": "4"},
               {"assignee": "amy"}, {"business_key": "K-2"}, {"process_id": "other"}, {"status": "completed"}]
    shown = set()
    for (name, headers), query in itertools.product(callers.items(), queries):
        response = client.get("/api/v1/tasks", query_string=query, headers=headers)
        assert response.status_code == 200, response.json
        expected = _old_view_items(app, name, query)
        assert response.json["items"] == expected, (name, query)
        shown.update((name, item["lane"]) for item in expected)
    # amy's owner and agency tasks show only where she is the assignee or a named candidate
    amy_case_rows = [r for r in _rows(inst.id, lanes, 80) if r["lane"] in CASE_RULE_LANES and r["status"] == "open"]
    first = client.get("/api/v1/tasks", query_string={"limit": "200"}, headers=callers["amy"]).json["items"]
    assert {i["id"] for i in first if i["lane"] in CASE_RULE_LANES} == {
        r["id"] for r in amy_case_rows if r["assignee"] == "amy" or "amy" in (r["candidate_users"] or ())}
    assert {("amy", OWNER_ROLE), ("amy", AGENCY_ROLE), ("rita", "clerk"), ("root", None)} <= shown


def _review_task(session) -> HumanTask:
    """A review task with a form (simple.bpmn, amount > 5), beside the formless rows of `_fill`."""
    _fill(session, LANES, count=3)
    instances.start_instance(session, "simple", {"amount": 50}, "alice")
    commit(session)
    [task] = [t for t in tasks.list_tasks(session, limit=100) if t.form_ref]
    return task


def test_open_task_reads_what_get_task_and_form_schema_read(session):
    """One statement gives the task (the session's object) and its form; a task without a form has None."""
    real = _review_task(session)
    task, schema = tasks.open_task(session, real.id)
    assert task is tasks.get_task(session, real.id) and schema == tasks.form_schema(session, real)
    assert schema["required"] == ["approved"]
    assert tasks.open_task(session, "t001") == (session.get(HumanTask, "t001"), None)


def test_open_task_checks_before_it_loads_the_form_and_refuses_an_unknown_id(session, monkeypatch):
    real = _review_task(session)
    seen = []

    def refuse(task):
        seen.append(task.id)
        raise PermissionError("no")

    monkeypatch.setattr(definitions, "load", lambda *_a: pytest.fail("the form was loaded before the check"))
    with pytest.raises(PermissionError):
        tasks.open_task(session, real.id, check=refuse)
    assert seen == [real.id]
    with pytest.raises(TaskNotFound):
        tasks.open_task(session, "no-such-task", check=refuse)
    assert seen == [real.id]
