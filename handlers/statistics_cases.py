"""The cases behind each dashboard figure (LG-PLAT): every figure id maps to a query on the same conditions.

A figure id is the figure's path in `statistics.dashboard()`, e.g. `claims.by_category.5`,
`risk.findings.serious`, `phases.insured`; `cases()` lists the rows it counts, so the number on the dashboard
and the length of its list are the same by construction (the tests check it for every figure).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, literal, null, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import EngineError
from engine.models import ProcessInstance

from . import statistics as st
from .claim_models import (
    Appraisal,
    Claim,
    ClaimPayment,
    CreditRecord,
    Decision,
    RepairOrder,
    SlaBreach,
    Subrogation,
    Survey,
)
from .models import Exemption, Finding, Inspection, Policy, Project, Rectification

COLUMNS = (
    "ref",
    "kind",
    "project_no",
    "project",
    "district",
    "at",
    "status",
    "detail",
    "amount",
    "instance_id",
)


class UnknownFigure(EngineError, LookupError):
    """The figure id names no dashboard figure."""

    http_status = 404


def _district(f: st.Filters) -> list:
    return [Project.district == f.district] if f.district else []


def _policy_rows(f: st.Filters, at, *where) -> Select:
    return (
        select(
            Policy.policy_no.label("ref"),
            literal("policy").label("kind"),
            Project.project_no,
            Project.name.label("project"),
            Project.district,
            at.label("at"),
            Policy.status.label("status"),
            Policy.insurer_name.label("detail"),
            Policy.premium.label("amount"),
            null().label("instance_id"),
        )
        .join(Project, Project.id == Policy.project_id)
        .where(*where, *_district(f))
    )


def _claim_rows(f: st.Filters, model=None, at=None, amount=None, detail=None, *where) -> Select:
    query = select(
        Claim.claim_no.label("ref"),
        literal("claim").label("kind"),
        Project.project_no,
        Project.name.label("project"),
        Project.district,
        (at if at is not None else Claim.reported_at).label("at"),
        Claim.status.label("status"),
        (detail if detail is not None else Claim.description).label("detail"),
        (amount if amount is not None else Claim.agreed_amount).label("amount"),
        Claim.instance_id.label("instance_id"),
    )
    if model is not None:
        query = query.select_from(model).join(Claim, Claim.id == model.claim_id)
    return (
        query.join(Policy, Policy.id == Claim.policy_id)
        .join(Project, Project.id == Policy.project_id)
        .where(*where, *_district(f))
    )


def _finding_rows(f: st.Filters, order: bool, *where) -> Select:
    query = select(
        Inspection.report_no.label("ref"),
        literal("finding").label("kind"),
        Project.project_no,
        Project.name.label("project"),
        Project.district,
        (Rectification.due_at if order else Inspection.inspected_at).label("at"),
        (Rectification.status if order else Finding.grade).label("status"),
        Finding.description.label("detail"),
        null().label("amount"),
        null().label("instance_id"),
    )
    query = query.select_from(Finding).join(Inspection, Inspection.id == Finding.inspection_id)
    if order:
        query = query.join(Rectification, Rectification.finding_id == Finding.id)
    return query.join(Project, Project.id == Inspection.project_id).where(*where, *_district(f))


def _inspection_rows(f: st.Filters, *where) -> Select:
    return (
        select(
            Inspection.report_no.label("ref"),
            literal("inspection").label("kind"),
            Project.project_no,
            Project.name.label("project"),
            Project.district,
            Inspection.inspected_at.label("at"),
            Inspection.stage.label("status"),
            Inspection.stage.label("detail"),
            null().label("amount"),
            null().label("instance_id"),
        )
        .join(Project, Project.id == Inspection.project_id)
        .where(*st.in_period(Inspection.inspected_at, f), *where, *_district(f))
    )


def _exemption_rows(f: st.Filters, at, *where) -> Select:
    return (
        select(
            Policy.policy_no.label("ref"),
            literal("exemption").label("kind"),
            Project.project_no,
            Project.name.label("project"),
            Project.district,
            at.label("at"),
            Exemption.status.label("status"),
            Exemption.ref_no.label("detail"),
            null().label("amount"),
            null().label("instance_id"),
        )
        .select_from(Exemption)
        .join(Policy, Policy.id == Exemption.policy_id)
        .join(Project, Project.id == Policy.project_id)
        .where(*st.in_period(at, f), *where, *_district(f))
    )


def _credit_rows(f: st.Filters, *where) -> Select:
    return select(
        CreditRecord.subject_code.label("ref"),
        literal("credit").label("kind"),
        null().label("project_no"),
        null().label("project"),
        null().label("district"),
        CreditRecord.recorded_at.label("at"),
        CreditRecord.event_type.label("status"),
        CreditRecord.detail.label("detail"),
        null().label("amount"),
        null().label("instance_id"),
    ).where(*st.in_period(CreditRecord.recorded_at, f), *where)


def _claims_reported(f: st.Filters, *where) -> Select:
    return _claim_rows(f, None, None, None, None, *st.in_period(Claim.reported_at, f), *where)


def _month(f: st.Filters, label: str) -> Select:
    for i, (name, bound) in enumerate(st.month_buckets(f)):
        if name == label:
            lower = f.start_at if i == 0 else st.month_buckets(f)[i - 1][1]
            return _policy_rows(f, Policy.signed_at, Policy.signed_at >= lower, Policy.signed_at < bound)
    raise UnknownFigure(f"No month {label} in the period {f.start} … {f.end}.")


def query_for(f: st.Filters, figure: str) -> Select:
    """The rows behind one figure, on the conditions its aggregate uses."""
    head, _, rest = figure.partition(".")
    sub, _, key = rest.partition(".")
    at = f.as_of()
    builders = {
        ("policies", "signed"): lambda: _policy_rows(f, Policy.signed_at, *st.in_period(Policy.signed_at, f)),
        ("policies", "premium"): lambda: _policy_rows(
            f, Policy.signed_at, *st.in_period(Policy.signed_at, f)
        ),
        ("policies", "effective"): lambda: _policy_rows(
            f, Policy.effective_at, *st.in_period(Policy.effective_at, f)
        ),
        ("policies", "by_month"): lambda: _month(f, key),
        ("risk", "inspections"): lambda: _inspection_rows(f),
        ("risk", "major_reports"): lambda: _inspection_rows(f, Inspection.has_major),
        ("risk", "major_copied"): lambda: _inspection_rows(f, Inspection.authority_copied_at.is_not(None)),
        ("risk", "major_copied_late"): lambda: _inspection_rows(
            f, Inspection.authority_copied_at > Inspection.authority_copy_due_at
        ),
        ("risk", "findings"): lambda: _finding_rows(
            f, False, Finding.grade == key, *st.in_period(Inspection.inspected_at, f)
        ),
        ("risk", "open_serious"): lambda: _finding_rows(
            f, True, Finding.grade == "serious", *st.open_order(f)
        ),
        ("risk", "overdue_rectifications"): lambda: _finding_rows(
            f, True, Rectification.due_at < at, *st.open_order(f)
        ),
        ("claims", "reported"): lambda: _claims_reported(f),
        ("claims", "by_category"): lambda: _claims_reported(
            f, Claim.category.not_in(st.CATEGORIES) if key == "other" else Claim.category == int(key or 0)
        ),
        ("claims", "by_route"): lambda: _claims_reported(
            f, Claim.route == ("" if key == "unrouted" else key)
        ),
        ("claims", "by_outcome"): lambda: _claims_reported(f, st.claim_outcome(f) == key),
        ("sla", "breaches"): lambda: _claim_rows(
            f, SlaBreach, SlaBreach.breached_at, None, SlaBreach.sla, *st.in_period(SlaBreach.breached_at, f)
        ),
        ("sla", "by_sla"): lambda: _claim_rows(
            f,
            SlaBreach,
            SlaBreach.breached_at,
            None,
            SlaBreach.sla,
            SlaBreach.sla == key,
            *st.in_period(SlaBreach.breached_at, f),
        ),
        ("durations", "survey"): lambda: _claim_rows(
            f, Survey, Survey.surveyed_at, None, Survey.findings, *st.in_period(Survey.surveyed_at, f)
        ),
        ("durations", "decision"): lambda: _claim_rows(
            f, Decision, Decision.decided_at, None, Decision.reasons, *st.in_period(Decision.decided_at, f)
        ),
        ("durations", "repair"): lambda: _claim_rows(
            f,
            RepairOrder,
            RepairOrder.completed_at,
            RepairOrder.cost,
            RepairOrder.repair_org_name,
            *st.in_period(RepairOrder.completed_at, f),
        ),
        ("payments", "count"): lambda: _claim_rows(
            f,
            ClaimPayment,
            ClaimPayment.paid_at,
            ClaimPayment.amount,
            ClaimPayment.payee,
            *st.in_period(ClaimPayment.paid_at, f),
        ),
        ("payments", "amount"): lambda: query_for(f, "payments.count"),
        ("payments", "by_kind"): lambda: _claim_rows(
            f,
            ClaimPayment,
            ClaimPayment.paid_at,
            ClaimPayment.amount,
            ClaimPayment.payee,
            ClaimPayment.kind == key,
            *st.in_period(ClaimPayment.paid_at, f),
        ),
        ("appraisals", "count"): lambda: _claim_rows(
            f,
            Appraisal,
            Appraisal.decided_at,
            Appraisal.fee,
            Appraisal.fee_payer,
            *st.in_period(Appraisal.decided_at, f),
        ),
        ("appraisals", "by_result"): lambda: _claim_rows(
            f,
            Appraisal,
            Appraisal.decided_at,
            Appraisal.fee,
            Appraisal.fee_payer,
            Appraisal.result == key,
            *st.in_period(Appraisal.decided_at, f),
        ),
        ("appraisals", "fee_payer"): lambda: _claim_rows(
            f,
            Appraisal,
            Appraisal.decided_at,
            Appraisal.fee,
            Appraisal.fee_payer,
            Appraisal.fee_payer == key,
            *st.in_period(Appraisal.decided_at, f),
        ),
        ("subrogation", "opened"): lambda: _claim_rows(
            f,
            Subrogation,
            Subrogation.opened_at,
            Subrogation.amount_recovered,
            Subrogation.against_party_code,
            *st.in_period(Subrogation.opened_at, f),
        ),
        ("subrogation", "liability_established"): lambda: _claim_rows(
            f,
            Subrogation,
            Subrogation.opened_at,
            Subrogation.amount_recovered,
            Subrogation.against_party_code,
            Subrogation.liability_established,
            *st.in_period(Subrogation.opened_at, f),
        ),
        ("exemptions", "requested"): lambda: _exemption_rows(f, Exemption.requested_at),
        ("exemptions", "approved"): lambda: _exemption_rows(
            f, Exemption.decided_at, Exemption.status == "approved"
        ),
        ("exemptions", "denied"): lambda: _exemption_rows(
            f, Exemption.decided_at, Exemption.status == "denied"
        ),
        ("credit", "records"): lambda: _credit_rows(f),
        ("credit", "by_event"): lambda: _credit_rows(f, CreditRecord.event_type == key),
    }
    if head == "phases" and rest in st.PHASES:
        return _policy_rows(f, Policy.effective_at, st.phase_expression(f) == rest, *st.in_force(f))
    builder = builders.get((head, sub))
    if builder is None:
        raise UnknownFigure(
            f"'{figure}' is not a dashboard figure; use a path like claims.by_category.5 or "
            "risk.findings.serious."
        )
    return builder()


def cases(session: Session, f: st.Filters, figure: str, limit: int = 500, offset: int = 0) -> dict[str, Any]:
    """The rows behind a figure (newest first) and their total, with the instance each case runs in."""
    query = query_for(f, normalise(figure))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = [
        dict(zip(COLUMNS, r, strict=True))
        for r in session.execute(
            query.order_by(literal_column_at(query).desc()).limit(limit).offset(offset)
        ).all()
    ]
    _link_instances(session, rows)
    for row in rows:
        row["at"] = _iso(row["at"])
        row["amount"] = None if row["amount"] is None else str(row["amount"])
    return {"figure": figure, "total": total, "rows": rows}


def literal_column_at(query: Select):
    """The `at` column of a drill-down query (for ordering)."""
    return query.selected_columns["at"]


def _iso(value) -> str | None:
    if isinstance(value, dt.datetime):
        return clock.to_local(value).isoformat(timespec="minutes")
    return value.isoformat() if isinstance(value, dt.date) else value


def _link_instances(session: Session, rows: list[dict]) -> None:
    """Rows without an instance get their project's policy lifecycle instance (business key = project no)."""
    keys = {r["project_no"] for r in rows if r["instance_id"] is None and r["project_no"]}
    if not keys:
        return
    found = dict(
        session.execute(
            select(ProcessInstance.business_key, func.max(ProcessInstance.id))
            .where(ProcessInstance.business_key.in_(keys))
            .group_by(ProcessInstance.business_key)
        ).all()
    )
    for row in rows:
        if row["instance_id"] is None:
            row["instance_id"] = found.get(row["project_no"])


