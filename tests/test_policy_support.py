"""Drivers for the IDI lifecycle tests: deploy workflows/, complete tasks by name, move the clock.

No tests live here; test_policy*.py and test_notice*.py import these helpers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import commit
from sqlalchemy import select

import handlers  # noqa: F401 - registers the IDI handlers and roles
from engine import clock, definitions, instances, messages, tasks, timers
from engine.models import ProcessInstance
from handlers.models import Policy, Project

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SH = clock.LOCAL_TZ


def workflow_bundle() -> dict[str, str]:
    """Every BPMN, DMN and form file in workflows/, as a deploy bundle."""
    files = {}
    for path in sorted(WORKFLOWS.rglob("*")):
        if path.suffix in (".bpmn", ".dmn") or path.name.endswith(".schema.json"):
            files[str(path.relative_to(WORKFLOWS))] = path.read_text(encoding="utf-8")
    return files


def deploy_workflows(session) -> list:
    """Deploy the whole of workflows/ and commit."""
    result = definitions.deploy(session, workflow_bundle(), "process_owner")
    commit(session)
    return result


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """An instant given in Asia/Shanghai local time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def party(code: str, name: str, **extra) -> dict:
    """Form data of one party."""
    return {"credit_code": code, "name": name, **extra}


def project_form(**overrides) -> dict:
    """A valid registration: new residential work in Longgang, cost 100,000,000.00, clause present."""
    project = {
        "name": "龙港新城安置房一期",
        "address": "龙港市新城大道1号",
        "district": "龙港市",
        "in_longgang": True,
        "project_type": "new_residential",
        "construction_cost": "100000000.00",
        "contract_no": "HT-2026-001",
        "idi_clause_present": True,
        "permit_applied_on": None,
        "units": ["1-101", "1-102"],
        "parties": {
            "developer": party("91330300DEV0000001", "龙港城投置业有限公司", credit_grade="A"),
            "contractor": party("91330300CON0000001", "浙江建工集团有限公司", qualification_grade="特级"),
            "designer": party("91330300DES0000001", "温州建筑设计院"),
            "supervisor": party("91330300SUP0000001", "龙港监理有限公司"),
        },
    }
    project.update(overrides)
    return {"project": project}


def open_task(session, name: str, business_key: str | None = None):
    """The one open inbox row for task `name` (optionally of one business key)."""
    rows = [t for t in tasks.list_tasks(session, business_key=business_key, limit=500) if t.task_name == name]
    assert rows, f"no open task {name}; open: {[t.task_name for t in tasks.list_tasks(session, limit=500)]}"
    assert len(rows) == 1, f"{len(rows)} open tasks named {name}"
    return rows[0]


def complete(session, name: str, data: dict, actor: str = "tester", business_key: str | None = None):
    """Complete the open task `name` with form data and commit, as the web inbox would."""
    row = open_task(session, name, business_key)
    tasks.complete_task(session, row.id, data, actor)
    commit(session)
    return row


def open_tasks(session, business_key: str | None = None) -> list[str]:
    """Names of the open tasks."""
    return sorted(t.task_name for t in tasks.list_tasks(session, business_key=business_key, limit=500))


def fire_due_timers(session) -> int:
    """Fire every timer that is due on the simulated clock (engine.timers), commit; how many fired."""
    results = timers.fire_due(session, owner="test")
    commit(session)
    return sum(1 for r in results if r.outcome == "fired")


def move_clock(session, fixed_clock, when: dt.datetime) -> int:
    """Set the simulated clock to `when` and fire what fell due."""
    fixed_clock.set(when)
    return fire_due_timers(session)


def policy_of(session, project_no: str) -> Policy:
    """The stored policy of a project (fresh from the database)."""
    session.expire_all()
    return session.scalars(select(Policy).join(Project).where(Project.project_no == project_no)).one()


def start_policy(session, project_no: str = "LG-2026-001", actor: str = "developer1") -> ProcessInstance:
    """Start the policy lifecycle for a project number and commit."""
    row = instances.start_instance(
        session,
        "idi_policy",
        {"project_no": project_no},
        actor,
        business_key=project_no,
        title=f"IDI {project_no}",
    )
    commit(session)
    return row


def register_agency(
    session,
    code: str = "91330300RMA0000001",
    name: str = "浙江安居风险管理有限公司",
    approved: bool = True,
    **extra,
) -> None:
    """Run the agency registration process to its decision (LG-RM-REG)."""
    instances.start_instance(session, "idi_agency_registration", {}, "agency1", business_key=f"AG-{code}")
    commit(session)
    complete(session, "Task_apply_registration", {"agency": party(code, name, **extra)}, "agency1")
    complete(
        session,
        "Task_review_registration",
        {"decision": {"approved": approved, "reg_no": "LGRM-001" if approved else "", "reason": ""}},
        "officer1",
    )


def bind_policy(session, project_no: str = "LG-2026-001", **project_overrides) -> ProcessInstance:
    """Register, quote, accept, sign and pay in full: the policy is effective and the permit gate open."""
    row = start_policy(session, project_no)
    complete(session, "Task_register_project", project_form(**project_overrides), "developer1", project_no)
    complete(
        session, "Task_review_quote", {"review_decision": "accept", "review_note": ""}, "uw1", project_no
    )
    complete(
        session,
        "Task_sign_policy",
        {"permit_status": "not_applied", "permit_applied_on": None},
        "developer1",
        project_no,
    )
    premium = policy_of(session, project_no).premium
    pay(session, project_no, str(premium))
    return row


def pay(session, project_no: str, amount: str) -> None:
    """The bank tells the engine a premium payment arrived."""
    messages.correlate_message(
        session, "premium_paid", {"amount": amount, "reference": "BANK-1"}, business_key=project_no
    )
    commit(session)


def run_risk_management(
    session, project_no: str = "LG-2026-001", stages=("foundation",), agency_code: str = "91330300RMA0000001"
) -> None:
    """Appoint the agency, file the plan and pass each stage's inspection with no findings."""
    complete(session, "Task_appoint_agency", {"agency_code": agency_code}, "uw1", project_no)
    complete(
        session,
        "Task_file_plan",
        {"plan": {"plan_no": "PLAN-1", "stages": list(stages)}},
        "agency1",
        project_no,
    )
    for i, _stage in enumerate(stages):
        complete(
            session, "Task_inspect_stage", {"report": {"report_no": f"R-{i}", "findings": []}}, "agency1"
        )


def accept_completion(session, project_no: str, completion_date: str) -> None:
    """The authority's completion-acceptance record arrives (records C)."""
    messages.correlate_message(
        session,
        "completion_accepted",
        {"completion_date": completion_date, "record_no": "JG-1"},
        business_key=project_no,
    )
    commit(session)


def covered_policy(
    session, fixed_clock, project_no: str = "LG-2026-001", completion: str = "2027-06-30", **project_overrides
) -> ProcessInstance:
    """A bound policy through risk management and completion acceptance (cover dates fixed)."""
    deploy_workflows(session)
    fixed_clock.set(at(2026, 3, 2))
    register_agency(session)
    row = bind_policy(session, project_no, **project_overrides)
    run_risk_management(session, project_no)
    c = dt.date.fromisoformat(completion)
    fixed_clock.set(at(c.year, c.month, c.day, 16))
    accept_completion(session, project_no, completion)
    return row
