"""The API's hot request path: bearer tokens cached briefly, task reads without a transaction on PostgreSQL."""

from __future__ import annotations

import time

import pytest
from conftest import bundle
from sqlalchemy import event
from web_factories import close_app, gen_api_app, token_headers

from engine import db
from web.accounts import create_user
from web.auth_tokens import issue_token
from web.db import database, socket_ping
from web.models import ApiToken, User

API = "/api/v1"


@pytest.fixture
def app(db_url):
    app = gen_api_app(db_url)
    yield app
    close_app(app)


@pytest.fixture
def headers(app):
    return token_headers(app, "rita", "reviewer")


def statements(app) -> list[str]:
    """A list that fills with every SQL statement the app's engine runs from now on."""
    seen: list[str] = []
    event.listen(database(app).engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: seen.append(sql))
    return seen


def test_a_known_token_is_not_looked_up_again_within_the_cache_time(app, headers):
    client = app.test_client()
    seen = statements(app)
    assert client.get(f"{API}/tasks", headers=headers).status_code == 200
    assert [s for s in seen if "api_token" in s]  # the first request looks the token up
    seen.clear()
    assert client.get(f"{API}/tasks", headers=headers).status_code == 200
    assert not [s for s in seen if "api_token" in s]


def test_revoking_a_token_in_this_process_takes_effect_at_once(app, headers):
    client = app.test_client()
    assert client.get(f"{API}/tasks", headers=headers).status_code == 200  # now cached
    with db.unit_of_work(database(app).session_factory) as session:
        session.query(ApiToken).one().revoked = True
    assert client.get(f"{API}/tasks", headers=headers).status_code == 401


def test_new_roles_given_in_this_process_apply_to_the_next_request(app, headers):
    client = app.test_client()
    assert client.get(f"{API}/tasks", headers=headers).status_code == 200
    assert not client.get(f"{API}/tasks", headers=headers).json["items"]
    with db.unit_of_work(database(app).session_factory) as session:
        session.query(User).filter_by(username="rita").one().active = False
    assert client.get(f"{API}/tasks", headers=headers).status_code == 401


def test_a_change_made_elsewhere_is_seen_when_the_cache_time_is_zero(db_url):
    """Another process's revocation is only seen after API_TOKEN_CACHE_SECONDS; 0 turns the cache off."""
    app = gen_api_app(db_url, API_TOKEN_CACHE_SECONDS=0)
    try:
        client, headers = app.test_client(), token_headers(app, "rita", "reviewer")
        assert client.get(f"{API}/tasks", headers=headers).status_code == 200
        with database(app).engine.begin() as conn:  # a Core write, as another process's would look
            conn.execute(ApiToken.__table__.update().values(revoked=True))
        assert client.get(f"{API}/tasks", headers=headers).status_code == 401
    finally:
        database(app).engine.dispose()


@pytest.mark.backends("postgres")
def test_task_reads_run_in_autocommit_on_postgres_and_writes_in_a_transaction(app, headers, monkeypatch):
    """psycopg sends BEGIN (and the pool a ROLLBACK) only for a connection that is not in autocommit."""
    client = app.test_client()
    client.get(f"{API}/tasks", headers=headers)
    modes: list[bool] = []
    event.listen(database(app).engine, "before_cursor_execute",
                 lambda conn, *_a: modes.append(conn.connection.driver_connection.autocommit))
    prepared_cursor = db.Prepared._cursor  # prepared reads (the inbox page, the task) fire no cursor events

    def recorded(self, conn, params):
        modes.append(conn.connection.driver_connection.autocommit)
        return prepared_cursor(self, conn, params)

    monkeypatch.setattr(db.Prepared, "_cursor", recorded)
    assert client.get(f"{API}/tasks", headers=headers).status_code == 200
    assert client.get(f"{API}/tasks/no-such-task", headers=headers).status_code == 404
    assert modes and all(modes)
    modes.clear()  # writes read through db.Prepared (no cursor events): their transaction's begin shows it
    event.listen(database(app).engine, "begin", lambda conn: modes.append(conn.connection.driver_connection.autocommit))
    assert client.post(f"{API}/tasks/no-such-task/complete", json={}, headers=headers).status_code == 404
    assert modes and not any(modes)


@pytest.mark.backends("postgres")
def test_the_pool_ping_sees_a_connection_the_server_ended_without_a_round_trip(app):
    """The web engine's pre-ping reads the socket: a healthy idle connection passes, an ended one does not."""
    engine = database(app).engine
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        pid = raw.info.backend_pid
        assert socket_ping(raw) is True
        with engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        for _ in range(100):  # the server's goodbye arrives a moment later
            if not socket_ping(raw):
                break
            time.sleep(0.01)
        assert socket_ping(raw) is False
        conn.invalidate()
    with engine.connect() as conn:  # the pool connects anew
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_task_in_the_callers_own_plain_lane_opens_without_a_visibility_query(app, headers):
    """The lane role alone shows the task may be seen; another user still gets 403 from the full rules."""
    client = app.test_client()
    with db.unit_of_work(database(app).session_factory) as session:
        owner = issue_token(session, create_user(session, "olga", ["process_owner"]))
        other = issue_token(session, create_user(session, "ivan", ["underwriter"]))
    r = client.post(f"{API}/definitions", json={"files": bundle("simple.bpmn")},
                    headers={"Authorization": f"Bearer {owner}"})
    assert r.status_code == 201, r.json
    r = client.post(f"{API}/instances", json={"process_id": "simple", "data": {"amount": 7}, "business_key": "K"},
                    headers={"Authorization": f"Bearer {owner}"})
    assert r.status_code == 201, r.json
    task_id = client.get(f"{API}/tasks", headers=headers).json["items"][0]["id"]
    seen = statements(app)
    assert client.get(f"{API}/tasks/{task_id}", headers=headers).status_code == 200
    # the task itself is read by a prepared statement (engine.tasks.get_task: no cursor events): any
    # human_task query seen here would be a visibility query
    assert [s for s in seen if "FROM human_task" in s] == []
    assert client.get(f"{API}/tasks/{task_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 403


def test_api_requests_leave_the_cookie_session_alone_and_pages_still_use_it(app, headers, monkeypatch):
    """An API call builds no cookie signer and sets no cookie; a page request still opens the session."""
    from flask.sessions import SecureCookieSessionInterface

    built: list[str] = []
    original = SecureCookieSessionInterface.get_signing_serializer
    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer",
                        lambda self, app: built.append("signer") or original(self, app))
    client = app.test_client()
    response = client.get(f"{API}/tasks", headers={**headers, "Cookie": "idiflow_session=garbage"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert built == []
    client.get("/login")
    assert built
