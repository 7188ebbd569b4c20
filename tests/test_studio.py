"""The studio: drafts saved on the server and linted in place, deploy with a change summary, the sandbox
with its own database and clock, timer previews and who may use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_cockpit import studio_bundle, unit
from web_factories import csrf_of, gen_app, login

from engine import changes, definitions, instances
from engine.cli import collect_files
from engine.models import ProcessInstance

pytestmark = pytest.mark.backends("sqlite")
WORKFLOWS = Path(__file__).parent.parent / "workflows"
USER_TASK = """<bpmn:userTask id="Task_review" name="Review">{ext}</bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_review_end" sourceRef="Task_review" targetRef="EndEvent_wait"/>"""
FORM_EXT = """<bpmn:extensionElements><spiffworkflow:properties>
  <spiffworkflow:property name="formJsonSchemaFilename" value="{form}"/></spiffworkflow:properties>
  </bpmn:extensionElements>"""


@pytest.fixture
def app(db_url, tmp_path):
    app = gen_app(db_url, IDIFLOW_SANDBOX_DIR=str(tmp_path / "sandbox"))
    with unit(app) as session:
        definitions.deploy(session, studio_bundle("studio_wait.bpmn"), "owner")
    return app


def with_review(xml: str, form: str | None) -> str:
    """studio_wait with a user task 'Review' (in the underwriter lane) after the timer."""
    ext = FORM_EXT.format(form=form) if form else ""
    xml = xml.replace('targetRef="EndEvent_wait"/>', 'targetRef="Task_review"/>', 1)
    xml = xml.replace(
        '<bpmn:endEvent id="EndEvent_wait"', USER_TASK.format(ext=ext) + '\n<bpmn:endEvent id="EndEvent_wait"'
    )
    return xml.replace(
        "<bpmn:flowNodeRef>EndEvent_wait</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>EndEvent_wait</bpmn:flowNodeRef><bpmn:flowNodeRef>Task_review</bpmn:flowNodeRef>",
    )


def client_for(app, who="process_owner"):
    client = app.test_client()
    login(client, who)
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client, {"X-CSRF-Token": token, "Accept": "application/json"}


def open_draft(client, headers) -> int:
    page = client.get("/studio/")
    assert page.status_code == 200 and "studio_wait" in page.get_data(as_text=True)
    answer = client.post("/studio/drafts", data={"definition_id": 1, "csrf_token": headers["X-CSRF-Token"]})
    assert answer.status_code == 302
    return int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_save_pins_lint_problems_to_the_element_then_deploys_clean(app):
    client, headers = client_for(app)
    draft = open_draft(client, headers)
    xml = client.get(f"/studio/api/drafts/{draft}").get_json()["xml"]

    missing = client.put(f"/studio/api/drafts/{draft}", json={"xml": with_review(xml, None)}, headers=headers)
    assert missing.status_code == 200
    assert [(p["element"], p["message"]) for p in missing.get_json()["problems"]] == [
        ("Task_review", "The user task has no form schema.")
    ]
    unknown = client.put(
        f"/studio/api/drafts/{draft}", json={"xml": with_review(xml, "nope.schema.json")}, headers=headers
    ).get_json()["problems"]
    assert unknown[0]["element"] == "Task_review" and "nope.schema.json" in unknown[0]["message"]

    fixed = with_review(xml, "review.schema.json")
    assert (
        client.put(f"/studio/api/drafts/{draft}", json={"xml": fixed}, headers=headers).get_json()["problems"]
        == []
    )
    deployed = client.post(f"/studio/api/drafts/{draft}/deploy", json={}, headers=headers).get_json()
    assert deployed["version"] == 2 and deployed["created"]
    assert "Added task 'Review' (Task_review)." in deployed["changes"]
    versions = client.get("/studio/processes/studio_wait/versions").get_data(as_text=True)
    assert "Added task &#39;Review&#39; (Task_review)." in versions and "process_owner" in versions


