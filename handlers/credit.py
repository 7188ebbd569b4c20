"""Credit records per participating unit (LG-CREDIT, LG-PREM-RATE): the insurer's risk feedback.

Two events make a record, each sent to the authority's construction-market credit evaluation:
- a serious finding left unremedied until its rectification order escalates to the authority
  (DEC-RM-LOOP's last step), recorded against the project's construction contractor;
- defect liability established in subrogation (handlers/claim_disputes.record_subrogation), recorded
  against the responsible unit.
The premium decision reads the grade these records leave (`grade_for`): DEC-RATE's credit factor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .claim_models import CreditRecord
from .models import Finding, Inspection, Party, Project, Rectification

UNREMEDIED = "unremedied_serious_finding"
LIABILITY = "established_defect_liability"
#: DEC-RATE [DECISION]: records of the last LOOKBACK_YEARS lower the unit's grade one step each (A → B → C);
#: a grade outside the ladder, or a unit with no grade, falls to the last step. No record: the filed grade.
GRADE_LADDER = ("A", "B", "C")
LOOKBACK_YEARS = 3


def record_unremedied_finding(
    session: Session, order: Rectification, now: dt.datetime
) -> CreditRecord | None:
    """LG-CREDIT: a serious finding still open when its order reaches the authority; once per order."""
    finding = session.get(Finding, order.finding_id)
    if finding is None or finding.grade != "serious" or order.status == "closed":
        return None
    evidence = f"rectification/{order.id}"
    known = session.scalar(
        select(CreditRecord.id).where(
            CreditRecord.event_type == UNREMEDIED, CreditRecord.evidence_ref == evidence
        )
    )
    if known is not None:
        return None
    inspection = session.get(Inspection, finding.inspection_id)
    project = session.get(Project, inspection.project_id)
    contractor = session.get(Party, project.contractor_id)
    row = CreditRecord(
        subject_code=contractor.credit_code,
        event_type=UNREMEDIED,
        claim_id=None,
        evidence_ref=evidence,
        recorded_at=now,
        sent_to="authority_officer",
        detail=f"严重问题未整改 Serious finding not remedied by its deadline: project "
        f"{project.project_no}, report {inspection.report_no} item {finding.item_no}: "
        f"{finding.description}",
    )
    session.add(row)
    session.flush()
    return row


def count_recent(session: Session, codes: list[str], at: dt.datetime) -> int:
    """Credit records against any of the units in the look-back window before `at`."""
    since = at - relativedelta(years=LOOKBACK_YEARS)
    return (
        session.scalar(
            select(func.count())
            .select_from(CreditRecord)
            .where(
                CreditRecord.subject_code.in_([c for c in codes if c]),
                CreditRecord.recorded_at >= since,
                CreditRecord.recorded_at <= at,
            )
        )
        or 0
    )


def lowered(grade: str, steps: int) -> str:
    """`grade` moved down `steps` rungs of GRADE_LADDER (unknown grades go to the bottom)."""
    if steps <= 0:
        return grade
    if grade not in GRADE_LADDER:
        return GRADE_LADDER[-1]
    return GRADE_LADDER[min(GRADE_LADDER.index(grade) + steps, len(GRADE_LADDER) - 1)]


def grade_for(session: Session, codes: list[str], filed_grade: str, at: dt.datetime) -> dict[str, Any]:
    """LG-CREDIT LG-PREM-RATE: the grade the premium decision reads, from credit records when present."""
    records = count_recent(session, codes, at)
    return {
        "grade": lowered(filed_grade or "", records),
        "filed_grade": filed_grade or "",
        "records": records,
        "source": "credit_records" if records else "filed",
    }


def units(session: Session, at: dt.datetime) -> list[dict[str, Any]]:
    """LG-CREDIT LG-OVERSIGHT: every unit with credit records: count, last record and the resulting grade."""
    rows = session.execute(
        select(CreditRecord.subject_code, func.count(), func.max(CreditRecord.recorded_at))
        .group_by(CreditRecord.subject_code)
        .order_by(func.max(CreditRecord.recorded_at).desc())
    ).all()
    parties = {
        p.credit_code: p
        for p in session.scalars(select(Party).where(Party.credit_code.in_([r[0] for r in rows])))
    }
    out = []
    for code, n, last in rows:
        party = parties.get(code)
        filed = party.credit_grade if party else ""
        out.append(
            {
                "credit_code": code,
                "name": party.name if party else code,
                "kind": party.kind if party else "",
                "records": n,
                "last_recorded_at": last,
                **grade_for(session, [code], filed, at),
            }
        )
    return out


def records(session: Session, limit: int = 500) -> list[CreditRecord]:
    """The credit feedback sent, newest first."""
    return list(
        session.scalars(
            select(CreditRecord)
            .order_by(CreditRecord.recorded_at.desc(), CreditRecord.id.desc())
            .limit(limit)
        )
    )
