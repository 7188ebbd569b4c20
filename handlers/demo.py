"""Demo data: parties, agencies and a project in every phase of the lifecycle, driven through the engine.

`seed` replays a dated script (handlers/demo_catalogue.py) on the simulated clock from 2016 to the demo's
"today" (2030-06-01): every write is a process start, a task completion or a message, and the engine's timer
sweeper fires cover starts, expiries and rectification escalations on the way, so the projects end up where
a real decade would have left them. The caller commits once (`idiflow demo`).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, definitions, instances, messages, tasks
from engine.errors import EngineError
from engine.models import ProcessDefinition

from . import demo_catalogue as cat
from .models import Policy, Project
from .records import money

log = logging.getLogger(__name__)

DEMO_START = dt.datetime(2016, 1, 4, 9, 0, tzinfo=clock.LOCAL_TZ)
DEMO_TODAY = dt.datetime(2030, 6, 1, 9, 0, tzinfo=clock.LOCAL_TZ)
#: the demo users (engine/cli.py creates one per role, named by the role key)
DEVELOPER, UNDERWRITER, AGENCY, AUTHORITY, CONTRACTOR = (
    "developer",
    "underwriter",
    "risk_engineer",
    "authority_officer",
    "contractor",
)


class DemoRefused(EngineError, RuntimeError):
    """The demo cannot be seeded into this database."""


@dataclass
class DemoSummary:
    """What `seed` did: projects by expected status, claims reported, and notes for the newcomer."""

    projects: dict[str, str | None] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)
    claim_nos: dict[str, str] = field(default_factory=dict)  # catalogue key -> claim number
    owner_units: list[str] = field(default_factory=list)
    timers_fired: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(order=True)
class Step:
    """One dated action of the script."""

    when: dt.datetime
    order: int
    label: str = field(compare=False)
    run: Callable[[Session], None] = field(compare=False)


def is_seeded(session: Session) -> bool:
    """True when the database already holds projects (the demo, or real data: never seed over it)."""
    return session.scalar(select(Project.id).limit(1)) is not None


def local(day: tuple[int, ...], hour: int = 9) -> dt.datetime:
    """A local Asia/Shanghai instant from (year, month, day[, hour])."""
    y, m, d, *h = day
    return dt.datetime(y, m, d, h[0] if h else hour, 0, tzinfo=clock.LOCAL_TZ)


def complete(session: Session, business_key: str, task_name: str, data: dict[str, Any], actor: str) -> None:
    """Complete the oldest open task `task_name` of the case `business_key`."""
    rows = [
        t
        for t in tasks.list_tasks(session, business_key=business_key, limit=500)
        if t.task_name == task_name and t.business_key == business_key
    ]
    if not rows:
        open_now = [t.task_name for t in tasks.list_tasks(session, business_key=business_key, limit=500)]
        raise DemoRefused(
            f"The demo script expected task {task_name} on {business_key}, but the open tasks "
            f"are {open_now}; the diagrams in workflows/ changed: update handlers/demo_catalogue.py."
        )
    rows.sort(key=lambda t: t.created_at)
    tasks.complete_task(session, rows[0].id, data, actor)


class Script:
    """The dated steps of the demo, merged across projects and replayed in time order."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def at(self, day: tuple[int, ...], label: str, run: Callable[[Session], None], hour: int = 9) -> None:
        """Add a step on a local day."""
        self.steps.append(Step(local(day, hour), len(self.steps), label, run))

    def replay(self, session: Session, until: dt.datetime) -> int:
        """Run the steps in time order on the simulated clock, firing due timers between them."""
        fired = 0
        for step in sorted(self.steps):
            fired += len(clock.advance_to(session, step.when, actor="demo"))
            log.debug("demo %s: %s", step.when.isoformat(), step.label)
            step.run(session)
        fired += len(clock.advance_to(session, until, actor="demo"))
        return fired


def _agency_steps(script: Script, key: str, spec: dict[str, Any]) -> None:
    business_key = f"AG-{spec['party']['credit_code']}"

    def apply(session: Session) -> None:
        instances.start_instance(
            session,
            "idi_agency_registration",
            {},
            AGENCY,
            business_key=business_key,
            title=f"风险管理机构登记 {spec['party']['name']}",
        )
        complete(session, business_key, "Task_apply_registration", {"agency": spec["party"]}, AGENCY)

    script.at(spec["apply"], f"agency {key} applies", apply)
    if spec["outcome"] == "pending":
        return
    decision = {
        "approved": spec["outcome"] == "registered",
        "reg_no": spec.get("reg_no", ""),
        "reason": spec.get("reason", ""),
    }
    script.at(
        spec["decide"],
        f"agency {key} {spec['outcome']}",
        lambda s: complete(s, business_key, "Task_review_registration", {"decision": decision}, AUTHORITY),
    )


def _premium(session: Session, project_no: str) -> str:
    return str(
        session.scalars(select(Policy.premium).join(Project).where(Project.project_no == project_no)).one()
    )