def test_sandbox_runs_the_draft_on_its_own_clock_and_database(app):
    client, headers = client_for(app)
    draft = open_draft(client, headers)
    xml = client.get(f"/studio/api/drafts/{draft}").get_json()["xml"]
    client.put(
        f"/studio/api/drafts/{draft}", json={"xml": with_review(xml, "review.schema.json")}, headers=headers
    )

    state = client.post(
        f"/studio/api/drafts/{draft}/sandbox", json={"data": {}, "start_at": "2027-03-01"}, headers=headers
    ).get_json()
    assert state["diagrams"][0]["current"] == ["Event_wait_30d"]
    [timer] = state["timers"]
    assert timer["due_local"].startswith("2027-03-31T00:00")
    assert state["clock"]["local"].startswith("2027-03-01T00:00")

    moved = client.post(
        f"/studio/api/drafts/{draft}/sandbox/{state['instance_id']}/clock",
        json={"advance": "31d"},
        headers=headers,
    ).get_json()
    assert [f["timer"] for f in moved["fired"]] == ["Event_wait_30d"]
    assert moved["diagrams"][0]["current"] == ["Task_review"] and moved["timers"] == []
    [task] = moved["tasks"]
    done = client.post(
        f"/studio/api/drafts/{draft}/sandbox/{state['instance_id']}/tasks/{task['id']}",
        json={"data": {"approved": True}},
        headers=headers,
    ).get_json()
    assert done["status"] == "completed"
    with unit(app) as session:  # the real database never saw the sandbox instance
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


@pytest.mark.parametrize(
    ("kind", "expression", "data", "first"),
    [
        ("timeDuration", '"P2Y"', {}, "2029-03-01T00:00:00+08:00"),
        (
            "timeDate",
            "add_years(handover, 10)",
            {"handover": "2027-06-30T00:00:00+08:00"},
            "2037-06-30T00:00:00+08:00",
        ),
        ("timeCycle", '"R3/2027-03-01T00:00:00+08:00/P1Y"', {}, "2027-03-01T00:00:00+08:00"),
    ],
)
def test_timer_preview_evaluates_with_the_restricted_engine(app, kind, expression, data, first):
    client, headers = client_for(app)
    body = client.post(
        "/studio/api/timer-preview",
        json={"kind": kind, "expression": expression, "data": data, "sample_date": "2027-03-01"},
        headers=headers,
    )
    assert body.status_code == 200, body.get_json()
    assert body.get_json()["dates"][0] == first


def test_timer_preview_refuses_unquoted_and_unsafe_expressions(app):
    client, headers = client_for(app)
    for expression in ("P2Y", "__import__('os').getcwd()"):
        got = client.post(
            "/studio/api/timer-preview",
            json={"kind": "timeDuration", "expression": expression},
            headers=headers,
        )
        assert got.status_code == 422, expression


def test_side_panel_lists_registered_operators_forms_and_roles(app):
    client, headers = client_for(app)
    operators = {o["id"] for o in client.get("/studio/api/operators", headers=headers).get_json()}
    assert "engine.escalate" in operators
    draft = open_draft(client, headers)
    assert "review.schema.json" in client.get(f"/studio/api/forms?draft={draft}", headers=headers).get_json()
    assert "underwriter" in {r["id"] for r in client.get("/studio/api/roles", headers=headers).get_json()}
    descriptor = client.get("/studio/spiffworkflow-moddle.json").get_json()
    assert descriptor["uri"] == "http://spiffworkflow.org/bpmn/schema/1.0/core"


@pytest.mark.parametrize(
    ("who", "code"),
    [("process_owner", 200), ("administrator", 200), ("underwriter", 403), ("authority_officer", 403)],
)
def test_only_process_owners_and_administrators_use_the_studio(app, who, code):
    client, headers = client_for(app, who)
    assert client.get("/studio/api/operators", headers=headers).status_code == code


def test_change_summary_names_added_removed_renamed_tasks_and_changed_timers():
    old = (Path(__file__).parent / "studioflows" / "studio_wait.bpmn").read_text()
    new = (
        with_review(old, "review.schema.json")
        .replace('"P30D"', '"P60D"')
        .replace('name="Wait 30 days"', 'name="Wait 60 days"')
    )
    lines = changes.summarize(old, new).lines()
    assert "Added task 'Review' (Task_review)." in lines
    assert "Renamed Event_wait_30d: 'Wait 30 days' → 'Wait 60 days'." in lines
    assert 'Timer Wait 60 days (Event_wait_30d) changed: timeDuration "P30D" → timeDuration "P60D".' in lines
    assert any(line.startswith("Removed task 'Review'") for line in changes.summarize(new, old).lines())
    assert json.dumps(changes.summarize(None, old).to_dict())


