"""The statistics dashboard for the insurer and the authority (LG-PLAT), the cases behind each figure, the
quarterly reports (DEC-REPORT) with their XLSX/PDF, and CSV export of every table view."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, Response, abort, render_template, request, url_for

from engine import clock
from handlers import reports
from handlers import statistics as st
from handlers import statistics_cases as cases

from .auth import roles_required
from .db import get_session

bp = Blueprint("dashboard", __name__)

#: the insurer's staff and the authority; administrators hold every role
VIEW_ROLES = ("underwriter", "claims_supervisor", "claims_handler", "authority_officer")


def filters_from(args) -> st.Filters:
    """Period and district from the query (`quarter=2027Q2`, or `start`/`end` dates); default: this quarter."""
    district = (args.get("district") or "").strip() or None
    quarter = (args.get("quarter") or "").strip().upper()
    try:
        if quarter:
            year, q = quarter.split("Q")
            return st.quarter_filters(int(year), int(q), district)
        if args.get("start") and args.get("end"):
            return st.Filters(dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]), district)
    except ValueError:
        abort(400, description="Give the period as quarter=2027Q2, or start and end as YYYY-MM-DD.")
    year, q = st.quarter_of(clock.local_today())
    return st.quarter_filters(year, q, district)


def filter_args(f: st.Filters) -> dict[str, str]:
    """The query arguments that reproduce the filters (for links)."""
    return {"start": f.start.isoformat(), "end": f.end.isoformat(), **({"district": f.district} if f.district else {})}


def csv_response(name: str, header: list[str], rows: list[list]) -> Response:
    """A UTF-8 CSV (with BOM, so spreadsheet programs read the Chinese) named `name`.csv."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        "\ufeff" + buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}.csv"},
    )


def quarter_choices(today: dt.date, count: int = 8) -> list[str]:
    """The last `count` quarters, newest first, as 2027Q2."""
    year, q = st.quarter_of(today)
    out = []
    for _ in range(count):
        out.append(f"{year}Q{q}")
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
    return out


@bp.get("/dashboard")
@roles_required(*VIEW_ROLES)
def dashboard():
    """KPI cards, charts and every figure as a table; each number links to its cases; ?format=csv exports."""
    session, f = get_session(), filters_from(request.args)
    data = st.dashboard(session, f)
    rows = reports.report_rows(data)
    if request.args.get("format") == "csv":
        return csv_response(
            f"statistics-{f.start}-{f.end}",
            ["section", "figure", "value", "figure_id"],
            [[r["section"], r["label"], r["value"], r["figure"] or ""] for r in rows],
        )
    args = filter_args(f)

    def link(figure: str) -> str:
        return url_for("dashboard.figure_cases", figure=figure, **args)

    return render_template(
        "dashboard/dashboard.html",
        data=data,
        rows=rows,
        f=f,
        args=args,
        link=link,
        districts=st.districts(session),
        quarters=quarter_choices(clock.local_today()),
        labels=_labels(),
        quarter=request.args.get("quarter", ""),
    )


def _labels() -> dict:
    return {
        "phases": reports.PHASE_LABELS,
        "grades": reports.GRADE_LABELS,
        "outcomes": reports.OUTCOME_LABELS,
        "categories": reports.CATEGORY_LABELS,
        "slas": reports.SLA_LABELS,
        "routes": reports.ROUTE_LABELS,
    }


@bp.get("/dashboard/cases")
@roles_required(*VIEW_ROLES)
def figure_cases():
    """The cases behind one figure (`figure=claims.by_category.5`), with links to each case; CSV too."""
    session, f = get_session(), filters_from(request.args)
    figure = request.args.get("figure", "")
    try:
        listing = cases.cases(session, f, figure, limit=2000 if request.args.get("format") == "csv" else 500)
    except (cases.UnknownFigure, ValueError):
        abort(404)
    if request.args.get("format") == "csv":
        return csv_response(
            f"cases-{figure}-{f.start}-{f.end}",
            list(cases.COLUMNS),
            [[r[c] for c in cases.COLUMNS] for r in listing["rows"]],
        )
    label = next((r["label"] for r in reports.report_rows(st.dashboard(session, f)) if r["figure"] == figure), figure)
    return render_template(
        "dashboard/cases.html", listing=listing, f=f, args=filter_args(f), label=label, figure=figure
    )


@bp.get("/reports")
@roles_required(*VIEW_ROLES)
def report_list():
    """The quarterly reports with their status and dates; ?format=csv exports."""
    rows = [reports.describe(r) for r in reports.list_reports(get_session())]
    if request.args.get("format") == "csv":
        keys = [
            "report_no",
            "period_start",
            "period_end",
            "status",
            "generated_at",
            "due_at",
            "submitted_at",
            "submitted_by",
            "received_at",
            "received_by",
        ]
        return csv_response("quarterly-reports", keys, [[r[k] for k in keys] for r in rows])
    return render_template("dashboard/reports.html", reports=rows)


def _report(report_no: str):
    try:
        return reports.report_by_no(get_session(), report_no)
    except reports.ReportNotFound:
        abort(404)


@bp.get("/reports/<report_no>")
@roles_required(*VIEW_ROLES)
def report_page(report_no: str):
    """One quarterly report as a page: its lines link to the cases of its quarter."""
    report = _report(report_no)
    args = {"start": report.period_start.isoformat(), "end": report.period_end.isoformat()}
    return render_template(
        "dashboard/report.html",
        report=reports.describe(report),
        head=reports.heading(report),
        rows=reports.report_rows(report.figures),
        args=args,
    )


@bp.get("/reports/<report_no>.<kind>")
@roles_required(*VIEW_ROLES)
def report_file(report_no: str, kind: str):
    """The report's XLSX or PDF."""
    report = _report(report_no)
    types = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}
    if kind not in types:
        abort(404)
    return Response(
        getattr(report, kind),
        mimetype=types[kind],
        headers={"Content-Disposition": f"attachment; filename={report.report_no}.{kind}"},
    )
