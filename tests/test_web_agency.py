"""The risk engineer's object rule: an engineer acts for one agency (attributes.agency_code) and sees only the
projects that agency is actively engaged on (LG-RM-HIRE), in the inbox, the task and case pages and the JSON
domain API; a refused engagement or another agency's project stays hidden."""

from __future__ import annotations

import re

import pytest
from web_factories import csrf_of, gen_app, gen_engaged_project, gen_user, login

from engine import db, definitions, instances
from web.accounts import find_user
from web.auth_tokens import issue_token
from web.db import database

pytestmark = pytest.mark.backends("sqlite")

AGENCY_A, AGENCY_B = "91330300RMA000000A", "91330300RMA000000B"


@pytest.fixture
def world(db_url):
    """Agency A engaged on LG-A-1, agency B on LG-B-1, A refused on LG-R-1; one engineer of each agency, one
    without an agency; a risk_engineer task (web_inspect) open on every project and on A's registration."""
    app = gen_app(db_url)
    cases = {no: gen_engaged_project(app, no, code, status) for no, code, status in
             (("LG-A-1", AGENCY_A, "active"), ("LG-B-1", AGENCY_B, "active"), ("LG-R-1", AGENCY_A, "refused"))}
    with db.unit_of_work(database(app).session_factory) as session:
        cases[f"AG-{AGENCY_A}"] = instances.start_instance(session, "web_inspect", {}, "tester",
                                                           business_key=f"AG-{AGENCY_A}").id
        find_user(session, "risk_engineer").attributes = {"agency_code": AGENCY_A}
        gen_user(session, "engineer_b", ["risk_engineer"], "乙机构工程师").attributes = {"agency_code": AGENCY_B}
        gen_user(session, "engineer_x", ["risk_engineer"], "未绑定机构")
        tokens = {u: issue_token(session, find_user(session, u))
                  for u in ("risk_engineer", "engineer_b", "engineer_x", "authority_officer")}
    app.cases, app.tokens = cases, tokens
    yield app
    database(app).engine.dispose()
    definitions.clear_cache()


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _task_of(app, key: str) -> str:
    page = _client(app, "administrator").get(f"/inbox?tab=all&q={key}").get_data(as_text=True)
    return re.search(r'href="/tasks/([0-9a-f-]{36})"', page).group(1)


def _api(app, username: str, path: str):
    return app.test_client().get(f"/api/v1{path}", headers={"Authorization": f"Bearer {app.tokens[username]}"})


def test_inbox_lists_only_the_agencys_engaged_projects_and_its_registration(world):
    for tab in ("unclaimed", "all"):
        page = _client(world, "risk_engineer").get(f"/inbox?tab={tab}").get_data(as_text=True)
        assert "LG-A-1" in page and f"AG-{AGENCY_A}" in page, tab
        assert "LG-B-1" not in page and "LG-R-1" not in page, tab  # another agency's; a refused engagement
    assert _client(world, "risk_engineer").get("/api/ui/inbox/counts").json == {"mine": 0, "unclaimed": 2,
                                                                               "all": 2}
    page_b = _client(world, "engineer_b").get("/inbox?tab=all").get_data(as_text=True)
    assert "LG-B-1" in page_b and "LG-A-1" not in page_b
    assert _client(world, "engineer_x").get("/api/ui/inbox/counts").json == {"mine": 0, "unclaimed": 0,
                                                                             "all": 0}


def test_engineer_of_agency_a_gets_403_on_the_task_and_case_of_agency_bs_project(world):
    client = _client(world, "risk_engineer")
    task_b = _task_of(world, "LG-B-1")
    assert client.get(f"/tasks/{task_b}").status_code == 403
    assert client.get(f"/cases/{world.cases['LG-B-1']}").status_code == 403
    assert client.get(f"/cases/{world.cases['LG-R-1']}").status_code == 403
    assert client.get(f"/tasks/{_task_of(world, 'LG-A-1')}").status_code == 200
    assert client.get(f"/cases/{world.cases['LG-A-1']}").status_code == 200
    assert _client(world, "engineer_b").get(f"/tasks/{task_b}").status_code == 200


