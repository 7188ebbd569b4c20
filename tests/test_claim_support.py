"""Factories and drivers for the claims tests: a policy straight in the domain tables, expert bodies, reports,
tasks completed by name, the simulated clock moved through the real sweeper path. No tests live here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from conftest import commit
from sqlalchemy import select

import handlers  # noqa: F401 - registers the IDI and claims handlers, roles and tables
from engine import clock, definitions, tasks
from engine.models import HumanTask
from handlers import intake
from handlers.claim_models import Claim, ExpertBody
from handlers.dates import cover_dates
from handlers.models import Party, Policy, Project

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
SH = clock.LOCAL_TZ
POLICY_NO = "IDI-CLM-T1"
CONTRACTOR_CODE = "91330300CON0000009"


def claim_bundle() -> dict[str, str]:
    """workflows/claim*.bpmn with their forms."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(WORKFLOWS.glob("claim*.bpmn"))}
    for form in sorted((WORKFLOWS / "forms").glob("claim_*.schema.json")):
        files[f"forms/{form.name}"] = form.read_text(encoding="utf-8")
    return files


def deploy_claims(session) -> None:
    """Deploy the claim diagrams and commit."""
    definitions.deploy(session, claim_bundle(), "process_owner")
    commit(session)


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> dt.datetime:
    """An instant given in Asia/Shanghai local time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SH)


def gen_policy(session, completion: str = "2027-06-30", policy_no: str = POLICY_NO,
               units: tuple[str, ...] = ("1-101", "1-102")) -> Policy:
    """A policy with its cover dates stored (DEC-DATES), created directly in the domain tables."""
    suffix = policy_no[-4:]
    dev = Party(credit_code=f"91330300DEV000{suffix}", name="龙港城投置业", kind="developer")
    con = Party(credit_code=CONTRACTOR_CODE if policy_no == POLICY_NO else f"91330300CON000{suffix}",
                name="浙江建工集团", kind="contractor")
    session.add_all([dev, con])
    session.flush()
    c = dt.date.fromisoformat(completion)
    d = cover_dates(c)
    project = Project(project_no=f"LG-{suffix}", name="龙港新城安置房", in_longgang=True,
                      project_type="new_residential", construction_cost=Decimal("100000000.00"),
                      developer_id=dev.id, contractor_id=con.id, completion_date=c, units=list(units),
                      registered_at=at(2026, 3, 2), status="completed")
    session.add(project)
    session.flush()
    policy = Policy(policy_no=policy_no, project_id=project.id, insurer_name="人保财险温州市分公司",
                    status="contractor_period", premium_base=Decimal("100000000.00"), rate=Decimal("0.015"),
                    premium=Decimal("1500000.00"), contractor_start=c, contractor_end=d.contractor_end,
                    cover_start=d.cover_start, end_items_1_4=d.end_items_1_4, end_item_5=d.end_item_5,
                    end_items_6_8=d.end_items_6_8)
    session.add(policy)
    commit(session)
    return policy


def gen_body(session, credit_code: str, qualification_no: str = "JD-Q-001", judicial_licence_no: str = "",
             valid_until: dt.date | None = None, name: str = "") -> ExpertBody:
    """A registered appraisal / loss-assessment body."""
    body = ExpertBody(credit_code=credit_code, name=name or f"鉴定机构 {credit_code}",
                      qualification_no=qualification_no, judicial_licence_no=judicial_licence_no,
                      licence_valid_until=valid_until)
    session.add(body)
    commit(session)
    return body


def report(session, fixed_clock, when: dt.datetime, category: int = 4, policy_no: str = POLICY_NO,
           reporter: str = "owner1", channel: str = "hotline", **kwargs) -> str:
    """The clock is at `when` and an owner reports a defect; commit and return the claim number."""
    fixed_clock.set(when)
    claim_no = intake.report_defect(session, category, "卫生间渗漏", reporter, channel, policy_no=policy_no,
                                    unit="1-101", **kwargs)
    commit(session)
    return claim_no


def claim_of(session, claim_no: str) -> Claim:
    """The stored claim, fresh from the database."""
    session.expire_all()
    return session.scalars(select(Claim).where(Claim.claim_no == claim_no)).one()


def open_tasks(session, claim_no: str) -> list[str]:
    """Names of the claim's open tasks."""
    return sorted(t.task_name for t in tasks.list_tasks(session, business_key=claim_no, limit=500))


def task_row(session, claim_no: str, name: str) -> HumanTask:
    """The claim's one open task `name`."""
    rows = [t for t in tasks.list_tasks(session, business_key=claim_no, limit=500) if t.task_name == name]
    assert len(rows) == 1, f"expected one open {name}; open: {open_tasks(session, claim_no)}"
    return rows[0]


def complete(session, claim_no: str, name: str, data: dict, actor: str = "handler1") -> None:
    """Complete the claim's open task `name` and commit, as the inbox would."""
    tasks.complete_task(session, task_row(session, claim_no, name).id, data, actor)
    commit(session)


def advance_to(session, when: dt.datetime) -> list:
    """Move the simulated clock to `when`, firing due timers through the sweeper path; commit."""
    fired = clock.advance_to(session, when, actor="test")
    commit(session)
    return [f for f in fired if f.outcome == "fired"]


SURVEY = {"survey": {"findings": "卫生间楼板渗漏", "is_complex": False}}
COVERED = {"decision": {"covered": True, "reasons": "属于第5项"}}


def to_decision(session, fixed_clock, when: dt.datetime | None = None, survey: dict | None = None,
                category: int = 5) -> str:
    """A reported insurer claim, surveyed, waiting for its coverage decision."""
    claim_no = report(session, fixed_clock, when or at(2030, 1, 10, 10), category=category)
    complete(session, claim_no, "Task_survey", survey or SURVEY)
    return claim_no


def to_settlement(session, fixed_clock, survey: dict | None = None) -> str:
    """A covered claim waiting for the repair-or-amount agreement."""
    claim_no = to_decision(session, fixed_clock, survey=survey)
    complete(session, claim_no, "Task_decide_coverage", COVERED)
    return claim_no
