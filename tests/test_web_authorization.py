"""Every page route x every role (and nobody): who gets in. POSTs without a CSRF token are refused."""

from __future__ import annotations

import io
import re

import pytest
from web_factories import csrf_of, gen_app, gen_case, gen_deploy, gen_engaged_project, gen_user, login

from engine import db, definitions
from handlers.roles import IDI_ROLES
from web.accounts import find_user
from web.db import database

pytestmark = pytest.mark.backends("sqlite")

PAGE_BLUEPRINTS = ("auth", "i18n", "inbox", "taskpage", "portal", "admin", "ui_api")
#: engineer_b is a risk engineer of another agency than the user risk_engineer (attributes.agency_code)
ROLES = (*IDI_ROLES, "engineer_b", "anonymous")
EVERYONE = set(ROLES)
LOGGED_IN = EVERYONE - {"anonymous"}
#: the task is in lane claims_handler; the supervisor supervises it, the authority and admin read everything
TASK_READERS = {"claims_handler", "claims_supervisor", "authority_officer", "administrator"}
CLAIM_READERS = {"owner", "claims_handler", "claims_supervisor", "authority_officer", "administrator"}
#: a risk_engineer task on a project only risk_engineer's agency is engaged on (not engineer_b's)
AGENCY_READERS = {"risk_engineer", "authority_officer", "administrator"}
AGENCY_A, AGENCY_B = "91330300RMA0000001", "91330300RMA0000002"

#: GET endpoint -> (URL template, roles allowed)
ALLOWED_GET = {
    "auth.home": ("/", EVERYONE),
    "auth.login": ("/login", EVERYONE),
    "i18n.switch": ("/lang/en", EVERYONE),
    "inbox.inbox": ("/inbox", LOGGED_IN),
    "taskpage.show": ("/tasks/{task_id}", TASK_READERS),
    "taskpage.case": ("/cases/{instance_id}", TASK_READERS),
    "taskpage.download": ("/files/{file_id}", TASK_READERS),
    "portal.home": ("/portal", {"owner", "administrator"}),
    "portal.report": ("/portal/report", {"owner", "administrator"}),
    "portal.claim": ("/portal/claims/{claim_no}", CLAIM_READERS),
    "admin.users": ("/admin/users", {"administrator"}),
    "ui_api.me": ("/api/ui/me", LOGGED_IN),
    "ui_api.inbox_counts": ("/api/ui/inbox/counts", LOGGED_IN),
    "ui_api.users": ("/api/ui/users", {"administrator"}),
}
#: the same page routes on objects under an object rule: (URL template, roles allowed)
OBJECT_GET = {
    "agency task": ("/tasks/{agency_task_id}", AGENCY_READERS),
    "agency case": ("/cases/{agency_instance_id}", AGENCY_READERS),
}
#: POST endpoints (each refuses a request without the CSRF token)
POSTS = {
    "auth.login": "/login", "auth.logout": "/logout", "inbox.claim": "/inbox/claim",
    "inbox.unclaim": "/inbox/unclaim", "inbox.bulk": "/inbox/bulk", "taskpage.complete": "/tasks/{task_id}",
    "taskpage.comment": "/cases/{instance_id}/comments", "taskpage.upload": "/cases/{instance_id}/files",
    "portal.report": "/portal/report", "admin.create": "/admin/users", "admin.update": "/admin/users/1",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app with a claims case, a case file and an owner's claim, shared by the matrix (read-only)."""
    path = tmp_path_factory.mktemp("authz") / "authz.db"
    app = gen_app(f"sqlite:///{path}")
    gen_deploy(app)
    instance_id = gen_case(app, "CASE-AUTHZ-1", "授权测试")
    handler = app.test_client()
    login(handler, "claims_handler")
    page = handler.get("/inbox?tab=unclaimed").get_data(as_text=True)
    task_id = re.search(r"/tasks/([0-9a-f-]{36})", page).group(1)
    token = csrf_of(page)
    handler.post(f"/cases/{instance_id}/files", data={"csrf_token": token, "task_id": task_id,
                                                      "files": (io.BytesIO(b"report"), "survey.txt")},
                 content_type="multipart/form-data")
    owner = app.test_client()
    login(owner, "owner")
    token = csrf_of(owner.get("/portal/report").get_data(as_text=True))
    r = owner.post("/portal/report", data={"csrf_token": token, "unit": "3-1202", "category": "5",
                                           "description": "卫生间渗水一周"})
    claim_no = re.search(r"claims/([A-Z0-9-]+)", r.headers["Location"]).group(1)
    agency_instance_id = gen_engaged_project(app, "LG-AUTHZ-A", AGENCY_A)
    with db.unit_of_work(database(app).session_factory) as session:
        find_user(session, "risk_engineer").attributes = {"agency_code": AGENCY_A}
        gen_user(session, "engineer_b", ["risk_engineer"]).attributes = {"agency_code": AGENCY_B}
    page = handler.get("/inbox?tab=all").get_data(as_text=True)  # the handler sees only the claims task
    admin_page = clients_admin_page(app, "LG-AUTHZ-A")
    agency_task_id = re.search(r"/tasks/([0-9a-f-]{36})", admin_page).group(1)
    assert agency_task_id != task_id and agency_task_id not in page
    ids = {"task_id": task_id, "instance_id": instance_id, "file_id": 1, "claim_no": claim_no,
           "agency_task_id": agency_task_id, "agency_instance_id": agency_instance_id}
    clients = {}
    for role in ROLES:
        client = app.test_client()
        if role != "anonymous":
            assert login(client, role).status_code == 302
        clients[role] = client
    yield app, ids, clients
    database(app).engine.dispose()
    definitions.clear_cache()


def test_matrix_covers_every_page_route(world):
    """A new page route must be added to this matrix (with its allowed roles) before it ships."""
    app, _ids, _clients = world
    found = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
             if rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS
             for method in rule.methods - {"HEAD", "OPTIONS"}}
    expected = {(e, "GET") for e in ALLOWED_GET} | {(e, "POST") for e in POSTS}
    assert found == expected


