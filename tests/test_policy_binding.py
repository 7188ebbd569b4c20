"""Registration, quote and binding driven through the engine (LG-SCOPE, DEC-RATE, LG-PREM-*, LG-BIND-*)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select
from test_policy_support import (
    at,
    complete,
    deploy_workflows,
    open_tasks,
    pay,
    policy_of,
    project_form,
    start_policy,
    workflow_bundle,
)

from engine import definitions, instances
from engine.models import MessageSubscription
from handlers import master_data
from handlers.models import Payment, Project

pytestmark = pytest.mark.backends("sqlite")


def _register(session, fixed_clock, project_no="LG-1", deploy=True, **overrides):
    if deploy:
        deploy_workflows(session)
    fixed_clock.set(at(2026, 3, 2))
    inst = start_policy(session, project_no)
    complete(session, "Task_register_project", project_form(**overrides), "developer1", project_no)
    return inst


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"in_longgang": False}, "outside Longgang"),
        ({"project_type": "renovation"}, "not a new building"),
    ],
)
def test_project_out_of_scope_is_refused_with_the_reason(session, fixed_clock, overrides, words):  # LG-SCOPE
    inst = _register(session, fixed_clock, **overrides)
    project = session.scalars(select(Project).where(Project.project_no == "LG-1")).one()
    assert project.status == "refused" and words in project.refusal_reason
    assert instances.get_instance(session, inst.id).status == "completed"
    assert open_tasks(session) == []


def _quote(session, fixed_clock, qualification, credit, cost, deploy=True):
    parties = project_form()["project"]["parties"]
    parties["contractor"]["qualification_grade"] = qualification
    parties["developer"]["credit_grade"] = credit
    _register(session, fixed_clock, deploy=deploy, parties=parties, construction_cost=cost)
    return policy_of(session, "LG-1")


@pytest.mark.parametrize(
    "qualification, credit, cost, factors, rate, premium",
    [
        ("特级", "A", "100000000.00", ("0.90", "0.90"), "0.0125", "1250000.00"),  # 1.215% raised to the floor
        ("一级", "B", "12345678.91", ("0.95", "0.95"), "0.01353750", "167129.63"),  # 167129.628244125
        ("二级", "C", "1000003.00", ("1.00", "1.00"), "0.015", "15000.05"),  # 15000.045: half-up, not even
        ("二级", "C", "2000000.00", ("1.00", "1.00"), "0.015", "30000.00"),
    ],
)
def test_quote_shows_each_factor_from_the_decision_table(
    session, fixed_clock, qualification, credit, cost, factors, rate, premium
):
    """DEC-RATE LG-PREM-BASE LG-PREM-RATE: 1.50% x qualification x credit, floor 1.25%, half-up to 0.01."""
    policy = _quote(session, fixed_clock, qualification, credit, cost)
    quote = policy.quote
    assert quote["premium_base"] == cost and quote["base_rate"] == "0.0150" and quote["floor"] == "0.0125"
    assert (quote["qualification_factor"], quote["credit_factor"]) == factors
    assert quote["qualification_grade"] == qualification and quote["credit_grade"] == credit
    assert Decimal(quote["rate"]) == Decimal(rate) and quote["premium"] == premium
    assert policy.premium == Decimal(premium) and policy.status == "quoted"
    assert open_tasks(session) == ["Task_review_quote"]


def test_process_owner_edits_the_rate_table(session, fixed_clock):
    """LG-PREM-RATE DEC-RATE: a new base rate deployed in premium_rate.dmn is used by the next quote."""
    deploy_workflows(session)
    files = workflow_bundle()
    files["dmn/premium_rate.dmn"] = files["dmn/premium_rate.dmn"].replace('"0.0150"', '"0.0160"')
    versions = {d.process_id: d.version for d in definitions.deploy(session, files, "process_owner")}
    assert versions["idi_policy"] == 2
    policy = _quote(session, fixed_clock, "二级", "C", "1000000.00", deploy=False)
    assert policy.quote["base_rate"] == "0.0160" and policy.premium == Decimal("16000.00")


def test_underwriter_declines_the_risk(session, fixed_clock):  # LG-PREM-RATE
    _register(session, fixed_clock)
    complete(session, "Task_review_quote", {"review_decision": "decline", "review_note": "soil risk"}, "uw1")
    assert policy_of(session, "LG-1").status == "declined"


def test_insurer_comes_from_master_data(session, fixed_clock, tmp_path, monkeypatch):  # LG-INSURER
    assert "人保财险温州市分公司" in master_data.get("insurer")["name"]
    override = tmp_path / "master.json"
    override.write_text(
        json.dumps({"insurer": {**master_data.get("insurer"), "name": "Another Insurer Co."}})
    )
    monkeypatch.setenv("IDIFLOW_MASTER_DATA", str(override))
    master_data.reload()
    try:
        _register(session, fixed_clock)
        assert policy_of(session, "LG-1").insurer_name == "Another Insurer Co."
    finally:
        monkeypatch.delenv("IDIFLOW_MASTER_DATA")
        master_data.reload()


def _accept_and_sign(session, permit_status="not_applied", permit_applied_on=None):
    complete(session, "Task_review_quote", {"review_decision": "accept"}, "uw1")
    complete(
        session,
        "Task_sign_policy",
        {"permit_status": permit_status, "permit_applied_on": permit_applied_on},
        "developer1",
    )


def test_signing_after_permit_application_is_refused(session, fixed_clock):  # LG-BIND-PREPERMIT
    inst = _register(session, fixed_clock, permit_applied_on="2026-02-20")
    _accept_and_sign(session)
    policy = policy_of(session, "LG-1")
    assert policy.status == "refused" and policy.signed_at is None
    assert "LG-BIND-PREPERMIT" in policy.status_reason and "2026-02-20" in policy.status_reason
    assert instances.get_instance(session, inst.id).status == "completed"
    assert session.scalars(select(MessageSubscription)).all() == []


def test_permit_applied_between_quote_and_signing_refuses_signing(session, fixed_clock):  # LG-BIND-PREPERMIT
    _register(session, fixed_clock)
    _accept_and_sign(session, "applied", "2026-03-01")
    assert policy_of(session, "LG-1").status == "refused"


def test_signing_before_permit_then_full_payment_makes_effective(session, fixed_clock):
    """LG-BIND-PREPERMIT LG-BIND-LUMPSUM: signed before the permit; one full payment makes it effective."""
    _register(session, fixed_clock)
    _accept_and_sign(session)
    policy = policy_of(session, "LG-1")
    assert policy.status == "signed" and policy.signed_at == at(2026, 3, 2)
    pay(session, "LG-1", str(policy.premium))
    policy = policy_of(session, "LG-1")
    assert policy.status == "construction" and policy.effective_at is not None
    assert policy.project.permit_gate_open
    assert open_tasks(session) == ["Task_appoint_agency"]


def test_partial_payments_do_not_make_the_policy_effective(session, fixed_clock):  # LG-BIND-LUMPSUM
    _register(session, fixed_clock)
    _accept_and_sign(session)
    premium = policy_of(session, "LG-1").premium
    half = str(premium / 2)
    pay(session, "LG-1", half)
    pay(session, "LG-1", half)
    policy = policy_of(session, "LG-1")
    assert policy.status == "signed" and policy.effective_at is None and not policy.project.permit_gate_open
    payments = session.scalars(select(Payment)).all()
    assert [p.accepted for p in payments] == [False, False]
    assert "LG-BIND-LUMPSUM" in payments[0].reason
    assert open_tasks(session) == []
    pay(session, "LG-1", str(premium))
    assert policy_of(session, "LG-1").status == "construction"


def test_missing_contract_clause_is_flagged_and_blocks_the_permit_gate(
    session, fixed_clock
):  # LG-BIND-CONTRACT
    _register(session, fixed_clock, idi_clause_present=False)
    project = session.scalars(select(Project)).one()
    assert "LG-BIND-CONTRACT" in project.compliance_flag
    _accept_and_sign(session)
    pay(session, "LG-1", str(policy_of(session, "LG-1").premium))
    assert policy_of(session, "LG-1").status == "construction"
    session.expire_all()
    assert not session.scalars(select(Project)).one().permit_gate_open
    assert open_tasks(session) == ["Task_amend_contract"]
    complete(
        session,
        "Task_amend_contract",
        {"contract": {"contract_no": "HT-2", "idi_clause_present": True}},
        "developer1",
    )
    session.expire_all()
    project = session.scalars(select(Project)).one()
    assert project.permit_gate_open and project.compliance_flag == ""
    assert open_tasks(session) == ["Task_appoint_agency"]
