"""The IDI domain API under /api/v1: projects, policies, agencies, inspections, notices, via the engine."""

from __future__ import annotations

import pytest
from conftest import make_db
from test_policy_support import at, project_form, workflow_bundle

from engine import db, definitions
from web import create_app
from web.accounts import create_user
from web.auth_tokens import issue_token
from web.db import database

API = "/api/v1"
pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url, fixed_clock):
    """A fresh app on a fresh database with workflows/ deployed, on the fixed clock (2026-03-02 09:00)."""
    engine, factory = make_db(db_url)
    with db.unit_of_work(factory) as session:
        definitions.deploy(session, workflow_bundle(), "process_owner")
    engine.dispose()
    fixed_clock.set(at(2026, 3, 2))
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url})
    yield app
    database(app).engine.dispose()
    definitions.clear_cache()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def as_(app):
    """Headers with a fresh token for a user with roles (created on first use)."""
    made: dict[str, dict[str, str]] = {}

    def _as(username: str, *roles: str, attributes: dict | None = None) -> dict[str, str]:
        if username not in made:
            with db.unit_of_work(database(app).session_factory) as session:
                user = create_user(session, username, list(roles or (username,)))
                user.attributes = attributes or {}
                made[username] = {"Authorization": f"Bearer {issue_token(session, user)}"}
        return made[username]

    return _as


def _register(client, headers, **overrides):
    body = project_form(**overrides)
    return client.post(f"{API}/projects", json={"project_no": "LG-2026-101", **body}, headers=headers)


def _task(client, headers, name, key):
    r = client.get(f"{API}/tasks", query_string={"business_key": key}, headers=headers)
    return next(t for t in r.json["items"] if t["task_name"] == name and t["business_key"] == key)


def _complete(client, headers, name, key, data):
    r = client.post(
        f"{API}/tasks/{_task(client, headers, name, key)['id']}/complete",
        json={"data": data},
        headers=headers,
    )
    assert r.status_code == 200, r.json


# --- writes go through the process ---


def test_registering_a_project_starts_its_lifecycle_and_quotes_it(client, as_):
    """LG-SCOPE DEC-RATE: POST /projects starts idi_policy, stores the project and shows each quote factor."""
    r = _register(client, as_("developer"))
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["project_no"], body["status"], body["phase"]) == ("LG-2026-101", "registered", "quoted")
    quote = body["policy"]["quote"]
    assert (quote["qualification_factor"], quote["credit_factor"], quote["rate"], quote["premium"]) == (
        "0.90",
        "0.90",
        "0.0125",
        "1250000.00",
    )  # 1.5% x 0.9 x 0.9 = 1.215% < floor 1.25%
    assert quote["floor_applied"] is True
    assert [t["task_name"] for t in body["open_tasks"]] == ["Task_review_quote"]
    instances = client.get(
        f"{API}/instances",
        query_string={"business_key": "LG-2026-101"},
        headers=as_("admin", "administrator"),
    ).json["items"]
    assert [(i["process_id"], i["started_by"]) for i in instances] == [("idi_policy", "developer")]
    again = _register(client, as_("developer"))
    assert again.status_code == 409 and again.json["error"] == "ProjectExists"


def test_out_of_scope_registration_is_refused_with_the_reason(client, as_):  # LG-SCOPE
    r = _register(client, as_("developer"), in_longgang=False)
    assert r.status_code == 201
    assert r.json["status"] == "refused" and r.json["policy"] is None
    assert "outside Longgang" in r.json["flags"]["refusal_reason"]


def test_invalid_registration_form_is_422_and_nothing_is_stored(client, as_):
    r = client.post(f"{API}/projects", json={"project": {"name": "x"}}, headers=as_("developer"))
    assert r.status_code == 422 and "fields" in r.json
    assert client.get(f"{API}/projects", headers=as_("uw", "underwriter")).json["total"] == 0


