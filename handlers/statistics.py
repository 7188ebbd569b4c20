"""Platform statistics (LG-PLAT, DEC-REPORT): one SQL aggregate per figure family, by period and district.

A period is a range of local (Asia/Shanghai) calendar dates, both inclusive. Event figures count what
happened inside the period (a policy signed, a claim reported, a payment made); state figures (projects by
phase, open serious findings, overdue rectifications, claim outcomes) are taken *as of* the end of the
period, or now while the period is still running, from stored dates, so a report generated after the
quarter and the dashboard opened months later give the same numbers. Every figure has a drill-down in
handlers/statistics_cases.py built on the same conditions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, extract, func, literal, select
from sqlalchemy.orm import Session

from engine import clock
from engine.clock import LOCAL_TZ

from .claim_models import (
    Appraisal,
    Claim,
    ClaimPayment,
    CreditRecord,
    Decision,
    LossAssessment,
    RepairOrder,
    SlaBreach,
    Subrogation,
    Survey,
)
from .models import Exemption, Finding, Inspection, Policy, Project, Rectification
from .records import money

PHASES = ("construction", "contractor_period", "insured", "expired")
GRADES = ("serious", "moderate", "minor", "observation")
CATEGORIES = tuple(range(1, 9))
ROUTES = ("insurer", "contractor", "expired", "not_in_scope")
SLAS = ("survey", "decision", "rejection_notice", "repair_start", "payment")


@dataclass(frozen=True)
class Filters:
    """A period of local dates (inclusive) and an optional district."""

    start: dt.date
    end: dt.date
    district: str | None = None

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"The period ends ({self.end}) before it starts ({self.start}); swap the dates.")

    @property
    def start_at(self) -> dt.datetime:
        """00:00 Asia/Shanghai of the first day, as a UTC instant."""
        return dt.datetime.combine(self.start, dt.time(0), LOCAL_TZ).astimezone(dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        """24:00 Asia/Shanghai of the last day (exclusive bound), as a UTC instant."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), LOCAL_TZ).astimezone(dt.UTC)

    def as_of(self) -> dt.datetime:
        """When state figures are taken: the end of the period, or now while it runs."""
        return min(self.end_at, clock.now())

    def as_of_day(self) -> dt.date:
        """The local date of `as_of` (the last day the state figures include)."""
        return clock.to_local(self.as_of() - dt.timedelta(microseconds=1)).date()

    def describe(self) -> dict[str, Any]:
        """JSON-safe period and filter."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "district": self.district or "",
            "as_of": clock.to_local(self.as_of()).isoformat(),
        }


def quarter_of(day: dt.date) -> tuple[int, int]:
    """(year, quarter) of a date."""
    return day.year, (day.month - 1) // 3 + 1


def quarter_filters(year: int, quarter: int, district: str | None = None) -> Filters:
    """The filters of one calendar quarter."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, not {quarter}")
    start = dt.date(year, 3 * quarter - 2, 1)
    end = (dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)) - dt.timedelta(
        days=1
    )
    return Filters(start, end, district)


def in_period(column, f: Filters) -> list[ColumnElement[bool]]:
    """The column's instant lies inside the period."""
    return [column >= f.start_at, column < f.end_at]


def project_ids(f: Filters):
    """Projects of the district (a subquery), or None without a district filter."""
    return select(Project.id).where(Project.district == f.district) if f.district else None


def policy_ids(f: Filters):
    """Policies of the district's projects (a subquery), or None without a district filter."""
    return select(Policy.id).where(Policy.project_id.in_(project_ids(f))) if f.district else None


def by_policy(column, f: Filters) -> list[ColumnElement[bool]]:
    """The district condition on a column holding a policy id."""
    return [column.in_(policy_ids(f))] if f.district else []


def by_claim(column, f: Filters) -> list[ColumnElement[bool]]:
    """The district condition on a column holding a claim id."""
    if not f.district:
        return []
    return [column.in_(select(Claim.id).where(Claim.policy_id.in_(policy_ids(f))))]


def by_project(column, f: Filters) -> list[ColumnElement[bool]]:
    """The district condition on a column holding a project id."""
    return [column.in_(project_ids(f))] if f.district else []


