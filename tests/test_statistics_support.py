"""A known data set for the statistics and report tests: 7 policies, 3 inspections, 7 claims, 2 quarters.

No tests live here. `build_known_data(session, fixed_clock)` writes the rows on the simulated clock (each
event at its own local time, credit records through the real handlers) and returns what it made.
The expected figures are worked out by hand in EXPECTED_Q1 / EXPECTED_Q2 (comments say why).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import commit

import handlers  # noqa: F401 - registers the IDI handlers and tables
from engine import clock
from engine.services import HandlerContext
from handlers import claim_disputes, risk
from handlers.claim_models import (
    Appraisal,
    Claim,
    ClaimPayment,
    Decision,
    ExpertBody,
    RepairOrder,
    SlaBreach,
    Survey,
)
from handlers.models import (
    Engagement,
    Exemption,
    Finding,
    Inspection,
    Party,
    Policy,
    Project,
    Rectification,
)

SH = clock.LOCAL_TZ
EAST, WEST = "城东片区", "城西片区"


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    """An instant in Asia/Shanghai local time."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=SH)


def day(y: int, m: int, d: int) -> dt.date:
    return dt.date(y, m, d)


def ctx_at(session, when: dt.datetime, fixed_clock) -> HandlerContext:
    """A handler context on the simulated clock set to `when`."""
    fixed_clock.set(when)
    return HandlerContext(
        session=session,
        instance_id=None,
        business_key=None,
        task_id="t",
        task_name="test",
        data={},
        actor="tester",
    )


def gen_party(session, code: str, name: str, kind: str, grade: str = "") -> Party:
    party = Party(
        credit_code=code,
        name=name,
        kind=kind,
        qualification_grade="一级",
        credit_grade=grade,
        group_parent_code="",
    )
    session.add(party)
    session.flush()
    return party


def gen_policy(
    session,
    no: str,
    district: str,
    premium: str,
    developer: Party,
    contractor: Party,
    signed: dt.datetime | None,
    effective: dt.datetime | None,
    completion: dt.date | None = None,
    cancelled: dt.datetime | None = None,
) -> Policy:
    """A project and its policy; cover dates from the completion date C as DEC-DATES stores them."""
    project = Project(
        project_no=no,
        name=f"龙港{no}项目",
        address="龙港市",
        district=district,
        in_longgang=True,
        project_type="new_residential",
        construction_cost=Decimal(premium) * 100,
        developer_id=developer.id,
        contractor_id=contractor.id,
        contract_no=f"HT-{no}",
        idi_clause_present=True,
        compliance_flag="",
        status="registered",
        refusal_reason="",
        completion_date=completion,
        completion_record_no="",
        units=["1-101"],
        registered_at=signed or at(2020, 1, 1),
    )
    session.add(project)
    session.flush()
    cover = {}
    if completion:

        def years(n: int) -> dt.date:
            return completion.replace(year=completion.year + n)

        cover = {
            "contractor_start": completion,
            "contractor_end": years(2),
            "cover_start": years(2) + dt.timedelta(days=1),
            "end_items_1_4": years(12),
            "end_item_5": years(8),
            "end_items_6_8": years(4),
        }
    policy = Policy(
        policy_no=f"IDI-{no}",
        project_id=project.id,
        insurer_name="人保财险温州市分公司",
        status="cancelled" if cancelled else "construction",
        status_reason="",
        premium_base=project.construction_cost,
        rate=Decimal("0.01"),
        premium=Decimal(premium),
        quote={},
        signed_at=signed,
        effective_at=effective,
        cancelled_at=cancelled,
        status_history=[],
        **cover,
    )
    session.add(policy)
    session.flush()
    return policy


