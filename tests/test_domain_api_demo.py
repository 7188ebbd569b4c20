"""The domain API's reads on the demo data (handlers/demo.py): lists by phase, role scopes, risk records."""

from __future__ import annotations

import shutil

import pytest
from test_policy_support import workflow_bundle

from engine import db, definitions
from handlers import demo
from web import create_app
from web.accounts import create_user, find_user
from web.auth_tokens import issue_token
from web.db import database

API = "/api/v1"


@pytest.fixture(scope="module")
def demo_template(sqlite_template, tmp_path_factory):
    """A SQLite database with the demo seeded once for this module (each test gets a copy)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    with db.unit_of_work(db.make_session_factory(engine)) as session:
        demo.seed(session, workflow_bundle())
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    definitions.clear_cache()
    return path


@pytest.fixture
def app(demo_template, tmp_path, fixed_clock):
    """An app on a copy of the demo database, on the demo's today."""
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    fixed_clock.set(demo.DEMO_TODAY)
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": f"sqlite:///{path}"})
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

    def _as(username: str, *roles: str) -> dict[str, str]:
        if username not in made:
            with db.unit_of_work(database(app).session_factory) as session:
                user = create_user(session, username, list(roles or (username,)))
                made[username] = {"Authorization": f"Bearer {issue_token(session, user)}"}
        return made[username]

    return _as


def test_project_list_by_phase_and_status(client, as_):
    officer = as_("authority_officer")  # LG-OVERSIGHT: the authority sees every project
    everything = client.get(f"{API}/projects", headers=officer).json
    assert everything["total"] == 10
    insured = client.get(f"{API}/projects", query_string={"phase": "insured"}, headers=officer).json
    assert [p["project_no"] for p in insured["items"]] == ["LG-2025-004"]
    refused = client.get(f"{API}/projects", query_string={"phase": "refused"}, headers=officer).json
    assert [p["project_no"] for p in refused["items"]] == ["LG-2030-010"]
    completed = client.get(f"{API}/projects", query_string={"status": "completed"}, headers=officer).json
    assert completed["total"] == 5


@pytest.mark.parametrize(
    ("user", "roles", "count"),
    [
        ("developer", ("developer",), 10),  # registered every demo project
        ("dev2", ("developer",), 0),
        ("builder", ("contractor",), 0),
        ("uw", ("underwriter",), 10),
        ("risk", ("risk_engineer",), 0),  # no attributes.agency_code: no agency, no projects
    ],
)
def test_project_reads_by_role(client, as_, user, roles, count):
    headers = as_(user, *roles)
    assert client.get(f"{API}/projects", headers=headers).json["total"] == count
    one = client.get(f"{API}/projects/LG-2025-004", headers=headers)
    assert one.status_code == (200 if count else 403)


def test_party_codes_let_a_contractor_read_its_projects(client, app, as_):
    headers = as_("c1", "contractor")
    with db.unit_of_work(database(app).session_factory) as session:
        find_user(session, "c1").attributes = {"party_codes": ["91330300CON0000001"]}  # 浙江建工集团
    rows = client.get(f"{API}/projects", headers=headers).json["items"]
    assert sorted(p["project_no"] for p in rows) == ["LG-2016-001", "LG-2025-004", "LG-2029-006"]


def test_agency_code_lets_a_risk_engineer_read_the_projects_its_agency_is_engaged_on(client, app, as_):
    """LG-RM-HIRE: agency A1 is engaged on three demo projects (refused A3's project shows only A1's)."""
    headers = as_("rm1", "risk_engineer")
    with db.unit_of_work(database(app).session_factory) as session:
        find_user(session, "rm1").attributes = {"agency_code": "91330300RMA0000001"}  # 浙江安居风险管理
    rows = client.get(f"{API}/projects", headers=headers).json["items"]
    assert sorted(p["project_no"] for p in rows) == ["LG-2016-001", "LG-2025-004", "LG-2029-006"]
    assert client.get(f"{API}/projects/LG-2019-002", headers=headers).status_code == 403


def test_owner_reads_no_projects(client, as_):
    assert client.get(f"{API}/projects", headers=as_("owner")).status_code == 403