def days_between(session: Session, later, earlier):
    """SQL: the time from `earlier` to `later` in days (fractional), on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return extract("epoch", later - earlier) / 86400.0


def _amount(value) -> str:
    return str(money(value or 0))


# ---- figure families ------------------------------------------------------------------------------


def month_buckets(f: Filters) -> list[tuple[str, dt.datetime]]:
    """(label, exclusive end instant) of each local calendar month the period touches."""
    out, first = [], f.start.replace(day=1)
    while first <= f.end:
        following = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
        bound = min(dt.datetime.combine(following, dt.time(0), LOCAL_TZ).astimezone(dt.UTC), f.end_at)
        out.append((first.strftime("%Y-%m"), bound))
        first = following
    return out


def policies(session: Session, f: Filters) -> dict[str, Any]:
    """LG-PLAT: policies signed and premium written in the period, by month; policies made effective."""
    buckets = month_buckets(f)
    month = case(
        *[(Policy.signed_at < bound, literal(label)) for label, bound in buckets],
        else_=literal(buckets[-1][0]),
    )
    rows = session.execute(
        select(month, func.count(), func.sum(Policy.premium))
        .where(*in_period(Policy.signed_at, f), *by_project(Policy.project_id, f))
        .group_by(month)
    ).all()
    found = {label: (n, total) for label, n, total in rows}
    series = [
        {
            "month": label,
            "signed": found.get(label, (0, 0))[0],
            "premium": _amount(found.get(label, (0, 0))[1]),
        }
        for label, _ in buckets
    ]
    effective = session.scalar(
        select(func.count())
        .select_from(Policy)
        .where(*in_period(Policy.effective_at, f), *by_project(Policy.project_id, f))
    )
    return {
        "signed": sum(n for n, _ in found.values()),
        "premium": _amount(sum((money(t or 0) for _, t in found.values()), Decimal(0))),
        "effective": effective or 0,
        "by_month": series,
    }


def phase_expression(f: Filters):
    """SQL: the phase of a policy as of the period's end, from its stored cover dates (DEC-DATES)."""
    day = f.as_of_day()
    return case(
        (Policy.contractor_start.is_(None) | (Policy.contractor_start > day), "construction"),
        (Policy.contractor_end >= day, "contractor_period"),
        (Policy.end_items_1_4 >= day, "insured"),
        else_="expired",
    )


def in_force(f: Filters) -> list[ColumnElement[bool]]:
    """Policies effective by the period's end and not cancelled by then."""
    at = f.as_of()
    return [Policy.effective_at < at, Policy.cancelled_at.is_(None) | (Policy.cancelled_at >= at)]


def phases(session: Session, f: Filters) -> dict[str, int]:
    """DEC-REPORT: projects by phase (construction, contractor period, insured, expired) as of the end."""
    phase = phase_expression(f)
    rows = session.execute(
        select(phase, func.count()).where(*in_force(f), *by_project(Policy.project_id, f)).group_by(phase)
    ).all()
    found = dict(rows)
    return {p: found.get(p, 0) for p in PHASES}


def open_order(f: Filters) -> list[ColumnElement[bool]]:
    """Rectification orders issued by the period's end and not closed by then."""
    at = f.as_of()
    return [Rectification.issued_at < at, Rectification.closed_at.is_(None) | (Rectification.closed_at >= at)]


def risk(session: Session, f: Filters) -> dict[str, Any]:
    """DEC-RM-LOOP LG-RM-MAJOR: inspections, findings by grade, major-risk copies, open and overdue orders."""
    district = by_project(Inspection.project_id, f)
    inspections, major, copied, late = session.execute(
        select(
            func.count(),
            func.count().filter(Inspection.has_major),
            func.count().filter(Inspection.authority_copied_at.is_not(None)),
            func.count().filter(Inspection.authority_copied_at > Inspection.authority_copy_due_at),
        ).where(*in_period(Inspection.inspected_at, f), *district)
    ).one()
    grades = dict(
        session.execute(
            select(Finding.grade, func.count())
            .join(Inspection)
            .where(*in_period(Inspection.inspected_at, f), *district)
            .group_by(Finding.grade)
        ).all()
    )
    open_serious = session.scalar(
        select(func.count())
        .select_from(Rectification)
        .join(Finding)
        .join(Inspection)
        .where(Finding.grade == "serious", *open_order(f), *district)
    )
    overdue = session.scalar(
        select(func.count())
        .select_from(Rectification)
        .join(Finding)
        .join(Inspection)
        .where(Rectification.due_at < f.as_of(), *open_order(f), *district)
    )
    return {
        "inspections": inspections,
        "major_reports": major,
        "major_copied": copied,
        "major_copied_late": late,
        "findings": {g: grades.get(g, 0) for g in GRADES},
        "open_serious": open_serious or 0,
        "overdue_rectifications": overdue or 0,
    }