def test_engineer_cannot_claim_or_complete_another_agencys_task_and_can_complete_its_own(world):
    client = _client(world, "risk_engineer")
    token = csrf_of(client.get("/inbox").get_data(as_text=True))
    task_b = _task_of(world, "LG-B-1")
    r = client.post("/inbox/claim", data={"csrf_token": token, "task_id": task_b}, follow_redirects=True)
    assert "不属于您的岗位" in r.get_data(as_text=True)
    assert client.post(f"/tasks/{task_b}", data={"csrf_token": token, "report_no": "R-X"}).status_code == 403
    assert "未认领" in _client(world, "administrator").get(f"/tasks/{task_b}").get_data(as_text=True)
    task_a = _task_of(world, "LG-A-1")
    done = client.post(f"/tasks/{task_a}", data={"csrf_token": token, "report_no": "R-1"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/inbox")


def test_json_projects_of_another_agency_are_hidden_and_refused(world):
    listed = _api(world, "risk_engineer", "/projects").json
    assert [p["project_no"] for p in listed["items"]] == ["LG-A-1"] and listed["total"] == 1
    assert _api(world, "risk_engineer", "/projects/LG-A-1").status_code == 200
    for path in ("/projects/LG-B-1", "/policies/IDI-LG-B-1", "/projects/LG-R-1"):
        refused = _api(world, "risk_engineer", path)
        assert refused.status_code == 403 and refused.json["error"] == "NotAllowed", path
        assert "agency_code" in refused.json["detail"]
    assert [p["project_no"] for p in _api(world, "engineer_b", "/projects").json["items"]] == ["LG-B-1"]
    assert _api(world, "engineer_x", "/projects").json["total"] == 0  # no agency: no projects
    assert _api(world, "authority_officer", "/projects").json["total"] == 3  # LG-OVERSIGHT: all of them


def test_administrator_sets_the_agency_a_risk_engineer_acts_for(world):
    admin = _client(world, "administrator")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert 'name="agency_code" value="91330300RMA000000A"' in page  # shown for risk engineers only
    with database(world).session_factory() as session:
        user_id = find_user(session, "engineer_x").id
    r = admin.post(f"/admin/users/{user_id}", data={"csrf_token": csrf_of(page), "display_name": "工程师X",
                                                   "roles": ["risk_engineer"], "active": "1",
                                                   "agency_code": f" {AGENCY_B} "})
    assert r.status_code == 302
    engineer = _client(world, "engineer_x")
    assert "LG-B-1" in engineer.get("/inbox?tab=all").get_data(as_text=True)
    assert [p["project_no"] for p in _api(world, "engineer_x", "/projects").json["items"]] == ["LG-B-1"]


def test_the_json_task_api_applies_the_agency_rule_too(world):
    """GET /api/v1/tasks lists, and GET/complete on one task allow, only the engineer's agency's cases."""
    task_a, task_b = _task_of(world, "LG-A-1"), _task_of(world, "LG-B-1")
    keys = {t["business_key"] for t in _api(world, "risk_engineer", "/tasks").json["items"]}
    assert "LG-A-1" in keys and "LG-B-1" not in keys and "LG-R-1" not in keys
    assert _api(world, "risk_engineer", f"/tasks/{task_b}").status_code == 403
    assert _api(world, "risk_engineer", f"/tasks/{task_a}").status_code == 200
    refused = world.test_client().post(f"/api/v1/tasks/{task_b}/claim",
                                       headers={"Authorization": f"Bearer {world.tokens['risk_engineer']}"})
    assert refused.status_code == 403 and refused.json["error"] == "NotAllowed"
    assert _api(world, "authority_officer", f"/tasks/{task_b}").status_code == 200  # reads everything