@pytest.fixture
def policy_app(db_url, tmp_path):
    """Every diagram and decision table of workflows/ deployed, as `idiflow deploy workflows` does."""
    app = gen_app(db_url, IDIFLOW_SANDBOX_DIR=str(tmp_path / "sandbox"))
    with unit(app) as session:
        definitions.deploy(session, collect_files([str(WORKFLOWS)]), "owner")
    return app


def test_decision_tables_are_edited_with_the_draft_linted_and_deployed_together(policy_app):
    """DEC-RATE: the premium rate table is a draft file; saving lints it with the diagram, deploying makes
    one new idi_policy version whose spec holds the new value; unsafe or unknown files are refused."""
    client, headers = client_for(policy_app)
    with unit(policy_app) as session:
        policy = definitions.resolve(session, "idi_policy")
    assert 'class="edit-decisions" data-process="idi_policy"' in client.get("/studio/").get_data(as_text=True)
    opened = client.post("/studio/drafts", data={"definition_id": policy.id, "open": "decisions",
                                                 "csrf_token": headers["X-CSRF-Token"]})
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/decisions/dmn/premium_rate.dmn")
    page = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert "dmn-modeler.production.min.js" in page and "node_modules/dmn-js" in page
    draft = int(opened.headers["Location"].split("/drafts/")[1].split("/")[0])
    url = f"/studio/api/drafts/{draft}/decisions/dmn/premium_rate.dmn"
    xml = client.get(url, headers=headers).get_json()["xml"]
    assert '"0.0150"' in xml

    unsafe_input = xml.replace('registration["credit_grade"]', "__import__('os').getcwd()")
    problems = client.put(url, json={"xml": unsafe_input}, headers=headers).get_json()["problems"]
    assert [(p["file"], p["element"]) for p in problems] == [("dmn/premium_rate.dmn", "InputExpression_credit")]
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>' + xml.split("?>", 1)[1]
    assert client.put(url, json={"xml": doctype}, headers=headers).status_code == 422
    assert client.get(f"/studio/api/drafts/{draft}/decisions/dmn/other.dmn", headers=headers).status_code == 404

    assert client.put(url, json={"xml": xml.replace('"0.0150"', '"0.0160"')},
                      headers=headers).get_json()["problems"] == []
    deployed = client.post(f"/studio/api/drafts/{draft}/deploy", json={}, headers=headers).get_json()
    assert (deployed["process_id"], deployed["version"]) == ("idi_policy", 2)
    assert deployed["changes"] == ["Changed decision table dmn/premium_rate.dmn."]
    with unit(policy_app) as session:
        spec_json = definitions.resolve(session, "idi_policy").spec_json
    assert "0.0160" in spec_json and "0.0150" not in spec_json


def test_a_draft_whose_called_process_calls_another_deploys(policy_app):
    """idi_policy calls idi_inspection, which calls idi_rectification: the deploy finds the whole call tree."""
    client, headers = client_for(policy_app)
    with unit(policy_app) as session:
        policy = definitions.resolve(session, "idi_policy")
    draft = client.post("/studio/drafts", data={"definition_id": policy.id,
                                                "csrf_token": headers["X-CSRF-Token"]}).headers["Location"]
    draft_id = int(draft.rstrip("/").rsplit("/", 1)[-1])
    xml = client.get(f"/studio/api/drafts/{draft_id}", headers=headers).get_json()["xml"]
    assert client.put(f"/studio/api/drafts/{draft_id}", json={"xml": xml}, headers=headers).get_json()[
        "problems"] == []