def gen_inspection(
    session,
    policy: Policy,
    agency: Party,
    report_no: str,
    when: dt.datetime,
    findings: list[tuple[str, bool, dt.datetime | None, dt.datetime | None]],
    copy_due: dt.datetime | None = None,
    copied: dt.datetime | None = None,
) -> list[Rectification]:
    """An inspection; findings as (grade, major, order due, order closed) with an order for graded ones."""
    engagement = Engagement(
        policy_id=policy.id,
        agency_id=agency.id,
        status="active",
        reason="",
        checked_at=when,
        plan_no="PLAN",
        plan_stages=["foundation"],
    )
    session.add(engagement)
    session.flush()
    inspection = Inspection(
        project_id=policy.project_id,
        engagement_id=engagement.id,
        stage="foundation",
        report_no=report_no,
        inspected_at=when,
        has_major=any(f[1] for f in findings),
        authority_copy_due_at=copy_due,
        authority_copied_at=copied,
    )
    session.add(inspection)
    orders = []
    for i, (grade, major, due, closed) in enumerate(findings, start=1):
        finding = Finding(item_no=i, grade=grade, major=major, description=f"{report_no} 第{i}项 {grade}")
        inspection.findings.append(finding)
        session.flush()
        if due is not None:
            order = Rectification(
                finding_id=finding.id,
                issued_at=when,
                due_at=due,
                status="closed" if closed else "open",
                closed_at=closed,
                escalations=[],
            )
            session.add(order)
            session.flush()
            orders.append(order)
    return orders


def gen_claim(
    session,
    no: str,
    policy: Policy,
    category: int,
    reported: dt.datetime,
    route: str,
    closed: dt.datetime | None = None,
    outcome: str = "",
) -> Claim:
    claim = Claim(
        claim_no=no,
        policy_id=policy.id,
        unit="1-101",
        category=category,
        description=f"{no} 缺陷",
        reporter="owner1",
        channel="portal",
        reported_at=reported,
        reported_on=clock.to_local(reported).date(),
        route=route,
        status="closed" if closed else "open",
        outcome=outcome,
        closed_at=closed,
        updated_at=reported,
        history=[],
    )
    session.add(claim)
    session.flush()
    return claim