def test_binding_over_the_api_review_sign_pay(client, as_):
    """LG-BIND-PREPERMIT LG-BIND-LUMPSUM: review, sign, partial then full payment, each a process step."""
    dev, uw = as_("developer"), as_("underwriter")
    _register(client, dev)
    policy = f"{API}/policies/IDI-LG-2026-101"
    early = client.post(f"{policy}/sign", json={"permit_status": "not_applied"}, headers=dev)
    assert early.status_code == 409 and early.json["waiting_for"] == ["Task_review_quote"]
    assert client.post(f"{policy}/review", json={"review_decision": "accept"}, headers=dev).status_code == 403
    assert client.post(f"{policy}/review", json={"review_decision": "accept"}, headers=uw).status_code == 200
    signed = client.post(f"{policy}/sign", json={"permit_status": "not_applied"}, headers=dev)
    assert signed.status_code == 200 and signed.json["status"] == "signed"
    assert client.post(f"{policy}/payments", json={"amount": "1"}, headers=dev).status_code == 403
    partial = client.post(f"{policy}/payments", json={"amount": "625000.00", "reference": "B-1"}, headers=uw)
    assert partial.status_code == 201
    assert (
        partial.json["payment"]["accepted"] is False
        and "LG-BIND-LUMPSUM" in partial.json["payment"]["reason"]
    )
    assert partial.json["policy"]["status"] == "signed"
    full = client.post(f"{policy}/payments", json={"amount": "1250000.00", "reference": "B-2"}, headers=uw)
    assert full.json["payment"]["accepted"] is True and full.json["policy"]["status"] == "construction"
    got = client.get(policy, headers=dev).json
    assert [p["accepted"] for p in got["payments"]] == [False, True]
    assert [h["status"] for h in got["status_history"]] == ["quoted", "signed", "construction"]
    project = client.get(f"{API}/projects/LG-2026-101", headers=dev).json
    assert project["flags"]["permit_gate_open"] is True
    assert [t["task_name"] for t in project["open_tasks"]] == ["Task_appoint_agency"]


def test_signing_after_the_permit_application_is_refused(client, as_):  # LG-BIND-PREPERMIT
    _register(client, as_("developer"))
    policy = f"{API}/policies/IDI-LG-2026-101"
    client.post(f"{policy}/review", json={"review_decision": "accept"}, headers=as_("underwriter"))
    r = client.post(
        f"{policy}/sign",
        json={"permit_status": "applied", "permit_applied_on": "2026-03-01"},
        headers=as_("developer"),
    )
    assert r.status_code == 200
    assert r.json["signed_at"] is None and "LG-BIND-PREPERMIT" in r.json["status_reason"]