def clients_admin_page(app, query: str) -> str:
    """The administrator's "all" inbox tab searched for `query`."""
    admin = app.test_client()
    login(admin, "administrator")
    return admin.get(f"/inbox?tab=all&q={query}").get_data(as_text=True)


def _outcome(response, path: str) -> str:
    if response.status_code in (200, 304):
        return "ok"
    if response.status_code == 302:
        target = response.headers["Location"]
        return "login" if target.startswith("/login") and not path.startswith("/login") else "ok"
    return str(response.status_code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ALLOWED_GET))
def test_get_route_is_open_exactly_to_its_roles(world, endpoint, role):
    _app, ids, clients = world
    template, allowed = ALLOWED_GET[endpoint]
    path = template.format(**ids)
    response = clients[role].get(path)
    outcome = _outcome(response, path)
    if role in allowed:
        assert outcome == "ok", f"{role} should reach {path}, got {response.status_code}"
        return
    if path.startswith("/api/"):  # JSON answers: 401 for nobody, 403 for the wrong role
        assert response.status_code == (401 if role == "anonymous" else 403)
        assert response.is_json and response.json["error"] in ("Unauthorized", "NotAllowed")
    elif role == "anonymous" or endpoint.startswith(("portal.", "admin.")):  # role-gated pages
        assert outcome == "login", f"{role} should be sent to the login page from {path}"
    else:  # logged in, the page exists, but this case is not theirs
        assert outcome == "403", f"{role} should get 403 on {path}, got {response.status_code}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", sorted(OBJECT_GET))
def test_object_rule_route_is_open_exactly_to_its_readers(world, label, role):
    """A risk engineer sees only the cases of projects their agency is engaged on (engineer_b: 403)."""
    _app, ids, clients = world
    template, allowed = OBJECT_GET[label]
    path = template.format(**ids)
    outcome = _outcome(clients[role].get(path), path)
    expected = "ok" if role in allowed else "login" if role == "anonymous" else "403"
    assert outcome == expected, f"{role} on {label} {path}"


@pytest.mark.parametrize("endpoint", sorted(POSTS))
def test_post_without_csrf_token_is_refused(world, endpoint):
    _app, ids, clients = world
    response = clients["administrator"].post(POSTS[endpoint].format(**ids), data={"task_id": ids["task_id"]})
    assert response.status_code == 400


def test_wrong_role_cannot_claim_a_task_and_nothing_changes(world):
    app, ids, _clients = world
    client = app.test_client()
    login(client, "developer")
    token = csrf_of(client.get("/inbox").get_data(as_text=True))
    r = client.post("/inbox/claim", data={"csrf_token": token, "task_id": ids["task_id"]},
                    follow_redirects=True)
    assert "不属于您的岗位" in r.get_data(as_text=True)
    admin = app.test_client()
    login(admin, "administrator")
    page = admin.get(f"/tasks/{ids['task_id']}").get_data(as_text=True)
    assert "未认领" in page and "developer" not in page


def test_another_owner_cannot_see_someone_elses_claim(world):
    app, ids, _clients = world
    other = app.test_client()
    login(other, "owner2")
    assert other.get(f"/portal/claims/{ids['claim_no']}").status_code == 403
    assert ids["claim_no"] not in other.get("/portal").get_data(as_text=True)
