"""The operations cockpit: highlights of an instance waiting in a call activity, suspend/resume/cancel,
filters, incidents, heatmap, migration pages and who may do what."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update
from web_factories import csrf_of, gen_app, login

from engine import clock, db, definitions, instances, tasks
from engine.models import ProcessInstance, Timer
from web.db import database

pytestmark = pytest.mark.backends("sqlite")
HERE = Path(__file__).parent


def studio_bundle(*names: str) -> dict[str, str]:
    """Diagrams with layout from tests/studioflows plus the test forms."""
    files = {name: (HERE / "studioflows" / name).read_text() for name in names}
    for form in (HERE / "bpmn" / "forms").glob("*.json"):
        files[f"forms/{form.name}"] = form.read_text()
    return files


@pytest.fixture
def app(db_url):
    return gen_app(db_url)


def unit(app):
    return db.unit_of_work(database(app).session_factory)


@pytest.fixture
def parent_instance(app) -> int:
    """An eng_parent instance whose token waits in the called eng_child's user task."""
    with unit(app) as session:
        definitions.deploy(session, studio_bundle("eng_parent.bpmn", "eng_child.bpmn"), "owner")
    with unit(app) as session:
        return instances.start_instance(session, "eng_parent", {}, "tester", business_key="CALL-1").id


def owner_client(app, who: str = "process_owner"):
    client = app.test_client()
    login(client, who)
    return client


def test_instance_waiting_in_call_activity_highlights_the_call_and_the_child_task(app, parent_instance):
    client = owner_client(app)
    body = client.get(f"/cockpit/instances/{parent_instance}/diagram.json").get_json()
    parent, child = body["diagrams"]
    assert parent["process_id"] == "eng_parent" and parent["called_from"] is None
    assert parent["current"] == ["Call_child"] and parent["completed"] == ["StartEvent_parent"]
    assert parent["flows"] == ["Flow_to_call"]
    assert child["process_id"] == "eng_child" and child["called_from"] == "Call_child"
    assert child["current"] == ["Task_child_fill"] and child["completed"] == ["StartEvent_child"]
    assert 'id="eng_child"' in child["xml"] and 'id="eng_parent"' in parent["xml"]
    page = client.get(f"/cockpit/instances/{parent_instance}")
    assert page.status_code == 200 and "CALL-1" in page.get_data(as_text=True)


def test_suspended_instance_accepts_no_work_until_resumed(app, parent_instance):
    client = owner_client(app)
    page = client.get(f"/cockpit/instances/{parent_instance}").get_data(as_text=True)
    token = csrf_of(page)
    suspended = client.post(f"/cockpit/instances/{parent_instance}/suspend", data={"csrf_token": token})
    assert suspended.status_code == 302
    with unit(app) as session:
        assert session.get(ProcessInstance, parent_instance).status == "suspended"
        [task] = tasks.list_tasks(session, business_key="CALL-1")
        task_id = task.id
    with pytest.raises(Exception, match="suspended"), unit(app) as session:
        tasks.complete_task(session, task_id, {"note": "x"}, "clerk")
    client.post(f"/cockpit/instances/{parent_instance}/resume", data={"csrf_token": token})
    with unit(app) as session:
        assert session.get(ProcessInstance, parent_instance).status == "running"


def test_suspend_parks_timers_and_resume_restores_them(app):
    with unit(app) as session:
        definitions.deploy(session, studio_bundle("studio_wait.bpmn"), "owner")
    with unit(app) as session:
        iid = instances.start_instance(session, "studio_wait", {}, "tester").id
    client = owner_client(app)
    token = csrf_of(client.get(f"/cockpit/instances/{iid}").get_data(as_text=True))
    client.post(f"/cockpit/instances/{iid}/suspend", data={"csrf_token": token})
    with unit(app) as session:
        assert session.scalars(select(Timer.status).where(Timer.instance_id == iid)).all() == ["suspended"]
    client.post(f"/cockpit/instances/{iid}/resume", data={"csrf_token": token})
    with unit(app) as session:
        assert session.scalars(select(Timer.status).where(Timer.instance_id == iid)).all() == ["waiting"]
    client.post(f"/cockpit/instances/{iid}/cancel", data={"csrf_token": token})
    with unit(app) as session:
        assert session.get(ProcessInstance, iid).status == "cancelled"


def test_instance_list_filters(app, parent_instance):
    client = owner_client(app)
    listed = client.get("/cockpit/?process=eng_parent&status=running&key=CALL").get_data(as_text=True)
    assert "CALL-1" in listed
    assert "CALL-1" not in client.get("/cockpit/?status=completed").get_data(as_text=True)
    assert "CALL-1" not in client.get("/cockpit/?version=2").get_data(as_text=True)
    assert "CALL-1" not in client.get("/cockpit/?incident=yes").get_data(as_text=True)


def test_heatmap_counts_where_tokens_wait(app, parent_instance):
    body = owner_client(app).get("/cockpit/heatmap/eng_parent?format=json").get_json()
    # The user task waits in the child process; its inbox row belongs to the parent instance's process.
    assert {c["element"]: c["count"] for c in body["cells"]} == {"Task_child_fill": 1}
    assert owner_client(app).get("/cockpit/heatmap/eng_parent").status_code == 200