def build_known_data(session, fixed_clock) -> dict:
    """Write the known data set and commit; returns the main rows by name."""
    dev = gen_party(session, "91330300DEV0000001", "龙港城投置业有限公司", "developer", "A")
    c1 = gen_party(session, "91330300CON0000001", "浙江建工集团有限公司", "contractor", "A")
    c2 = gen_party(session, "91330300CON0000002", "温州二建有限公司", "contractor", "B")
    agency = gen_party(session, "91330300RMA0000001", "浙江安居风险管理有限公司", "agency")
    body = ExpertBody(
        credit_code="91330300APP0000001",
        name="温州建设工程司法鉴定所",
        qualification_no="Q-1",
        judicial_licence_no="SF-1",
    )
    session.add(body)
    # policies: signed (Q1: P1 P2 P6; Q2: P3), phases from stored cover dates
    p1 = gen_policy(session, "P1", EAST, "1500000.00", dev, c1, at(2027, 1, 10), at(2027, 1, 12))
    p2 = gen_policy(
        session,
        "P2",
        EAST,
        "825000.50",
        dev,
        c2,
        at(2027, 2, 20),
        at(2027, 2, 21),
        completion=day(2027, 5, 15),
    )
    p3 = gen_policy(session, "P3", WEST, "300000.25", dev, c1, at(2027, 4, 1, 0, 10), at(2027, 4, 2))
    p4 = gen_policy(
        session, "P4", WEST, "200000.00", dev, c1, at(2020, 3, 1), at(2020, 3, 2), completion=day(2021, 6, 30)
    )
    p5 = gen_policy(
        session, "P5", EAST, "100000.00", dev, c1, at(2012, 3, 1), at(2012, 3, 2), completion=day(2014, 6, 30)
    )
    gen_policy(session, "P6", WEST, "99999.99", dev, c2, at(2027, 3, 31, 23, 30), None)
    gen_policy(
        session, "P7", WEST, "50000.00", dev, c2, at(2025, 12, 30), at(2026, 1, 1), cancelled=at(2027, 5, 1)
    )
    # inspections: (grade, major, due, closed)
    gen_inspection(
        session,
        p1,
        agency,
        "R-1",
        at(2027, 2, 10, 10),
        [
            ("serious", True, at(2027, 2, 18, 0), at(2027, 4, 10)),
            ("moderate", False, at(2027, 2, 25, 0), at(2027, 2, 20)),
            ("observation", False, None, None),
        ],
        copy_due=at(2027, 2, 12, 0),
        copied=at(2027, 2, 11),
    )
    i2_orders = gen_inspection(
        session,
        p2,
        agency,
        "R-2",
        at(2027, 3, 20, 10),
        [("serious", True, at(2027, 3, 28, 0), None), ("minor", False, at(2027, 4, 20, 0), None)],
        copy_due=at(2027, 3, 23, 0),
        copied=at(2027, 3, 24),
    )
    gen_inspection(
        session,
        p3,
        agency,
        "R-3",
        at(2027, 5, 5, 10),
        [
            ("moderate", False, at(2027, 5, 20, 0), at(2027, 5, 18)),
            ("minor", False, at(2027, 6, 5, 0), at(2027, 6, 30, 23)),
        ],
    )
    # exemptions
    session.add_all(
        [
            Exemption(
                policy_id=p4.id,
                requested_at=at(2027, 2, 1),
                eligible=True,
                gaps=[],
                status="approved",
                decided_at=at(2027, 2, 10),
                ref_no="MF-1",
            ),
            Exemption(
                policy_id=p1.id,
                requested_at=at(2027, 3, 25),
                eligible=True,
                gaps=[],
                status="denied",
                decided_at=at(2027, 4, 3),
                ref_no="MF-2",
            ),
        ]
    )
    # claims, Q1
    k1 = gen_claim(session, "K1", p4, 5, at(2027, 1, 15, 10), "insurer", at(2027, 2, 6), "paid")
    session.add_all(
        [
            Survey(claim_id=k1.id, surveyed_at=at(2027, 1, 16, 10), surveyor="s", findings="渗水"),
            Decision(claim_id=k1.id, decided_at=at(2027, 1, 20, 10), decided_by="h", covered=True),
            RepairOrder(
                claim_id=k1.id,
                performer="insurer_self",
                issued_at=at(2027, 1, 25, 10),
                start_due_at=at(2027, 2, 2),
                completed_at=at(2027, 2, 4, 10),
                cost=Decimal("12000.00"),
                status="accepted",
            ),
            ClaimPayment(
                claim_id=k1.id,
                kind="repair",
                payee="维修队",
                amount=Decimal("12000.00"),
                paid_at=at(2027, 2, 5),
            ),
        ]
    )
    k2 = gen_claim(
        session, "K2", p4, 3, at(2027, 2, 1, 9), "insurer", at(2027, 3, 16), "rejected_after_appraisal"
    )
    session.add_all(
        [
            Survey(claim_id=k2.id, surveyed_at=at(2027, 2, 4, 9), surveyor="s", findings="外墙裂缝"),
            SlaBreach(
                claim_id=k2.id,
                sla="survey",
                task_name="Task_survey",
                breached_at=at(2027, 2, 4, 0),
                escalated_to="claims_supervisor",
            ),
            Decision(
                claim_id=k2.id,
                decided_at=at(2027, 2, 11, 9),
                decided_by="h",
                covered=False,
                exclusion="improper_use",
            ),
            SlaBreach(
                claim_id=k2.id,
                sla="decision",
                task_name="Task_decide",
                breached_at=at(2027, 2, 9, 0),
                escalated_to="claims_supervisor",
            ),
            Appraisal(
                claim_id=k2.id,
                body_id=1,
                entrusted_at=at(2027, 2, 20),
                result="not_covered",
                fee=Decimal("3000.00"),
                fee_payer="owner",
                decided_at=at(2027, 3, 15),
            ),
        ]
    )
    gen_claim(session, "K3", p5, 1, at(2027, 3, 31, 23, 50), "expired", at(2027, 4, 1, 0, 30), "expired")
    # claims, Q2
    gen_claim(session, "K4", p2, 8, at(2027, 6, 1), "contractor", at(2027, 6, 20), "contractor_repaired")
    k5 = gen_claim(session, "K5", p4, 4, at(2027, 4, 10, 9), "insurer", at(2027, 5, 2), "paid")
    k5.responsible_party_code = c1.credit_code
    session.add_all(
        [
            Survey(claim_id=k5.id, surveyed_at=at(2027, 4, 11, 21), surveyor="s", findings="梁裂缝"),
            Decision(claim_id=k5.id, decided_at=at(2027, 4, 17, 9), decided_by="h", covered=True),
            Appraisal(
                claim_id=k5.id,
                body_id=1,
                entrusted_at=at(2027, 4, 12),
                result="covered",
                fee=Decimal("5000.00"),
                fee_payer="insurer",
                decided_at=at(2027, 4, 16),
            ),
            ClaimPayment(
                claim_id=k5.id,
                kind="indemnity",
                payee="owner1",
                amount=Decimal("50000.00"),
                paid_at=at(2027, 4, 25),
            ),
            SlaBreach(
                claim_id=k5.id,
                sla="payment",
                task_name="Task_pay",
                breached_at=at(2027, 4, 25, 0),
                escalated_to="claims_supervisor",
            ),
        ]
    )
    gen_claim(session, "K6", p4, 9, at(2027, 5, 20), "not_in_scope", at(2027, 5, 20, 10), "not_in_scope")
    k7 = gen_claim(session, "K7", p4, 5, at(2027, 6, 28, 9), "insurer")
    session.add(Survey(claim_id=k7.id, surveyed_at=at(2027, 6, 30, 21), surveyor="s", findings="渗水"))
    commit(session)
    # credit feedback through the real handlers: the unremedied serious order reaches the authority (level 3),
    # and subrogation establishes the contractor's liability
    risk.escalate_rectification(ctx_at(session, at(2027, 4, 4), fixed_clock), i2_orders[0].id, 3)
    claim_disputes.record_subrogation(
        ctx_at(session, at(2027, 5, 1), fixed_clock),
        "K5",
        {
            "against_party_code": c1.credit_code,
            "liability_established": True,
            "amount_claimed": "50000.00",
            "amount_recovered": "20000.00",
        },
    )
    commit(session)
    fixed_clock.set(at(2027, 7, 20))
    return {"developer": dev, "c1": c1, "c2": c2, "p1": p1, "p4": p4}


