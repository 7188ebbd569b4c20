"""Statistics benchmark: the dashboard's response time on 10,000 projects and 100,000 claims (SQLite).

Builds a migrated SQLite file with bulk inserts: 10,000 projects and policies over 8 districts signed across
2024-2027, 20,000 inspections with graded findings and rectification orders, 100,000 claims with surveys,
decisions, repairs, payments, SLA breaches, appraisals, subrogation and credit records. Then it requests
GET /dashboard through the Flask app (every figure family, the charts' data, the full table rendered) as
an authority officer, for one quarter and for a whole year, and reports the median of the runs.

Usage: .venv/bin/python bench/dashboard.py [--projects 10000] [--claims 100000] [--runs 15]
Target: <= 300 ms on SQLite. Last line: `statistics dashboard_ms=<x>` (the whole-year view, the heavier).
Writes bench/results/statistics.txt. (Named dashboard.py: a bench/statistics.py would shadow the standard
`statistics` module for every script run from bench/.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import insert  # noqa: E402

import handlers  # noqa: E402, F401 - registers the domain tables
from engine import clock, db  # noqa: E402
from handlers.claim_models import (  # noqa: E402
    Appraisal,
    Claim,
    ClaimPayment,
    CreditRecord,
    Decision,
    ExpertBody,
    RepairOrder,
    SlaBreach,
    Subrogation,
    Survey,
)
from handlers.models import (  # noqa: E402
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
START = dt.datetime(2024, 1, 1, tzinfo=SH)
SPAN_DAYS = 4 * 365
DISTRICTS = ["城东片区", "城西片区", "城南片区", "城北片区", "新城片区", "港区", "舥艚片区", "云岩片区"]
TARGET_MS = 300


def _when(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(days=rng.random() * SPAN_DAYS)


def _bulk(conn, model, rows: list[dict], chunk: int = 5000) -> None:
    for i in range(0, len(rows), chunk):
        conn.execute(insert(model), rows[i : i + chunk])


def build(url: str, n_projects: int, n_claims: int, seed: int = 7) -> None:
    """A migrated database with the benchmark's rows (bulk inserts, one transaction per table)."""
    rng = random.Random(seed)
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        _bulk(
            conn,
            Party,
            [
                {
                    "credit_code": f"9133{i:014d}",
                    "name": f"单位{i}",
                    "kind": kind,
                    "qualification_grade": "一级",
                    "credit_grade": "A",
                    "group_parent_code": "",
                }
                for i, kind in enumerate(["developer"] * 100 + ["contractor"] * 100 + ["agency"] * 10)
            ],
        )
        conn.execute(
            insert(ExpertBody),
            [
                {
                    "credit_code": "APP-1",
                    "name": "鉴定所",
                    "qualification_no": "Q",
                    "judicial_licence_no": "SF",
                    "licence_valid_until": None,
                }
            ],
        )
        projects, policies = [], []
        for i in range(1, n_projects + 1):
            signed = _when(rng)
            completion = (signed + dt.timedelta(days=rng.randint(300, 900))).date()
            done = completion < dt.date(2027, 12, 31) and rng.random() < 0.8
            projects.append(
                {
                    "id": i,
                    "project_no": f"LG-{i:06d}",
                    "name": f"项目{i}",
                    "address": "龙港市",
                    "district": DISTRICTS[i % len(DISTRICTS)],
                    "in_longgang": True,
                    "project_type": "new_residential",
                    "construction_cost": Decimal("50000000.00"),
                    "developer_id": 1 + i % 100,
                    "contractor_id": 101 + i % 100,
                    "contract_no": "",
                    "idi_clause_present": True,
                    "compliance_flag": "",
                    "permit_gate_open": True,
                    "status": "registered",
                    "refusal_reason": "",
                    "completion_record_no": "",
                    "completion_date": completion if done else None,
                    "units": [],
                    "registered_at": signed - dt.timedelta(days=3),
                }
            )
            cover = {}
            if done:
                cover = {
                    "contractor_start": completion,
                    "contractor_end": completion.replace(year=completion.year + 2),
                    "cover_start": completion.replace(year=completion.year + 2) + dt.timedelta(days=1),
                    "end_items_1_4": completion.replace(year=completion.year + 12),
                    "end_item_5": completion.replace(year=completion.year + 8),
                    "end_items_6_8": completion.replace(year=completion.year + 4),
                }
            policies.append(
                {
                    "id": i,
                    "policy_no": f"IDI-LG-{i:06d}",
                    "project_id": i,
                    "insurer_name": "人保财险",
                    "status": "construction",
                    "status_reason": "",
                    "premium_base": Decimal("50000000.00"),
                    "rate": Decimal("0.015"),
                    "premium": Decimal(f"{rng.randint(300000, 900000)}.50"),
                    "quote": {},
                    "signed_at": signed,
                    "effective_at": signed + dt.timedelta(days=2),
                    "fund_exempt": False,
                    "cancellable": True,
                    "status_history": [],
                    "contractor_start": None,
                    "contractor_end": None,
                    "cover_start": None,
                    "end_items_1_4": None,
                    "end_item_5": None,
                    "end_items_6_8": None,
                    **cover,
                }
            )
        _bulk(conn, Project, projects)
        _bulk(conn, Policy, policies)
        _bulk(
            conn,
            Engagement,
            [
                {
                    "id": i,
                    "policy_id": i,
                    "agency_id": 201 + i % 10,
                    "status": "active",
                    "reason": "",
                    "checked_at": p["signed_at"],
                    "plan_no": "P",
                    "plan_stages": [],
                }
                for i, p in enumerate(policies, start=1)
            ],
        )
        inspections, findings, orders = [], [], []
        for i in range(1, 2 * n_projects + 1):
            pid = 1 + (i - 1) % n_projects
            when = policies[pid - 1]["signed_at"] + dt.timedelta(days=rng.randint(10, 600))
            major = rng.random() < 0.1
            inspections.append(
                {
                    "id": i,
                    "project_id": pid,
                    "engagement_id": pid,
                    "stage": "foundation",
                    "report_no": f"R-{i}",
                    "inspected_at": when,
                    "has_major": major,
                    "authority_copy_due_at": when + dt.timedelta(days=1) if major else None,
                    "authority_copied_at": when + dt.timedelta(hours=rng.randint(2, 40)) if major else None,
                }
            )
            for item, grade in enumerate(rng.sample(["serious", "moderate", "minor", "observation"], 2), start=1):
                fid = len(findings) + 1
                findings.append(
                    {
                        "id": fid,
                        "inspection_id": i,
                        "item_no": item,
                        "grade": grade,
                        "major": major,
                        "description": "问题",
                    }
                )
                if grade != "observation":
                    due = when + dt.timedelta(days={"serious": 7, "moderate": 14, "minor": 30}[grade])
                    closed = when + dt.timedelta(days=rng.randint(2, 60)) if rng.random() < 0.85 else None
                    orders.append(
                        {
                            "finding_id": fid,
                            "issued_at": when,
                            "due_at": due,
                            "status": "closed" if closed else "open",
                            "escalation_level": 0,
                            "escalations": [],
                            "evidence": "",
                            "rechecks": 0,
                            "closed_at": closed,
                        }
                    )
        _bulk(conn, Inspection, inspections)
        _bulk(conn, Finding, findings)
        _bulk(conn, Rectification, orders)
        _bulk(
            conn,
            Exemption,
            [
                {
                    "policy_id": i,
                    "requested_at": policies[i - 1]["signed_at"] + dt.timedelta(days=400),
                    "eligible": True,
                    "gaps": [],
                    "status": "approved",
                    "decided_at": policies[i - 1]["signed_at"] + dt.timedelta(days=410),
                    "ref_no": "",
                }
                for i in range(1, n_projects + 1, 5)
            ],
        )
        claims, surveys, decisions, repairs, payments, breaches, appraisals, subros, credits = ([] for _ in range(9))
        outcomes = ["paid", "paid", "rejected", "contractor_repaired", "expired", "withdrawn"]
        routes = ["insurer", "insurer", "insurer", "contractor", "expired", "not_in_scope"]
        for c in range(1, n_claims + 1):
            reported = _when(rng)
            closed = reported + dt.timedelta(days=rng.randint(3, 90)) if rng.random() < 0.8 else None
            claims.append(
                {
                    "id": c,
                    "claim_no": f"CLM-{c:07d}",
                    "policy_id": 1 + c % n_projects,
                    "unit": "1-101",
                    "category": rng.randint(1, 8),
                    "description": "缺陷",
                    "reporter": "owner",
                    "channel": "hotline",
                    "reported_at": reported,
                    "reported_on": reported.date(),
                    "route": rng.choice(routes),
                    "route_reason": "",
                    "notice": "",
                    "status": "closed" if closed else "open",
                    "outcome": rng.choice(outcomes) if closed else "",
                    "is_complex": False,
                    "responsible_party_code": "",
                    "responsible_basis": "",
                    "settlement_method": "",
                    "breach_count": 0,
                    "closed_at": closed,
                    "updated_at": reported,
                    "history": [],
                }
            )
            if rng.random() < 0.7:
                surveys.append(
                    {
                        "claim_id": c,
                        "surveyed_at": reported + dt.timedelta(hours=rng.randint(4, 96)),
                        "surveyor": "s",
                        "findings": "",
                        "evidence_accepted": False,
                        "exclusion": "",
                        "responsible_party_code": "",
                        "is_complex": False,
                    }
                )
            if rng.random() < 0.6:
                decisions.append(
                    {
                        "claim_id": c,
                        "decided_at": reported + dt.timedelta(days=rng.randint(2, 12)),
                        "decided_by": "h",
                        "covered": True,
                        "exclusion": "",
                        "reasons": "",
                        "notice_text": "",
                    }
                )
            if rng.random() < 0.2:
                issued = reported + dt.timedelta(days=10)
                repairs.append(
                    {
                        "claim_id": c,
                        "performer": "insurer_self",
                        "repair_org_code": "",
                        "repair_org_name": "维修队",
                        "scope": "",
                        "issued_at": issued,
                        "start_due_at": issued + dt.timedelta(days=7),
                        "completed_at": issued + dt.timedelta(days=rng.randint(5, 40)),
                        "cost": Decimal("8000.00"),
                        "rework_count": 0,
                        "status": "accepted",
                    }
                )
            if rng.random() < 0.4:
                payments.append(
                    {
                        "claim_id": c,
                        "kind": rng.choice(["indemnity", "repair"]),
                        "payee": "业主",
                        "amount": Decimal(f"{rng.randint(1000, 90000)}.00"),
                        "paid_at": reported + dt.timedelta(days=rng.randint(10, 60)),
                        "reference": "",
                    }
                )
            if rng.random() < 0.1:
                breaches.append(
                    {
                        "claim_id": c,
                        "sla": rng.choice(["survey", "decision", "payment"]),
                        "task_name": "t",
                        "breached_at": reported + dt.timedelta(days=3),
                        "escalated_to": "claims_supervisor",
                    }
                )
            if rng.random() < 0.03:
                covered = rng.random() < 0.5
                appraisals.append(
                    {
                        "claim_id": c,
                        "body_id": 1,
                        "jointly_entrusted_by": [],
                        "entrusted_at": reported + dt.timedelta(days=5),
                        "report_no": "",
                        "result": "covered" if covered else "not_covered",
                        "fee": Decimal("3000.00"),
                        "fee_payer": "insurer" if covered else "owner",
                        "responsible_party_code": "",
                        "decided_at": reported + dt.timedelta(days=30),
                    }
                )
            if rng.random() < 0.02:
                subros.append(
                    {
                        "claim_id": c,
                        "against_party_code": f"9133{101 + c % 100:014d}",
                        "basis": "survey",
                        "amount_claimed": Decimal("10000.00"),
                        "amount_recovered": Decimal("4000.00"),
                        "liability_established": True,
                        "status": "closed",
                        "opened_at": reported + dt.timedelta(days=40),
                    }
                )
                credits.append(
                    {
                        "subject_code": f"9133{101 + c % 100:014d}",
                        "event_type": "established_defect_liability",
                        "claim_id": c,
                        "evidence_ref": "",
                        "detail": "",
                        "recorded_at": reported + dt.timedelta(days=40),
                        "sent_to": "authority_officer",
                    }
                )
        for model, rows in (
            (Claim, claims),
            (Survey, surveys),
            (Decision, decisions),
            (RepairOrder, repairs),
            (ClaimPayment, payments),
            (SlaBreach, breaches),
            (Appraisal, appraisals),
            (Subrogation, subros),
            (CreditRecord, credits),
        ):
            _bulk(conn, model, rows)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def time_dashboard(url: str, query: str, runs: int) -> tuple[float, dict]:
    """Median wall time (ms) of GET /dashboard?<query> as the authority, and the figures of the last run."""
    from web_factories import gen_user

    from handlers import statistics as st
    from web import create_app
    from web.accounts import find_user
    from web.db import database

    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": url})
    with db.unit_of_work(database(app).session_factory) as session:
        if find_user(session, "authority_officer") is None:
            gen_user(session, "authority_officer", ["authority_officer"])
    client = app.test_client()
    from web_factories import login

    login(client, "authority_officer")
    times = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        response = client.get(f"/dashboard?{query}")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    with db.unit_of_work(database(app).session_factory, write=False) as session:
        args = dict(p.split("=") for p in query.split("&"))
        f = st.Filters(dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]))
        figures = st.dashboard(session, f)
    database(app).engine.dispose()
    return statistics.median(times[1:]), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    clock.install(clock.FixedClock(dt.datetime(2028, 1, 10, 9, tzinfo=SH)))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/statistics.db"
        began = time.perf_counter()
        build(url, args.projects, args.claims)
        built_s = time.perf_counter() - began
        quarter_ms, qfig = time_dashboard(url, "start=2027-10-01&end=2027-12-31", args.runs)
        year_ms, yfig = time_dashboard(url, "start=2027-01-01&end=2027-12-31", args.runs)
    lines = [
        f"statistics benchmark on {platform.platform()} / Python {platform.python_version()} / SQLite",
        f"data: {args.projects} projects and policies, {2 * args.projects} inspections, {args.claims} claims "
        f"(built in {built_s:.1f} s)",
        f"GET /dashboard one quarter (2027 Q4): median {quarter_ms:.0f} ms over {args.runs} runs; "
        f"claims reported {qfig['claims']['reported']}, policies signed {qfig['policies']['signed']}",
        f"GET /dashboard whole year (2027): median {year_ms:.0f} ms over {args.runs} runs; "
        f"claims reported {yfig['claims']['reported']}, payments {yfig['payments']['count']}",
        f"machine load average during the run: {os.getloadavg()[0]:.1f} (other work shares the cores)",
        f"target <= {TARGET_MS} ms: {'met' if year_ms <= TARGET_MS else 'MISSED'}",
        f"statistics dashboard_ms={year_ms:.0f}",
    ]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "statistics.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