def _binding_steps(script: Script, spec: dict[str, Any]) -> None:
    """LG-SCOPE, DEC-RATE, LG-BIND-*: register, review, sign and pay as far as the project got."""
    no = spec["no"]

    def register(session: Session) -> None:
        instances.start_instance(
            session,
            "idi_policy",
            {"project_no": no},
            DEVELOPER,
            business_key=no,
            title=f"IDI {no} {spec['name']}",
        )
        complete(session, no, "Task_register_project", cat.project_form(spec), DEVELOPER)

    script.at(spec["register"], f"{no} registered", register)
    if "review" in spec:
        script.at(
            spec["review"],
            f"{no} quote accepted",
            lambda s: complete(
                s,
                no,
                "Task_review_quote",
                {"review_decision": "accept", "review_note": "风险可接受"},
                UNDERWRITER,
            ),
        )
    if "sign" in spec:
        script.at(
            spec["sign"],
            f"{no} signed",
            lambda s: complete(
                s,
                no,
                "Task_sign_policy",
                {"permit_status": "not_applied", "permit_applied_on": None},
                DEVELOPER,
            ),
        )
    for y, m, d, share in spec.get("pay", []):

        def pay(session: Session, share: str | None = share) -> None:
            premium = _premium(session, no)
            amount = premium if share is None else str(money(Decimal(premium) * Decimal(share)))
            messages.correlate_message(
                session,
                "premium_paid",
                {"amount": amount, "reference": f"BANK-{no}"},
                business_key=no,
                actor=UNDERWRITER,
            )

        script.at((y, m, d), f"{no} payment", pay, hour=14)


def _risk_steps(script: Script, spec: dict[str, Any]) -> None:
    """LG-RM-*, DEC-RM-LOOP: appoint agencies, file the plan, inspect stages, rectify."""
    no = spec["no"]
    for key, day in spec.get("agencies", []):
        code = cat.AGENCIES[key]["party"]["credit_code"]
        script.at(
            day,
            f"{no} appoints {key}",
            lambda s, code=code: complete(s, no, "Task_appoint_agency", {"agency_code": code}, UNDERWRITER),
        )
    if "plan" in spec:
        *day, stages = spec["plan"]
        plan = {"plan": {"plan_no": f"RMP-{no}", "stages": stages}}
        script.at(tuple(day), f"{no} plan filed", lambda s: complete(s, no, "Task_file_plan", plan, AGENCY))
    for i, (day, findings) in enumerate(spec.get("inspections", []), start=1):
        report = {"report": {"report_no": f"RM-{no}-{i:02d}", "findings": findings}}
        script.at(
            day,
            f"{no} inspection {i}",
            lambda s, report=report: complete(s, no, "Task_inspect_stage", report, AGENCY),
        )
    for day, evidence, recheck_day, closed in spec.get("rectify", []):
        script.at(
            day,
            f"{no} rectified",
            lambda s, evidence=evidence: complete(s, no, "Task_rectify", {"evidence": evidence}, CONTRACTOR),
        )
        script.at(
            recheck_day,
            f"{no} re-checked",
            lambda s, closed=closed: complete(
                s,
                no,
                "Task_recheck",
                {"rectified": closed, "recheck_note": "复查合格" if closed else "未整改到位"},
                AGENCY,
            ),
        )


def _completion_steps(script: Script, spec: dict[str, Any]) -> None:
    """LG-COV-START, DEC-DATES, LG-FUND-*, LG-NOTICE*: completion acceptance, exemption, notices."""
    no = spec["no"]
    if "completion" not in spec:
        return
    c = dt.date(*spec["completion"])
    script.at(
        spec["completion"],
        f"{no} completion accepted",
        lambda s: messages.correlate_message(
            s,
            "completion_accepted",
            {"completion_date": c.isoformat(), "record_no": f"JGBA-{no}"},
            business_key=no,
            actor=AUTHORITY,
        ),
        hour=16,
    )
    exemption = spec["exemption"]
    requested = exemption.get("request", True)
    script.at(
        exemption["on"],
        f"{no} exemption {'requested' if requested else 'declined'}",
        lambda s: complete(s, no, "Task_request_exemption", {"request_exemption": requested}, DEVELOPER),
    )
    if requested and exemption.get("decide"):
        decision = {"decision": {"approved": exemption["approved"], "ref_no": f"LGJS-{no}"}}
        script.at(
            exemption["decide"],
            f"{no} exemption decided",
            lambda s: complete(s, no, "Task_decide_exemption", decision, AUTHORITY),
        )
    for day, units in spec.get("deliveries", []):
        delivery = {
            "delivery": {
                "delivered_on": dt.date(*day).isoformat(),
                "units": units,
                "recipient": "业主 (owners at handover)",
            }
        }
        script.at(
            day,
            f"{no} notices handed over",
            lambda s, delivery=delivery: complete(s, no, "Task_deliver_notices", delivery, DEVELOPER),
        )
    if "cancel" in spec:
        key = f"CX-{no}"

        def cancel(session: Session) -> None:
            instances.start_instance(
                session,
                "idi_cancellation",
                {"policy_no": f"IDI-{no}"},
                DEVELOPER,
                business_key=key,
                title=f"解除保险合同 {no}",
            )
            complete(
                session,
                key,
                "Task_request_cancellation",
                {"cancellation_reason": "开发商拟改用物业保修金 (developer prefers the fund)"},
                DEVELOPER,
            )

        script.at(spec["cancel"], f"{no} cancellation requested", cancel)