def test_agency_registration_engagement_completion_exemption_and_notices(client, as_, fixed_clock):
    """LG-RM-REG LG-RM-HIRE LG-COV-START DEC-DATES LG-FUND-EXEMPT LG-NOTICE LG-NOTICE-DELIVER over the API."""
    dev, uw, rm, officer = (
        as_("developer"),
        as_("underwriter"),
        as_("risk_engineer", attributes={"agency_code": "91330300RMA0000001"}),  # acts for the agency it registers
        as_("authority_officer"),
    )
    _register(client, dev)
    policy = f"{API}/policies/IDI-LG-2026-101"
    client.post(f"{policy}/review", json={"review_decision": "accept"}, headers=uw)
    client.post(f"{policy}/sign", json={"permit_status": "not_applied"}, headers=dev)
    client.post(f"{policy}/payments", json={"amount": "1250000.00"}, headers=uw)
    agency = {"credit_code": "91330300RMA0000001", "name": "浙江安居风险管理有限公司"}
    assert (
        client.post(f"{API}/agencies/registrations", json={"agency": agency}, headers=uw).status_code == 403
    )
    applied = client.post(f"{API}/agencies/registrations", json={"agency": agency}, headers=rm)
    assert applied.status_code == 201 and applied.json["registration_status"] == "applied"
    refused = client.post(f"{policy}/agency", json={"agency_code": "91330300RMA0000001"}, headers=uw).json
    assert (
        refused["engagements"][0]["status"] == "refused"
        and "LG-RM-REG" in refused["engagements"][0]["reason"]
    )
    _complete(
        client,
        officer,
        "Task_review_registration",
        "AG-91330300RMA0000001",
        {"decision": {"approved": True, "reg_no": "LGRM-1", "reason": ""}},
    )
    assert client.get(f"{API}/agencies", headers=dev).json["items"][0]["registered"] is True
    engaged = client.post(f"{policy}/agency", json={"agency_code": "91330300RMA0000001"}, headers=uw).json
    assert [e["status"] for e in engaged["engagements"]] == ["refused", "active"]
    _complete(
        client, rm, "Task_file_plan", "LG-2026-101", {"plan": {"plan_no": "P-1", "stages": ["foundation"]}}
    )
    _complete(
        client, rm, "Task_inspect_stage", "LG-2026-101", {"report": {"report_no": "R-1", "findings": []}}
    )
    one = client.get(f"{API}/agencies/91330300RMA0000001", headers=dev).json
    assert [r["status"] for r in one["registrations"]] == ["registered"] and len(one["engagements"]) == 2

    fixed_clock.set(at(2027, 6, 30, 16))
    project = f"{API}/projects/LG-2026-101"
    assert (
        client.post(f"{project}/completion", json={"completion_date": "2027-06-30"}, headers=uw).status_code
        == 403
    )
    done = client.post(
        f"{project}/completion", json={"completion_date": "2027-06-30", "record_no": "JG-1"}, headers=officer
    )
    assert done.status_code == 200, done.json
    assert done.json["phase"] == "contractor_period"
    assert done.json["cover"] == {
        "contractor_start": "2027-06-30",
        "contractor_end": "2029-06-30",
        "cover_start": "2029-07-01",
        "end_items_1_4": "2039-06-30",
        "end_item_5": "2035-06-30",
        "end_items_6_8": "2031-06-30",
    }

    asked = client.post(f"{policy}/exemption", json={"request_exemption": True}, headers=dev)
    assert asked.status_code == 200 and asked.json["exemptions"][0]["status"] == "requested"
    inbox = client.get(f"{API}/tasks", headers=officer).json["items"]
    assert [t["task_name"] for t in inbox] == ["Task_decide_exemption"]  # the authority decides (user task)

    notices = client.get(f"{policy}/notices", headers=dev).json["items"]
    assert [n["unit_no"] for n in notices] == ["1-101", "1-102"]
    page = client.get(notices[0]["html"], headers=dev)
    assert page.status_code == 200 and page.mimetype == "text/html" and "2029-07-01" in page.get_data(True)
    pdf = client.get(notices[0]["pdf"], headers=dev)
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    delivered = client.post(
        f"{policy}/notices/delivery",
        json={"delivered_on": "2027-07-10", "units": ["1-101"], "recipient": "业主"},
        headers=dev,
    )
    assert [n["delivered_on"] for n in delivered.json["items"]] == ["2027-07-10", None]


@pytest.mark.parametrize(
    "path",
    [
        "/projects/LG-NONE",
        "/policies/IDI-NONE",
        "/policies/IDI-NONE/notices",
        "/notices/999/html",
        "/notices/999/pdf",
        "/inspections/999",
        "/agencies/NOPE",
        "/projects/LG-NONE/inspections",
    ],
)
def test_unknown_domain_ids_are_404_json(client, as_, path):
    r = client.get(API + path, headers=as_("authority_officer"))
    assert r.status_code == 404 and r.json["error"] == "NotFound"


def test_domain_writes_need_a_token(client):
    assert client.post(f"{API}/projects", json=project_form()).status_code == 401
