"""The claims endpoints: report at any hour; owners see their own claims, staff all (LG-CLM-CENTER)."""

from __future__ import annotations

import pytest
from conftest import make_db
from test_claim_support import POLICY_NO, claim_bundle, gen_policy

from engine import db, definitions
from web import create_app
from web.accounts import create_user
from web.auth_tokens import issue_token
from web.db import database

API = "/api/v1"
pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url):
    engine, _ = make_db(db_url)
    engine.dispose()
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url})
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, claim_bundle(), "process_owner")
    with database(app).session_factory() as session:
        gen_policy(session)
    yield app
    database(app).engine.dispose()
    definitions.clear_cache()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(app):
    def _gen(username: str, *roles: str) -> dict[str, str]:
        with db.unit_of_work(database(app).session_factory) as session:
            token = issue_token(session, create_user(session, username, list(roles)))
        return {"Authorization": f"Bearer {token}"}

    return _gen


def _report(client, headers, **body):
    body = {"policy_no": POLICY_NO, "unit": "1-101", "category": 5, "description": "卫生间渗漏",
            "reported_at": "2030-01-10T23:30:00+08:00", **body}
    return client.post(f"{API}/claims", json=body, headers=headers)


def test_owner_reports_at_night_and_gets_number_route_and_notice(client, token):
    """LG-CLM-CENTER DEC-COVDATE DEC-ROUTE: 23:30 CST is judged on its local date; notice has the dates."""
    owner = token("ou1", "owner")
    r = _report(client, owner)
    assert r.status_code == 201, r.json
    assert r.json["claim_no"] == "CLM-20300110-0001" and r.json["reporter"] == "ou1"
    assert (r.json["coverage_date"], r.json["route"]) == ("2030-01-10", "insurer")
    assert r.json["channel"] == "portal"
    assert "2029-07-01" in r.json["notice"] and "2035-06-30" in r.json["notice"]
    assert client.get(f"{API}/claims/CLM-20300110-0001", headers=owner).json["status"] == "routed_insurer"


def test_owners_see_only_their_own_claims_and_staff_see_all(client, token):
    first, second = token("ou1", "owner"), token("ou2", "owner")
    handler = token("hc1", "claims_handler")
    no1 = _report(client, first).json["claim_no"]
    r = _report(client, handler, reporter="电话报案 138xxxx", channel="hotline")
    assert r.status_code == 201 and r.json["reporter"] == "电话报案 138xxxx"
    assert r.json["channel"] == "hotline"
    assert [c["claim_no"] for c in client.get(f"{API}/claims", headers=second).json["items"]] == []
    assert [c["claim_no"] for c in client.get(f"{API}/claims", headers=first).json["items"]] == [no1]
    assert client.get(f"{API}/claims", headers=handler).json["total"] == 2
    assert client.get(f"{API}/claims/{no1}", headers=second).status_code == 403
    assert client.get(f"{API}/claims/{no1}", headers=handler).status_code == 200
    assert client.get(f"{API}/claims/CLM-19990101-0001", headers=handler).status_code == 404


@pytest.mark.parametrize("body, roles, status", [
    ({"category": "5"}, ("owner",), 400),
    ({"reported_at": "2030-01-10 23:30"}, ("owner",), 400),
    ({"channel": "fax"}, ("owner",), 422),
    ({"policy_no": "IDI-NONE"}, ("owner",), 404),
    ({"policy_no": None, "unit": "99-999"}, ("owner",), 404),
    ({}, ("developer",), 403),
])
def test_bad_reports_are_refused_with_the_reason(client, token, body, roles, status):
    r = _report(client, token("u1", *roles), **body)
    assert r.status_code == status, r.json
    assert r.json["detail"]


def test_unknown_policy_number_is_404_with_what_to_check(client, token):  # LG-CLM-CENTER
    r = _report(client, token("u1", "owner"), policy_no="IDI-LG-1999-404")
    assert (r.status_code, r.json["error"], r.json["policy_no"]) == (404, "PolicyNotFound", "IDI-LG-1999-404")
    assert "No policy numbered 'IDI-LG-1999-404'" in r.json["detail"] and "告知书" in r.json["detail"]
