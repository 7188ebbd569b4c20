"""The JSON API under /api/v1: tokens, roles, one unit of work per request, JSON errors, OpenAPI coverage."""

from __future__ import annotations

import functools
import io
import re
import sqlite3

import pytest
from conftest import BPMN_DIR, bundle
from sqlalchemy import event
from sqlalchemy.orm.exc import StaleDataError
from web_factories import close_app, gen_api_app, token_headers

from engine import db, handler
from web import config as app_config
from web.api import openapi
from web.auth_tokens import hash_token
from web.db import database
from web.models import ApiToken

API = "/api/v1"

#: errors the `api_test.flaky` service raises, one per call, before it succeeds
FLAKY_FAILURES: list[Exception] = []


@handler("api_test.flaky")
def _flaky(_ctx) -> dict:
    """A service task for api_service.bpmn that fails while FLAKY_FAILURES has errors."""
    if FLAKY_FAILURES:
        raise FLAKY_FAILURES.pop()
    return {"ok": True}


@pytest.fixture
def app(db_url):
    """A fresh app on a fresh, migrated database."""
    app = gen_api_app(db_url)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def gen_token(app):
    """Create a user with roles and return the headers carrying a fresh token for them."""

    return functools.partial(token_headers, app)


@pytest.fixture
def owner(gen_token):
    return gen_token("olga", "process_owner")


@pytest.fixture
def reviewer(gen_token):
    return gen_token("rita", "reviewer")


@pytest.fixture
def deployed(client, owner):
    """simple.bpmn and the api_* diagrams, deployed through the API."""
    r = client.post(f"{API}/definitions", json={"files": bundle("simple.bpmn", "api_message.bpmn",
                                                                "api_service.bpmn")}, headers=owner)
    assert r.status_code == 201, r.json
    return r.json["deployed"]