def figure_ids(data: dict[str, Any]) -> list[str]:
    """Every drillable figure id of a dashboard result (counts, not averages or money sums)."""
    out: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        elif isinstance(value, int) and not isinstance(value, bool):
            out.append(prefix)

    for family in st.FAMILIES:
        walk(family, data[family])
    return [fid for fid in out if drillable(fid)]


def drillable(figure: str) -> bool:
    """True for a count figure that has a list of cases behind it."""
    parts = figure.split(".")
    if parts[0] == "durations":
        return parts[-1] == "count"
    if parts[0] == "appraisals" and parts[1] in ("loss_assessments",):
        return False
    if parts[0] == "policies" and parts[1] == "by_month":
        return parts[-1] == "signed"
    if parts[0] == "appraisals" and parts[1] == "fee_payer":
        return parts[-1] == "count"
    if parts[0] == "payments" and parts[1] == "by_kind":
        return parts[-1] == "count"
    return True


def normalise(figure: str) -> str:
    """A figure id as `query_for` reads it (drops the trailing `.count`/`.signed` of nested counts)."""
    parts = figure.split(".")
    if parts[0] == "durations":
        return f"durations.{parts[1]}"
    if parts[-1] in ("count", "signed") and len(parts) > 2:
        return ".".join(parts[:-1])
    return figure
