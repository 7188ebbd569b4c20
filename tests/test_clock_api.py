"""/api/v1/clock and /api/v1/timers: anyone reads; process owners and administrators move the clock."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from conftest import bundle
from web_factories import close_app, gen_api_app, token_headers

from engine import clock, db
from web.db import database

API = "/api/v1"
START = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url):
    app = gen_api_app(db_url)
    previous = clock.install(clock.DatabaseClock(database(app).engine, ttl=0))
    yield app
    clock.install(previous)
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(app):
    return functools.partial(token_headers, app)


@pytest.fixture
def simulated(app):
    with db.unit_of_work(database(app).session_factory) as session:
        clock.simulate(session, START, "setup")


def test_anyone_with_a_token_reads_the_clock_in_local_time(client, token, simulated):
    r = client.get(f"{API}/clock", headers=token("rita", "reviewer"))
    assert r.status_code == 200
    assert (r.json["mode"], r.json["now_local"], r.json["next_due"]) == (
        "simulated", "2027-03-01T09:00:00+08:00", None)
    assert client.get(f"{API}/clock").status_code == 401


@pytest.mark.parametrize("roles, status", [(("administrator",), 200), (("process_owner",), 200),
                                           (("reviewer",), 403), ((), 403)])
def test_only_process_owners_and_administrators_move_the_clock(client, token, simulated, roles, status):
    r = client.post(f"{API}/clock/advance", json={"duration": "P1D"}, headers=token("u", *roles))
    assert r.status_code == status, r.json
    expected = "2027-03-02T09:00:00+08:00" if status == 200 else "2027-03-01T09:00:00+08:00"
    assert client.get(f"{API}/clock", headers=token("v", "reviewer")).json["now_local"] == expected


def test_moving_the_clock_fires_timers_and_lists_them(app, client, token, simulated):
    owner = token("olga", "process_owner")
    r = client.post(f"{API}/definitions", json={"files": bundle("tmr_date.bpmn")}, headers=owner)
    assert r.status_code == 201, r.json
    data = {"due_date": "2029-03-01T00:00:00+08:00"}
    r = client.post(f"{API}/instances", json={"process_id": "tmr_date", "data": data}, headers=owner)
    assert r.status_code == 201, r.json
    [timer] = client.get(f"{API}/timers", headers=owner).json["items"]
    assert (timer["task_name"], timer["due_local"], timer["status"]) == (
        "Event_expiry", "2029-03-01T00:00:00+08:00", "waiting")
    assert client.get(f"{API}/clock", headers=owner).json["next_due"] == "2029-02-28T16:00:00+00:00"

    r = client.post(f"{API}/clock/advance-to", json={"when": "2029-02-28T23:59:59"}, headers=owner)
    assert r.status_code == 200 and r.json["fired"] == []
    r = client.post(f"{API}/clock/next", headers=owner)
    assert r.status_code == 200
    assert [(f["task_name"], f["outcome"], f["lag_ms"]) for f in r.json["fired"]] == [
        ("Event_expiry", "fired", 0)]
    assert r.json["clock"]["now_local"] == "2029-03-01T00:00:00+08:00"
    assert client.get(f"{API}/timers", headers=owner).json["items"] == []
    [fired] = client.get(f"{API}/timers", query_string={"status": "all"}, headers=owner).json["items"]
    assert fired["status"] == "fired"


def test_the_system_clock_cannot_be_moved(client, token):
    r = client.post(f"{API}/clock/next", headers=token("olga", "process_owner"))
    assert r.status_code == 409 and r.json["error"] == "SimulatedClockRefused"


def test_production_refuses_to_move_the_clock(client, token, simulated, monkeypatch):
    monkeypatch.setenv("IDIFLOW_ENV", "production")
    r = client.post(f"{API}/clock/advance", json={"duration": "1d"}, headers=token("ada", "administrator"))
    assert r.status_code == 409 and "Production" in r.json["detail"]


def test_bad_input_is_400_with_what_to_send(client, token, simulated):
    owner = token("olga", "process_owner")
    assert client.post(f"{API}/clock/advance", json={"duration": "soon"}, headers=owner).status_code == 400
    assert client.post(f"{API}/clock/advance-to", json={"when": "tomorrow"}, headers=owner).status_code == 400
    r = client.post(f"{API}/clock/advance-to", json={"when": "2020-01-01"}, headers=owner)
    assert r.status_code == 422 and "cannot go back" in r.json["detail"]