def start(client, headers, process_id="simple", data=None, key="K-1"):
    r = client.post(f"{API}/instances", json={"process_id": process_id, "data": data or {"amount": 7},
                                              "business_key": key}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def complete(client, headers, task_id, data):
    return client.post(f"{API}/tasks/{task_id}/complete", json={"data": data}, headers=headers)


def only_task(client, headers, lane="reviewer"):
    r = client.get(f"{API}/tasks", query_string={"lane": lane}, headers=headers)
    assert r.status_code == 200
    [task] = r.json["items"]
    return task


# --- deploy ------------------------------------------------------------------------------------------

def test_deploy_json_bundle_creates_version_one_then_is_idempotent(client, owner):
    files = bundle("simple.bpmn")
    first = client.post(f"{API}/definitions", json={"files": files}, headers=owner)
    assert first.status_code == 201
    assert first.json["deployed"] == [{"process_id": "simple", "version": 1,
                                       "definition_id": first.json["deployed"][0]["definition_id"],
                                       "created": True}]
    again = client.post(f"{API}/definitions", json={"files": files}, headers=owner)
    assert again.json["deployed"][0]["version"] == 1 and again.json["deployed"][0]["created"] is False
    listed = client.get(f"{API}/definitions", headers=owner).json["items"]
    assert [(d["process_id"], d["version"], d["forms"]) for d in listed] == [
        ("simple", 1, ["review.schema.json"])]
    versions = client.get(f"{API}/definitions/simple/versions", headers=owner).json["items"]
    assert [v["version"] for v in versions] == [1]


def test_deploy_multipart_upload(client, owner):
    data = {"files": [(io.BytesIO((BPMN_DIR / "simple.bpmn").read_bytes()), "simple.bpmn"),
                      (io.BytesIO((BPMN_DIR / "forms" / "review.schema.json").read_bytes()),
                       "forms/review.schema.json")],
            "note": "first upload"}
    r = client.post(f"{API}/definitions", data=data, headers=owner, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    assert r.json["deployed"][0]["process_id"] == "simple"


def test_deploy_lint_error_is_422_with_problems_and_stores_nothing(client, owner):
    files = bundle("simple.bpmn")
    files["simple.bpmn"] = files["simple.bpmn"].replace('name="reviewer"', 'name="nobody_role"')
    r = client.post(f"{API}/definitions", json={"files": files}, headers=owner)
    assert r.status_code == 422
    assert r.json["error"] == "DefinitionInvalid" and r.json["detail"]
    assert any(p["file"] == "simple.bpmn" and "nobody_role" in p["message"] for p in r.json["problems"])
    assert client.get(f"{API}/definitions", headers=owner).json["items"] == []


def test_deploy_body_without_files_is_400(client, owner):
    r = client.post(f"{API}/definitions", json={"note": "nothing"}, headers=owner)
    assert r.status_code == 400 and r.json["error"] == "BadRequest" and "files" in r.json["detail"]


# --- the happy path ----------------------------------------------------------------------------------

def test_start_task_complete_end_over_http(client, deployed, reviewer):
    inst = start(client, reviewer, data={"amount": 7}, key="K-HTTP")
    assert inst["status"] == "running" and inst["business_key"] == "K-HTTP"
    task = only_task(client, reviewer)
    assert task["instance_id"] == inst["id"] and task["title"] == "Review"
    detail = client.get(f"{API}/tasks/{task['id']}", headers=reviewer).json
    assert detail["form_schema"]["required"] == ["approved"]

    r = complete(client, reviewer, task['id'], {"approved": True})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed" and r.json["completed_by"] == "rita"

    got = client.get(f"{API}/instances/{inst['id']}", headers=reviewer).json
    assert got["status"] == "completed"
    assert got["variables"]["approved"] is True and got["variables"]["total"] == 14
    assert [e["action"] for e in got["history"]][:2] == ["start", "complete"]
    assert got["tasks"] == []


def test_default_task_list_is_the_callers_lanes(client, deployed, reviewer, gen_token):
    start(client, reviewer)
    clerk = gen_token("carl", "clerk")
    assert len(client.get(f"{API}/tasks", headers=reviewer).json["items"]) == 1
    assert client.get(f"{API}/tasks", headers=clerk).json["items"] == []


def test_instances_filter_and_paginate(client, deployed, reviewer):
    for i in range(3):
        start(client, reviewer, key=f"P-{i}")
    start(client, reviewer, data={"amount": 1}, key="Q-1")  # small amount: ends at once
    r = client.get(f"{API}/instances", query_string={"status": "running", "limit": 2}, headers=reviewer).json
    assert r["total"] == 3 and len(r["items"]) == 2 and r["limit"] == 2
    r = client.get(f"{API}/instances", query_string={"business_key": "Q"}, headers=reviewer).json
    assert [i["status"] for i in r["items"]] == ["completed"]
    bad = client.get(f"{API}/instances", query_string={"limit": "many"}, headers=reviewer)
    assert bad.status_code == 400 and bad.json["error"] == "BadRequest"


def test_message_reaches_the_waiting_instance(client, deployed, reviewer):
    inst = start(client, reviewer, "api_message", data={"claim_no": "C-7"}, key="C-7")
    r = client.post(f"{API}/messages", json={"name": "api_payment", "correlation": "C-7",
                                             "payload": {"claim_no": "C-7", "paid": 100}}, headers=reviewer)
    assert r.status_code == 200, r.json
    assert r.json["id"] == inst["id"]
    assert only_task(client, reviewer)["instance_id"] == inst["id"]


def test_message_without_a_key_is_400_and_unmatched_is_404(client, deployed, reviewer):
    r = client.post(f"{API}/messages", json={"name": "api_payment"}, headers=reviewer)
    assert r.status_code == 400
    r = client.post(f"{API}/messages", json={"name": "api_payment", "business_key": "NONE"}, headers=reviewer)
    assert r.status_code == 404 and r.json["error"] == "MessageNotCorrelated"


def test_failed_service_task_is_an_incident_that_a_retry_resolves(client, deployed, reviewer):
    FLAKY_FAILURES.append(RuntimeError("service down"))
    inst = start(client, reviewer, "api_service", data={}, key="S-1")
    [incident] = client.get(f"{API}/incidents", headers=reviewer).json["items"]
    assert incident["instance_id"] == inst["id"] and "service down" in incident["message"]
    r = client.post(f"{API}/incidents/{incident['id']}/retry", headers=reviewer)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "resolved"
    assert client.get(f"{API}/incidents", headers=reviewer).json["items"] == []
    assert only_task(client, reviewer)["instance_id"] == inst["id"]
    again = client.post(f"{API}/incidents/{incident['id']}/retry", headers=reviewer)
    assert again.status_code == 409


# --- refusals ----------------------------------------------------------------------------------------

def test_invalid_form_is_422_per_field_and_nothing_is_saved(client, deployed, reviewer):
    inst = start(client, reviewer)
    task = only_task(client, reviewer)
    r = complete(client, reviewer, task['id'], {"comment": 5})
    assert r.status_code == 422
    assert r.json["error"] == "FormInvalid"
    assert set(r.json["fields"]) == {"approved", "comment"}
    assert only_task(client, reviewer)["status"] == "open"
    got = client.get(f"{API}/instances/{inst['id']}", headers=reviewer).json
    assert got["status"] == "running" and [e["action"] for e in got["history"]] == ["start"]


def test_second_completion_is_409(client, deployed, reviewer, gen_token):
    start(client, reviewer)
    task = only_task(client, reviewer)
    other = gen_token("rolf", "reviewer")
    first = complete(client, reviewer, task['id'], {"approved": True})
    assert first.status_code == 200
    second = complete(client, other, task['id'], {"approved": False})
    assert second.status_code == 409
    assert second.json["error"] == "TaskNotReady" and "rita" in second.json["detail"]


def test_claimed_task_can_only_be_completed_by_its_assignee(client, deployed, reviewer, gen_token):
    start(client, reviewer)
    task = only_task(client, reviewer)
    other = gen_token("rolf", "reviewer")
    assert client.post(f"{API}/tasks/{task['id']}/claim", headers=reviewer).json["assignee"] == "rita"
    r = complete(client, other, task['id'], {"approved": True})
    assert r.status_code == 403 and r.json["error"] == "NotAllowed"
    assert client.post(f"{API}/tasks/{task['id']}/unclaim", headers=other).status_code == 403
    assert client.post(f"{API}/tasks/{task['id']}/unclaim", headers=reviewer).json["assignee"] is None
    r = complete(client, other, task['id'], {"approved": True})
    assert r.status_code == 200


@pytest.mark.parametrize(("roles", "expected"), [
    (("reviewer",), 403), (("clerk", "developer"), 403), (("process_owner",), 201), (("administrator",), 201),
])
def test_only_process_owners_and_administrators_deploy(client, gen_token, roles, expected):
    headers = gen_token("u", *roles)
    r = client.post(f"{API}/definitions", json={"files": bundle("simple.bpmn")}, headers=headers)
    assert r.status_code == expected
    if expected == 403:
        assert r.json["error"] == "NotAllowed" and "process_owner" in r.json["required_roles"]


@pytest.mark.parametrize(("roles", "expected"), [
    (("clerk",), 403), (("process_owner",), 403), (("reviewer",), 200), (("administrator",), 200),
])
def test_only_the_lane_role_completes_or_claims_a_task(client, deployed, reviewer, gen_token, roles,
                                                      expected):
    start(client, reviewer)
    task = only_task(client, reviewer)
    headers = gen_token("u", *roles)
    assert client.post(f"{API}/tasks/{task['id']}/claim", headers=headers).status_code == expected
    r = complete(client, headers, task['id'], {"approved": True})
    assert r.status_code == expected


@pytest.mark.parametrize(("roles", "expected"), [(("reviewer",), 403), (("process_owner",), 200)])
def test_cancel_needs_process_owner(client, deployed, reviewer, gen_token, roles, expected):
    inst = start(client, reviewer)
    headers = gen_token("u", *roles)
    r = client.post(f"{API}/instances/{inst['id']}/cancel", json={"reason": "test"}, headers=headers)
    assert r.status_code == expected
    if expected == 200:
        assert r.json["status"] == "cancelled"
        left = client.get(f"{API}/tasks", query_string={"lane": "reviewer"}, headers=reviewer)
        assert left.json["items"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic eDp5"}])
def test_missing_or_unknown_token_is_401(client, headers):
    r = client.get(f"{API}/instances", headers=headers)
    assert r.status_code == 401
    assert r.json["error"] == "Unauthorized" and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_401_and_tokens_are_stored_hashed(app, client, reviewer):
    token = reviewer["Authorization"].split()[1]
    with db.unit_of_work(database(app).session_factory) as session:
        row = session.query(ApiToken).one()
        assert row.token_hash == hash_token(token) and token not in row.token_hash
        row.revoked = True
    assert client.get(f"{API}/instances", headers=reviewer).status_code == 401


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/instances/999"), ("post", "/instances/999/cancel"), ("get", "/tasks/no-such-task"),
    ("post", "/tasks/no-such-task/complete"), ("post", "/tasks/no-such-task/claim"),
    ("post", "/incidents/999/retry"), ("get", "/definitions/no_such_process/versions"), ("get", "/nowhere"),
])
def test_unknown_ids_are_404_json(client, gen_token, method, path):
    r = getattr(client, method)(API + path, json={}, headers=gen_token("admin", "administrator"))
    assert r.status_code == 404
    assert set(r.json) >= {"error", "detail"}


def test_unknown_process_is_404_on_start(client, reviewer):
    r = client.post(f"{API}/instances", json={"process_id": "nope"}, headers=reviewer)
    assert r.status_code == 404 and r.json["error"] == "DefinitionNotFound"


def test_stale_instance_is_409(client, deployed, reviewer, monkeypatch):
    start(client, reviewer)
    task = only_task(client, reviewer)

    def lose_race(*_args, **_kwargs):
        raise StaleDataError("UPDATE statement on table 'process_instance' expected to update 1 row(s)")

    monkeypatch.setattr("engine.tasks.complete_task", lose_race)
    r = complete(client, reviewer, task['id'], {"approved": True})
    assert r.status_code == 409 and r.json["error"] == "InstanceConflict"


@pytest.mark.backends("sqlite")
def test_write_requests_take_the_sqlite_write_lock_at_begin(app, client, deployed, reviewer):
    """POSTs begin with BEGIN IMMEDIATE (no read-to-write lock upgrade); GETs begin plainly."""
    statements: list[str] = []

    @event.listens_for(database(app).engine, "connect")
    def _trace(dbapi_conn, _record):
        dbapi_conn.set_trace_callback(statements.append)

    database(app).engine.dispose()
    start(client, reviewer)
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE"]
    statements.clear()
    client.get(f"{API}/instances", headers=reviewer)
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN"]


@pytest.mark.backends("sqlite")
def test_locked_sqlite_database_is_409(app, client, reviewer, db_url):
    """A writer holding the lock makes a write request answer 409 DatabaseBusy; readers go on."""
    @event.listens_for(database(app).engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=100")

    database(app).engine.dispose()
    holder = sqlite3.connect(db_url[len("sqlite:///"):], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = client.post(f"{API}/instances", json={"process_id": "simple"}, headers=reviewer)
        assert r.status_code == 409 and r.json["error"] == "DatabaseBusy"
        assert client.get(f"{API}/instances", headers=reviewer).status_code == 200  # readers are not blocked
    finally:
        holder.rollback()
        holder.close()


# --- the OpenAPI document ------------------------------------------------------------------------------

def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len(API):])


def test_openapi_describes_exactly_the_registered_api_routes(app, client):
    doc = client.get(f"{API}/openapi.json")
    assert doc.status_code == 200 and doc.json["openapi"].startswith("3.")
    registered = {(_openapi_path(r.rule), m.lower()) for r in app.url_map.iter_rules()
                  if r.rule.startswith(API + "/") for m in r.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, ops in doc.json["paths"].items() for method in ops}
    assert registered == described
    for path, ops in doc.json["paths"].items():
        declared = {p["name"] for op in ops.values() for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([a-z_]+)}", path)), path


def test_every_operation_documents_its_errors_as_the_error_schema():
    for path, ops in openapi.document()["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (path, method)
            if op.get("security") != []:
                assert "401" in op["responses"], (path, method)


# --- the app factory -------------------------------------------------------------------------------------

def test_settings_come_from_defaults_then_environment_then_the_callers_dict(monkeypatch):
    monkeypatch.setenv("IDIFLOW_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("IDIFLOW_SECRET_KEY", "env-secret")
    monkeypatch.setenv("IDIFLOW_ENV", "production")
    settings = app_config.resolve()
    assert (settings["IDIFLOW_DATABASE_URL"], settings["SECRET_KEY"], settings["IDIFLOW_ENV"]) == (
        "sqlite:///from-env.db", "env-secret", "production")
    assert app_config.resolve({"IDIFLOW_DATABASE_URL": "sqlite:///given.db"})["IDIFLOW_DATABASE_URL"] == \
        "sqlite:///given.db"


def test_production_without_a_secret_key_is_refused(monkeypatch):
    monkeypatch.delenv("IDIFLOW_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="IDIFLOW_SECRET_KEY"):
        app_config.resolve({"IDIFLOW_ENV": "production"})
    with pytest.raises(ValueError, match="IDIFLOW_ENV"):
        app_config.resolve({"IDIFLOW_ENV": "staging"})


def test_front_page_links_the_api_and_wrong_method_is_json_405(client):
    assert b"/api/v1/openapi.json" in client.get("/").data
    r = client.delete(f"{API}/openapi.json")
    assert r.status_code == 405 and r.json["error"] == "MethodNotAllowed"