def test_project_shows_inspections_findings_orders_and_major_copy(client, as_):
    """DEC-RM-LOOP LG-RM-MAJOR: the project under construction, its graded findings and the authority copy."""
    body = client.get(f"{API}/projects/LG-2029-006", headers=as_("authority_officer")).json
    assert body["phase"] == "construction" and body["cover"]["cover_start"] is None
    assert [i["stage"] for i in body["inspections"]] == ["foundation", "main_structure"]
    findings = body["inspections"][1]["findings"]
    assert [(f["grade"], f["rectification"]["status"]) for f in findings] == [
        ("serious", "open"),
        ("moderate", "open"),
        ("minor", "open"),
    ]
    assert findings[0]["rectification"]["escalation_level"] == 2
    [major] = body["major_risk_reports"]
    assert major["copied_at"] <= major["copy_due_at"] and major["acknowledged_at"] is None
    assert sorted(t["task_name"] for t in body["open_tasks"]) == [
        "Task_rectify",
        "Task_rectify",
        "Task_rectify",
        "Task_review_major_report",
    ]
    inspection = client.get(f"{API}/inspections/{major['inspection_id']}", headers=as_("developer")).json
    assert inspection["project_no"] == "LG-2029-006" and inspection["has_major"] is True
    orders = client.get(
        f"{API}/rectifications", query_string={"status": "open"}, headers=as_("developer")
    ).json
    assert [o["grade"] for o in orders["items"]] == ["serious", "moderate", "minor"]
    closed = client.get(
        f"{API}/rectifications", query_string={"status": "closed"}, headers=as_("developer")
    ).json
    assert [o["project_no"] for o in closed["items"]] == ["LG-2016-001"]
    listed = client.get(f"{API}/projects/LG-2029-006/inspections", headers=as_("developer")).json["items"]
    assert len(listed) == 2


def test_policy_shows_quote_factors_cover_fund_and_refused_cancellation(client, as_):
    """DEC-RATE DEC-DATES LG-FUND-EXEMPT LG-FUND-NOCANCEL on the expired demo policy."""
    dev = as_("developer")
    body = client.get(f"{API}/policies/IDI-LG-2016-001", headers=dev).json
    assert body["status"] == "expired" and body["fund_exempt"] is True and body["cancellable"] is False
    assert body["quote"]["qualification_grade"] == "特级" and body["quote"]["credit_grade"] == "A"
    assert body["cover"]["end_items_1_4"] == "2030-04-28"
    assert [c["status"] for c in body["cancellations"]] == ["refused"]
    again = client.post(f"{API}/policies/IDI-LG-2016-001/cancellation", json={"reason": "再试"}, headers=dev)
    assert again.status_code == 201
    assert [c["status"] for c in again.json["cancellations"]] == ["refused", "refused"]
    assert "LG-FUND-NOCANCEL" in again.json["cancellations"][1]["outcome_reason"]


def test_flags_show_the_missing_contract_clause(client, as_):  # LG-BIND-CONTRACT
    body = client.get(f"{API}/projects/LG-2030-007", headers=as_("underwriter")).json
    assert body["flags"]["idi_clause_present"] is False and body["flags"]["permit_gate_open"] is False
    assert "LG-BIND-CONTRACT" in body["flags"]["compliance_flag"]


def test_agency_register_and_refused_engagement(client, as_):  # LG-RM-REG LG-RM-INDEP
    items = client.get(f"{API}/agencies", headers=as_("owner")).json["items"]
    assert sorted(a["registration_status"] for a in items) == [
        "applied",
        "refused",
        "registered",
        "registered",
        "registered",
    ]
    sub = client.get(f"{API}/agencies/91330300RMA0000003", headers=as_("owner")).json
    [engagement] = sub["engagements"]
    assert engagement["status"] == "refused" and "subsidiary" in engagement["reason"]
    assert engagement["project_no"] == "LG-2029-006"


def test_demo_leaves_the_database_clock_at_its_today(client, as_):
    """The simulated clock row ends at the demo's today, so web, CLI and workers agree on 2030-06-01."""
    body = client.get(f"{API}/clock", headers=as_("authority_officer")).json
    assert (body["mode"], body["now_local"]) == ("simulated", "2030-06-01T09:00:00+08:00")