def test_heatmap_measures_timer_waits_from_when_the_token_reached_the_timer(app):
    """A timer's wait starts at timer.created_at, so waiting timers are coloured like tasks; rows written
    before that column existed are counted but marked unknown rather than given an invented wait."""
    fixed = clock.FixedClock(dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC))
    previous = clock.install(fixed)
    try:
        with unit(app) as session:
            definitions.deploy(session, studio_bundle("studio_wait.bpmn"), "owner")
        with unit(app) as session:
            old = instances.start_instance(session, "studio_wait", {}, "tester").id
        fixed.set(dt.datetime(2027, 3, 4, 1, 0, tzinfo=dt.UTC))
        with unit(app) as session:
            instances.start_instance(session, "studio_wait", {}, "tester")
        fixed.set(dt.datetime(2027, 3, 11, 1, 0, tzinfo=dt.UTC))
        client = owner_client(app)
        [cell] = client.get("/cockpit/heatmap/studio_wait?format=json").get_json()["cells"]
        assert (cell["element"], cell["kind"], cell["count"], cell["unknown"]) == ("Event_wait_30d", "timer", 2, 0)
        assert cell["oldest_seconds"] == 10 * 86400 and cell["avg_seconds"] == 8.5 * 86400
        assert cell["next_due"] == "2027-03-31T09:00:00+08:00"

        with unit(app) as session:
            session.execute(update(Timer).where(Timer.instance_id == old).values(created_at=None))
        [cell] = client.get("/cockpit/heatmap/studio_wait?format=json").get_json()["cells"]
        assert (cell["count"], cell["unknown"], cell["oldest_seconds"]) == (2, 1, 7 * 86400)
        page = client.get("/cockpit/heatmap/studio_wait").get_data(as_text=True)
        assert "Event_wait_30d" in page and "7.0" in page
    finally:
        clock.install(previous)


def test_migration_page_shows_the_dry_run(app, parent_instance):
    bundle = studio_bundle("eng_parent.bpmn", "eng_child.bpmn")
    bundle["eng_parent.bpmn"] = bundle["eng_parent.bpmn"].replace('name="Run the child"',
                                                                  'name="Run child v2"')
    with unit(app) as session:
        definitions.deploy(session, bundle, "owner")
    page = owner_client(app).get("/cockpit/migrate/eng_parent?from=1&to=2").get_data(as_text=True)
    assert "Call_child → Call_child" in page


@pytest.mark.parametrize(("who", "read", "act"), [
    ("process_owner", 200, 302), ("administrator", 200, 302), ("authority_officer", 200, 403),
    ("claims_handler", 403, 403),
])
def test_who_may_read_and_act_in_the_cockpit(app, parent_instance, who, read, act):
    client = owner_client(app, who)
    got = client.get(f"/cockpit/instances/{parent_instance}/diagram.json",
                     headers={"Accept": "application/json"})
    assert got.status_code == read
    token = csrf_of(client.get("/login").get_data(as_text=True))
    posted = client.post(f"/cockpit/instances/{parent_instance}/suspend", data={"csrf_token": token},
                         headers={"Accept": "application/json"})
    assert posted.status_code == act


def test_console_speaks_chinese_by_default_and_english_after_the_switch(app, parent_instance):
    """The UI is zh_CN unless the user picks English (/lang/en): pages, states and script texts."""
    client = owner_client(app)
    page = client.get(f"/cockpit/instances/{parent_instance}").get_data(as_text=True)
    assert "挂起" in page and "进行中" in page and "待触发定时器" in page
    texts = json.loads(re.search(r'<script type="application/json" id="ui-text">(.*?)</script>', page, re.S)[1])
    assert texts["clean"].startswith("✓ 没有问题") and texts["dmn"]["When"] == "当"
    assert ">Suspend<" not in page
    client.get("/lang/en?next=/cockpit/")
    page = client.get(f"/cockpit/instances/{parent_instance}").get_data(as_text=True)
    assert ">Suspend<" in page and "running" in page and "挂起" not in page


def test_every_studio_and_cockpit_text_has_a_chinese_translation():
    """Each text the studio and cockpit templates and views mark for translation is in the zh_CN catalog."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    web = HERE.parent / "web"
    with (web / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    method_map = [("templates/studio/**.html", "jinja2"), ("templates/cockpit/**.html", "jinja2"),
                  ("studio.py", "python"), ("cockpit.py", "python"), ("console_access.py", "python"),
                  ("drafts.py", "python"), ("sandbox.py", "python")]
    found, missing = 0, []
    for _file, _line, message, _comments, context in extract_from_dir(str(web), method_map):
        for text in (message if isinstance(message, tuple) else (message,)):
            found += 1
            entry = catalog.get(text, context=context)
            if entry is None or not entry.string:
                missing.append((context, text))
    assert found > 200 and missing == []