#: every studio and cockpit route: (method, URL, who may use it); a new route must be added here
OWNERS, WATCHERS = {"process_owner", "administrator"}, {"process_owner", "administrator", "authority_officer"}
CONSOLE_ROUTES = {
    "studio.index": ("GET", "/studio/", OWNERS),
    "studio.create_draft": ("POST", "/studio/drafts", OWNERS),
    "studio.modeler": ("GET", "/studio/drafts/1", OWNERS),
    "studio.decisions": ("GET", "/studio/drafts/1/decisions/x.dmn", OWNERS),
    "studio.versions": ("GET", "/studio/processes/studio_wait/versions", OWNERS),
    "studio.draft_json": ("GET", "/studio/api/drafts/1", OWNERS),
    "studio.save_draft": ("PUT", "/studio/api/drafts/1", OWNERS),
    "studio.decision_json": ("GET", "/studio/api/drafts/1/decisions/x.dmn", OWNERS),
    "studio.save_decision": ("PUT", "/studio/api/drafts/1/decisions/x.dmn", OWNERS),
    "studio.deploy_draft": ("POST", "/studio/api/drafts/1/deploy", OWNERS),
    "studio.sandbox_start": ("POST", "/studio/api/drafts/1/sandbox", OWNERS),
    "studio.sandbox_state": ("GET", "/studio/api/drafts/1/sandbox/1", OWNERS),
    "studio.sandbox_clock": ("POST", "/studio/api/drafts/1/sandbox/1/clock", OWNERS),
    "studio.sandbox_complete": ("POST", "/studio/api/drafts/1/sandbox/1/tasks/x", OWNERS),
    "studio.forms": ("GET", "/studio/api/forms", OWNERS),
    "studio.operators": ("GET", "/studio/api/operators", OWNERS),
    "studio.role_list": ("GET", "/studio/api/roles", OWNERS),
    "studio.timer_preview": ("POST", "/studio/api/timer-preview", OWNERS),
    "studio.moddle_descriptor": ("GET", "/studio/spiffworkflow-moddle.json", OWNERS),
    "cockpit.instance_list": ("GET", "/cockpit/", WATCHERS),
    "cockpit.heatmap": ("GET", "/cockpit/heatmap/studio_wait", WATCHERS),
    "cockpit.incident_list": ("GET", "/cockpit/incidents", WATCHERS),
    "cockpit.incident_retry": ("POST", "/cockpit/incidents/1/retry", OWNERS),
    "cockpit.instance_page": ("GET", "/cockpit/instances/1", WATCHERS),
    "cockpit.instance_action": ("POST", "/cockpit/instances/1/suspend", OWNERS),
    "cockpit.instance_diagram": ("GET", "/cockpit/instances/1/diagram.json", WATCHERS),
    "cockpit.migration_plan": ("GET", "/cockpit/migrate/studio_wait", OWNERS),
    "cockpit.migration_run": ("POST", "/cockpit/migrate/studio_wait", OWNERS),
}


def test_console_matrix_covers_every_studio_and_cockpit_route(app):
    """A new studio or cockpit route must be added to CONSOLE_ROUTES (with who may use it) before it ships."""
    found = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
             if rule.endpoint.split(".")[0] in ("studio", "cockpit")
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert found == {(endpoint, method) for endpoint, (method, _url, _roles) in CONSOLE_ROUTES.items()}


@pytest.mark.parametrize("who", ["underwriter", "authority_officer", "claims_handler", "anonymous"])
def test_console_routes_refuse_everyone_else(app, who):
    """Each route answers 403 to a logged-in user without its roles and 401 to nobody (JSON callers)."""
    client, headers = (app.test_client(), {"Accept": "application/json"}) if who == "anonymous" else client_for(
        app, who)
    if who == "anonymous":
        headers["X-CSRF-Token"] = csrf_of(client.get("/login").get_data(as_text=True))
    for endpoint, (method, url, allowed) in CONSOLE_ROUTES.items():
        if who in allowed:
            continue
        got = client.open(url, method=method, json={} if method != "GET" else None, headers=headers)
        assert got.status_code == (401 if who == "anonymous" else 403), (endpoint, got.status_code)


def test_console_pages_open_for_their_roles(app):
    """The GET routes of the matrix answer 200 to a process owner (and the cockpit to the authority)."""
    with unit(app) as session:
        instances.start_instance(session, "studio_wait", {}, "tester")
    owner, headers = client_for(app)
    open_draft(owner, headers)
    officer, officer_headers = client_for(app, "authority_officer")
    for endpoint, (method, url, allowed) in CONSOLE_ROUTES.items():
        if method != "GET" or endpoint in ("studio.decisions", "studio.decision_json", "studio.sandbox_state"):
            continue  # those need a decision file or a sandbox run (tested above and in the browser)
        assert owner.get(url, headers={} if "/api/" not in url else headers).status_code == 200, endpoint
        if "authority_officer" in allowed:
            assert officer.get(url).status_code == 200, endpoint
