"""The claims endpoints: report at any hour; owners see their own claims, staff all (LG-CLM-CENTER)."""

from __future__ import annotations

import functools

import pytest
from test_claim_support import POLICY_NO, claim_bundle, gen_policy
from web_factories import close_app, gen_api_app, token_headers

from engine import db, definitions, tasks
from web.db import database

API = "/api/v1"
pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url):
    app = gen_api_app(db_url)
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, claim_bundle(), "process_owner")
    with database(app).session_factory() as session:
        gen_policy(session)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(app):
    return functools.partial(token_headers, app)


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


def _step(app, claim_no: str, name: str, data: dict, actor: str = "hc1") -> None:
    """Complete the claim's open step `name` through the engine, as the inbox would."""
    with db.unit_of_work(database(app).session_factory) as session:
        [row] = [t for t in tasks.list_tasks(session, business_key=claim_no) if t.task_name == name]
        tasks.complete_task(session, row.id, data, actor)


def _to_settlement_offer(app, client, owner) -> str:
    claim_no = _report(client, owner).json["claim_no"]
    _step(app, claim_no, "Task_survey", {"survey": {"findings": "卫生间楼板渗漏"}})
    _step(app, claim_no, "Task_decide_coverage", {"decision": {"covered": True, "reasons": "第5项"}})
    _step(app, claim_no, "Task_agree_settlement", {"settlement": {"method": "payment", "amount": "3000"}})
    return claim_no


def test_timeline_shows_history_sla_due_dates_and_open_steps(client, token):
    """DEC-SLA DEC-DAYS: reported Thursday 2030-01-10 23:30, the 2-day survey falls on Saturday → due at the
    end of Monday 01-14; the owner and staff see it, another owner does not."""
    owner = token("ou1", "owner")
    claim_no = _report(client, owner).json["claim_no"]
    r = client.get(f"{API}/claims/{claim_no}/timeline", headers=owner)
    assert r.status_code == 200, r.json
    assert [h["status"] for h in r.json["history"]] == ["reported", "routed_insurer"]
    assert r.json["service_levels"] == [{"sla": "survey", "task": "Task_survey", "state": "running",
                                         "due_at": "2030-01-15T00:00:00+08:00", "fired_at": None}]
    assert [(s["task"], s["lane"], s["due_at"]) for s in r.json["open_steps"]] == [
        ("Task_survey", "claims_handler", "2030-01-15T00:00:00+08:00")]
    assert (r.json["breach_count"], r.json["breaches"]) == (0, [])
    assert client.get(f"{API}/claims/{claim_no}/timeline", headers=token("ou2", "owner")).status_code == 403
    assert client.get(f"{API}/claims/{claim_no}/timeline", headers=token("au1", "authority_officer")).json[
        "claim_no"] == claim_no
    assert client.get(f"{API}/claims/CLM-19990101-0001/timeline", headers=owner).status_code == 404


def test_owner_withdraws_before_survey_then_it_is_a_conflict(app, client, token):
    """LG-CLM-CENTER: withdrawn while waiting for the survey; once surveyed, withdrawal answers 409."""
    owner = token("ou1", "owner")
    first = _report(client, owner).json["claim_no"]
    assert client.post(f"{API}/claims/{first}/withdraw", json={}, headers=token("ou2", "owner")).status_code == 403
    r = client.post(f"{API}/claims/{first}/withdraw", json={"reason": "已自行修复"}, headers=owner)
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["outcome"]) == ("closed", "withdrawn")
    second = _report(client, owner).json["claim_no"]
    _step(app, second, "Task_survey", {"survey": {"findings": "卫生间楼板渗漏"}})
    r = client.post(f"{API}/claims/{second}/withdraw", json={}, headers=owner)
    assert (r.status_code, r.json["error"]) == (409, "ClaimNotWithdrawable")
    assert "only a claim waiting for its survey" in r.json["detail"]