# Hand-computed figures. Q1 = 2027-01-01 … 2027-03-31, Q2 = 2027-04-01 … 2027-06-30 (Asia/Shanghai).
EXPECTED_Q1 = {
    # P1 P2 P6 signed in Q1 (P6 at 23:30 on 31 March, Shanghai); P3's 00:10 on 1 April belongs to Q2
    "policies": {
        "signed": 3,
        "premium": "2425000.49",
        "effective": 2,
        "by_month": [
            {"month": "2027-01", "signed": 1, "premium": "1500000.00"},
            {"month": "2027-02", "signed": 1, "premium": "825000.50"},
            {"month": "2027-03", "signed": 1, "premium": "99999.99"},
        ],
    },
    # in force on 31 March: P1, P2 (C in May), P7 (cancelled in May) building; P4 insured; P5 expired 2026
    "phases": {"construction": 3, "contractor_period": 0, "insured": 1, "expired": 1},
    # R-1 and R-2; R-2 copied a day late; R-1's serious order closed only on 10 April: open and overdue
    "risk": {
        "inspections": 2,
        "major_reports": 2,
        "major_copied": 2,
        "major_copied_late": 1,
        "findings": {"serious": 2, "moderate": 1, "minor": 1, "observation": 1},
        "open_serious": 2,
        "overdue_rectifications": 2,
    },
    # K3 reported at 23:50 on 31 March and closed after midnight: still open at the quarter's end
    "claims": {
        "reported": 3,
        "by_category": {"1": 1, "2": 0, "3": 1, "4": 0, "5": 1, "6": 0, "7": 0, "8": 0},
        "by_route": {"insurer": 2, "contractor": 0, "expired": 1, "not_in_scope": 0},
        "by_outcome": {"open": 1, "paid": 1, "rejected_after_appraisal": 1},
    },
    "sla": {
        "breaches": 2,
        "by_sla": {"survey": 1, "decision": 1, "rejection_notice": 0, "repair_start": 0, "payment": 0},
    },
    # surveys 1.0 and 3.0 days; decisions 5.0 and 10.0; repair 25 Jan → 4 Feb
    "durations": {
        "survey": {"count": 2, "average_days": 2.0},
        "decision": {"count": 2, "average_days": 7.5},
        "repair": {"count": 1, "average_days": 10.0},
    },
    "payments": {
        "count": 1,
        "amount": "12000.00",
        "by_kind": {
            "indemnity": {"count": 0, "amount": "0.00"},
            "repair": {"count": 1, "amount": "12000.00"},
        },
    },
    "appraisals": {
        "count": 1,
        "by_result": {"covered": 0, "not_covered": 1},
        "fee_payer": {"insurer": {"count": 0, "fees": "0.00"}, "owner": {"count": 1, "fees": "3000.00"}},
        "loss_assessments": {"count": 0, "fee_payer": {}},
    },
    "subrogation": {"opened": 0, "liability_established": 0, "claimed": "0.00", "recovered": "0.00"},
    "exemptions": {"requested": 2, "approved": 1, "denied": 0},
    "credit": {"records": 0, "by_event": {}},
}
EXPECTED_Q2 = {
    "policies": {
        "signed": 1,
        "premium": "300000.25",
        "effective": 1,
        "by_month": [
            {"month": "2027-04", "signed": 1, "premium": "300000.25"},
            {"month": "2027-05", "signed": 0, "premium": "0.00"},
            {"month": "2027-06", "signed": 0, "premium": "0.00"},
        ],
    },
    # P2 completed 15 May: contractor period; P7 cancelled; P3 building
    "phases": {"construction": 2, "contractor_period": 1, "insured": 1, "expired": 1},
    # only R-2's serious order stays open; R-2's minor order (due 19 April) is now overdue too
    "risk": {
        "inspections": 1,
        "major_reports": 0,
        "major_copied": 0,
        "major_copied_late": 0,
        "findings": {"serious": 0, "moderate": 1, "minor": 1, "observation": 0},
        "open_serious": 1,
        "overdue_rectifications": 2,
    },
    "claims": {
        "reported": 4,
        "by_category": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1, "6": 0, "7": 0, "8": 1, "other": 1},
        "by_route": {"insurer": 2, "contractor": 1, "expired": 0, "not_in_scope": 1},
        "by_outcome": {"contractor_repaired": 1, "not_in_scope": 1, "open": 1, "paid": 1},
    },
    "sla": {
        "breaches": 1,
        "by_sla": {"survey": 0, "decision": 0, "rejection_notice": 0, "repair_start": 0, "payment": 1},
    },
    # surveys 1.5 (K5) and 2.5 (K7) days; decision 7.0; no repair finished
    "durations": {
        "survey": {"count": 2, "average_days": 2.0},
        "decision": {"count": 1, "average_days": 7.0},
        "repair": {"count": 0, "average_days": None},
    },
    "payments": {
        "count": 1,
        "amount": "50000.00",
        "by_kind": {
            "indemnity": {"count": 1, "amount": "50000.00"},
            "repair": {"count": 0, "amount": "0.00"},
        },
    },
    "appraisals": {
        "count": 1,
        "by_result": {"covered": 1, "not_covered": 0},
        "fee_payer": {"insurer": {"count": 1, "fees": "5000.00"}, "owner": {"count": 0, "fees": "0.00"}},
        "loss_assessments": {"count": 0, "fee_payer": {}},
    },
    "subrogation": {"opened": 1, "liability_established": 1, "claimed": "50000.00", "recovered": "20000.00"},
    "exemptions": {"requested": 0, "approved": 0, "denied": 1},
    # R-2's serious order reached the authority on 4 April; K5's subrogation established C1's liability
    "credit": {
        "records": 2,
        "by_event": {"established_defect_liability": 1, "unremedied_serious_finding": 1},
    },
}