def _claim_action(session: Session, claim_no: str, action: str, data: dict[str, Any], actor: str) -> None:
    """One step of a demo claim: an owner's withdrawal or dispute (as the portal sends it), else a task."""
    from . import intake

    if action == "withdraw":
        intake.withdraw_claim(session, claim_no, actor, data.get("reason", ""))
    elif action == "dispute":
        intake.dispute_claim(session, claim_no, actor, data["kind"], data.get("grounds", ""))
    else:
        complete(session, claim_no, action, data, actor)


def _register_bodies(session: Session) -> None:
    from .claim_disputes import register_expert_body

    for body in cat.EXPERT_BODIES:
        until = body.get("licence_valid_until")
        register_expert_body(session, body["credit_code"], body["name"], body.get("qualification_no", ""),
                             body.get("judicial_licence_no", ""), dt.date.fromisoformat(until) if until else None)


def _claim_steps(script: Script, summary: DemoSummary, session: Session) -> None:
    """Claims in every state (issue 5): reported through the claims centre, then driven step by step."""
    if importlib.util.find_spec("handlers.intake") is None:
        summary.notes.append("claims: handlers/intake.py is missing; no claims seeded")
        return
    deployed = session.scalar(
        select(ProcessDefinition.id).where(ProcessDefinition.process_id == "idi_claim").limit(1)
    )
    if deployed is None:
        summary.notes.append("claims: the idi_claim process is not deployed; no claims seeded")
        return
    from . import intake

    script.at(cat.CLAIMS_OPEN, "appraisal and loss-assessment bodies registered", _register_bodies)
    for spec in cat.CLAIMS:

        def report(session: Session, spec: dict[str, Any] = spec) -> None:
            claim_no = intake.report_defect(
                session,
                spec["category"],
                spec["description"],
                spec["reporter"],
                spec.get("channel", "hotline"),
                policy_no=f"IDI-{spec['project']}",
                unit=spec["unit"],
                actor=spec["reporter"],
            )
            summary.claims.append(claim_no)
            summary.claim_nos[spec["key"]] = claim_no

        script.at(spec["at"], f"claim {spec['key']} reported on {spec['project']}", report, hour=20)
        for day, action, data, actor in spec["steps"]:
            script.at(
                day,
                f"claim {spec['key']}: {action}",
                lambda s, key=spec["key"], action=action, data=data, actor=actor: _claim_action(
                    s, summary.claim_nos[key], action, data, actor
                ),
                hour=10,
            )


def _start_clock(session: Session) -> None:
    state = clock.read_state(session)
    if (
        state is not None
        and state.mode == "simulated"
        and state.now
        and state.now > clock.ensure_utc(DEMO_START)
    ):
        raise DemoRefused(
            f"The simulated clock is at {clock.to_local(state.now).isoformat()}, after the demo's "
            f"start {DEMO_START.isoformat()}; seed the demo into a new database "
            "(IDIFLOW_DATABASE_URL=sqlite:///demo.db idiflow init-db)."
        )
    clock.simulate(session, DEMO_START, actor="demo")


def seed(session: Session, files: dict[str, bytes | str], today: dt.datetime = DEMO_TODAY) -> DemoSummary:
    """Deploy `files` (workflows/), replay the demo up to `today`; a database with projects is left alone."""
    summary = DemoSummary()
    if is_seeded(session):
        summary.notes.append("projects exist already; demo data not seeded again")
        return summary
    # The whole replay is one uncommitted transaction. The database clock re-reads its row (committed
    # state only) after every SAVEPOINT the timer sweeper releases, which would drop the demo back to wall
    # time; so this thread runs on a pinned clock that follows every move the script writes to the row.
    with clock.use(clock.FixedClock(DEMO_START)):
        _start_clock(session)
        definitions.deploy(session, files, "demo", "demo deployment")
        script = Script()
        for key, spec in cat.AGENCIES.items():
            _agency_steps(script, key, spec)
        for spec in cat.PROJECTS:
            _binding_steps(script, spec)
            _risk_steps(script, spec)
            _completion_steps(script, spec)
            summary.projects[spec["no"]] = spec["expect"]
        _claim_steps(script, summary, session)
        summary.timers_fired = script.replay(session, today)
    summary.owner_units = ["11-101", "11-102"]  # units of LG-2025-004, the insured project
    return summary