def test_owner_disputes_a_rejection_and_the_appraisal_starts(app, client, token):
    """LG-DSP-APPRAISAL: after the rejection notice the reporting owner disputes it through the API."""
    owner = token("ou1", "owner")
    claim_no = _report(client, owner).json["claim_no"]
    r = client.post(f"{API}/claims/{claim_no}/dispute", json={"grounds": "非使用不当"}, headers=owner)
    assert (r.status_code, r.json["error"]) == (409, "ClaimNotDisputable")  # not rejected yet
    _step(app, claim_no, "Task_survey", {"survey": {"findings": "卫生间楼板渗漏"}})
    _step(app, claim_no, "Task_decide_coverage", {"decision": {"covered": False, "exclusion": "improper_use",
                                                               "reasons": "业主自行改造卫生间"}})
    _step(app, claim_no, "Task_send_rejection_notice", {"rejection": {"reasons": "业主自行改造卫生间"}})
    assert client.post(f"{API}/claims/{claim_no}/dispute", json={}, headers=token("ou2", "owner")).status_code \
        == 403
    assert client.post(f"{API}/claims/{claim_no}/dispute", json={"kind": "price"}, headers=owner).status_code \
        == 422
    r = client.post(f"{API}/claims/{claim_no}/dispute", json={"grounds": "防水层施工缺陷"}, headers=owner)
    assert r.status_code == 200, r.json
    steps = client.get(f"{API}/claims/{claim_no}/timeline", headers=owner).json["open_steps"]
    assert [s["task"] for s in steps] == ["Task_propose_appraisal_body"]


def test_expert_bodies_are_registered_by_supervisor_and_checked_by_role(client, token):
    """LG-DSP-APPRAISAL LG-DSP-AMOUNT: the register of bodies; what each may do today is derived."""
    supervisor, handler, owner = token("sv1", "claims_supervisor"), token("hc1", "claims_handler"), \
        token("ou1", "owner")
    body = {"credit_code": "91330300SFJ0000001", "name": "温州求实司法鉴定所", "judicial_licence_no": "司鉴-33-01",
            "licence_valid_until": "2035-12-31"}
    r = client.post(f"{API}/expert-bodies", json=body, headers=supervisor)
    assert r.status_code == 201, r.json
    assert (r.json["may_appraise"], r.json["may_assess_loss"]) == (False, True)
    assert client.post(f"{API}/expert-bodies", json=body, headers=supervisor).status_code == 409
    appraiser = {"credit_code": "91330300JDJ0000001", "name": "浙江建科鉴定中心", "qualification_no": "JD-Q-33"}
    assert client.post(f"{API}/expert-bodies", json=appraiser, headers=token("au1", "authority_officer")) \
        .status_code == 201
    assert client.post(f"{API}/expert-bodies", json=appraiser, headers=owner).status_code == 403
    assert client.post(f"{API}/expert-bodies", json=appraiser, headers=handler).status_code == 403
    for bad in ({"credit_code": "X-1"}, {"qualification_no": "", "credit_code": "91330300JDJ0000002"}):
        r = client.post(f"{API}/expert-bodies", json={**appraiser, **bad}, headers=supervisor)
        assert r.status_code == 422 and r.json["detail"], r.json
    listed = client.get(f"{API}/expert-bodies?kind=loss_assessment", headers=handler)
    assert [b["credit_code"] for b in listed.json["items"]] == ["91330300SFJ0000001"]
    assert client.get(f"{API}/expert-bodies", headers=supervisor).json["total"] == 2
    assert client.get(f"{API}/expert-bodies", headers=owner).status_code == 403


def test_amount_dispute_uses_the_registered_licence(app, client, token):
    """LG-DSP-AMOUNT: the owner disputes the amount through the API; a body registered with a lapsed licence
    is refused at entrustment, one registered with a valid licence is entrusted."""
    supervisor, owner = token("sv1", "claims_supervisor"), token("ou1", "owner")
    for code, until in (("91330300SFJ0000009", "2020-12-31"), ("91330300SFJ0000008", "2099-12-31")):
        client.post(f"{API}/expert-bodies", headers=supervisor, json={
            "credit_code": code, "name": f"司法鉴定所 {code[-1]}", "judicial_licence_no": f"司鉴-{code[-1]}",
            "licence_valid_until": until})
    claim_no = _to_settlement_offer(app, client, owner)
    r = client.post(f"{API}/claims/{claim_no}/dispute", json={"kind": "amount", "grounds": "金额过低"},
                    headers=owner)
    assert (r.status_code, r.json["status"]) == (200, "amount_disputed")
    for code, expect in (("91330300SFJ0000009", "Task_propose_loss_assessor"),
                         ("91330300SFJ0000008", "Task_record_loss_assessment")):
        _step(app, claim_no, "Task_propose_loss_assessor", {"loss_body": {"body_code": code, "fee_payer": "owner"}})
        _step(app, claim_no, "Task_owner_agree_loss_assessor", {"body_agreement": {"agree": True}}, "ou1")
        steps = client.get(f"{API}/claims/{claim_no}/timeline", headers=owner).json["open_steps"]
        assert [s["task"] for s in steps] == [expect]