def claim_outcome(f: Filters):
    """SQL: a claim's outcome as of the period's end ('open' while not closed by then)."""
    return case((Claim.closed_at < f.as_of(), Claim.outcome), else_=literal("open"))


def claims(session: Session, f: Filters) -> dict[str, Any]:
    """DEC-REPORT: claims reported in the period by category, route and outcome (one grouped scan)."""
    outcome = claim_outcome(f)
    rows = session.execute(
        select(Claim.category, Claim.route, outcome, func.count())
        .where(*in_period(Claim.reported_at, f), *by_policy(Claim.policy_id, f))
        .group_by(Claim.category, Claim.route, outcome)
    ).all()
    category = {str(c): 0 for c in CATEGORIES}
    routes = {r: 0 for r in ROUTES}
    outcomes: dict[str, int] = {}
    for cat, route, result, n in rows:
        key = str(cat) if cat in CATEGORIES else "other"
        category[key] = category.get(key, 0) + n
        routes[route or "unrouted"] = routes.get(route or "unrouted", 0) + n
        outcomes[result or "open"] = outcomes.get(result or "open", 0) + n
    return {
        "reported": sum(r[3] for r in rows),
        "by_category": category,
        "by_route": routes,
        "by_outcome": dict(sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def sla(session: Session, f: Filters) -> dict[str, Any]:
    """DEC-SLA: service levels missed in the period, by kind."""
    rows = dict(
        session.execute(
            select(SlaBreach.sla, func.count())
            .where(*in_period(SlaBreach.breached_at, f), *by_claim(SlaBreach.claim_id, f))
            .group_by(SlaBreach.sla)
        ).all()
    )
    kinds = {k: rows.get(k, 0) for k in SLAS} | {k: v for k, v in rows.items() if k not in SLAS}
    return {"breaches": sum(rows.values()), "by_sla": kinds}


def _average_days(session: Session, later, earlier, *where) -> dict[str, Any]:
    n, avg = session.execute(
        select(func.count(), func.avg(days_between(session, later, earlier))).where(*where)
    ).one()
    return {"count": n, "average_days": round(float(avg), 1) if avg is not None else None}


def durations(session: Session, f: Filters) -> dict[str, Any]:
    """LG-CLM-PROC: average days from report to survey and to decision, and from repair order to done."""
    survey = _average_days(
        session,
        Survey.surveyed_at,
        Claim.reported_at,
        Survey.claim_id == Claim.id,
        *in_period(Survey.surveyed_at, f),
        *by_policy(Claim.policy_id, f),
    )
    decision = _average_days(
        session,
        Decision.decided_at,
        Claim.reported_at,
        Decision.claim_id == Claim.id,
        *in_period(Decision.decided_at, f),
        *by_policy(Claim.policy_id, f),
    )
    repair = _average_days(
        session,
        RepairOrder.completed_at,
        RepairOrder.issued_at,
        *in_period(RepairOrder.completed_at, f),
        *by_claim(RepairOrder.claim_id, f),
    )
    return {"survey": survey, "decision": decision, "repair": repair}


def payments(session: Session, f: Filters) -> dict[str, Any]:
    """LG-CLM-PROC: amounts the insurer paid in the period, indemnities and repair bills."""
    rows = session.execute(
        select(ClaimPayment.kind, func.count(), func.sum(ClaimPayment.amount))
        .where(*in_period(ClaimPayment.paid_at, f), *by_claim(ClaimPayment.claim_id, f))
        .group_by(ClaimPayment.kind)
    ).all()
    kinds = {k: {"count": 0, "amount": "0.00"} for k in ("indemnity", "repair")}
    for kind, n, total in rows:
        kinds[kind] = {"count": n, "amount": _amount(total)}
    total = sum((money(t or 0) for _, _, t in rows), Decimal(0))
    return {"count": sum(r[1] for r in rows), "amount": _amount(total), "by_kind": kinds}


def appraisals(session: Session, f: Filters) -> dict[str, Any]:
    """LG-DSP-APPRAISAL, LG-DSP-AMOUNT: appraisals and loss assessments settled, by result and fee payer."""
    rows = session.execute(
        select(Appraisal.result, Appraisal.fee_payer, func.count(), func.sum(Appraisal.fee))
        .where(*in_period(Appraisal.decided_at, f), *by_claim(Appraisal.claim_id, f))
        .group_by(Appraisal.result, Appraisal.fee_payer)
    ).all()
    payers: dict[str, dict[str, Any]] = {p: {"count": 0, "fees": "0.00"} for p in ("insurer", "owner")}
    results = {"covered": 0, "not_covered": 0}
    for result, payer, n, fees in rows:
        results[result] = results.get(result, 0) + n
        entry = payers.setdefault(payer, {"count": 0, "fees": "0.00"})
        entry["count"] += n
        entry["fees"] = _amount(money(entry["fees"]) + money(fees or 0))
    loss = session.execute(
        select(LossAssessment.fee_payer, func.count(), func.sum(LossAssessment.fee))
        .where(*in_period(LossAssessment.decided_at, f), *by_claim(LossAssessment.claim_id, f))
        .group_by(LossAssessment.fee_payer)
    ).all()
    return {
        "count": sum(r[2] for r in rows),
        "by_result": results,
        "fee_payer": payers,
        "loss_assessments": {
            "count": sum(r[1] for r in loss),
            "fee_payer": {p: {"count": n, "fees": _amount(t)} for p, n, t in loss},
        },
    }


def subrogation(session: Session, f: Filters) -> dict[str, Any]:
    """LG-CLM-SUBRO: subrogation opened in the period, amounts claimed and recovered, liability found."""
    n, established, claimed, recovered = session.execute(
        select(
            func.count(),
            func.count().filter(Subrogation.liability_established),
            func.sum(Subrogation.amount_claimed),
            func.sum(Subrogation.amount_recovered),
        ).where(*in_period(Subrogation.opened_at, f), *by_claim(Subrogation.claim_id, f))
    ).one()
    return {
        "opened": n,
        "liability_established": established,
        "claimed": _amount(claimed),
        "recovered": _amount(recovered),
    }


def exemptions(session: Session, f: Filters) -> dict[str, Any]:
    """LG-FUND-EXEMPT: maintenance-fund exemptions requested in the period, and decided in it."""
    requested = session.scalar(
        select(func.count())
        .select_from(Exemption)
        .where(*in_period(Exemption.requested_at, f), *by_policy(Exemption.policy_id, f))
    )
    decided = dict(
        session.execute(
            select(Exemption.status, func.count())
            .where(*in_period(Exemption.decided_at, f), *by_policy(Exemption.policy_id, f))
            .group_by(Exemption.status)
        ).all()
    )
    return {
        "requested": requested or 0,
        "approved": decided.get("approved", 0),
        "denied": decided.get("denied", 0),
    }


def credit(session: Session, f: Filters) -> dict[str, Any]:
    """LG-CREDIT: credit feedback sent to the authority in the period, by event."""
    # A credit record names a unit, not a project: the district filter does not apply to it.
    rows = dict(
        session.execute(
            select(CreditRecord.event_type, func.count())
            .where(*in_period(CreditRecord.recorded_at, f))
            .group_by(CreditRecord.event_type)
        ).all()
    )
    return {"records": sum(rows.values()), "by_event": rows}


FAMILIES = {
    "policies": policies,
    "phases": phases,
    "risk": risk,
    "claims": claims,
    "sla": sla,
    "durations": durations,
    "payments": payments,
    "appraisals": appraisals,
    "subrogation": subrogation,
    "exemptions": exemptions,
    "credit": credit,
}


def dashboard(session: Session, f: Filters) -> dict[str, Any]:
    """Every figure family for the period and district (what the dashboard, the API and the report show)."""
    return {"period": f.describe(), **{name: family(session, f) for name, family in FAMILIES.items()}}


def districts(session: Session) -> list[str]:
    """The districts projects are registered in (for the filter)."""
    return [d for d in session.scalars(select(Project.district).distinct().order_by(Project.district)) if d]
