"""Statistics and quarterly reports as JSON (LG-PLAT, DEC-REPORT): the dashboard's figures, the cases behind
one figure, the reports and their files."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from handlers import reports
from handlers import statistics as st
from handlers import statistics_cases as cases

from ..db import get_session
from ..errors import ApiError
from .access import require_role
from .params import page

bp = Blueprint("statistics", __name__)

#: the insurer's staff and the authority (administrators hold every role)
ROLES = ("underwriter", "claims_supervisor", "claims_handler", "authority_officer")
FILE_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}


def _filters() -> st.Filters:
    args, district = request.args, (request.args.get("district") or "").strip() or None
    try:
        if args.get("quarter"):
            year, quarter = args["quarter"].upper().split("Q")
            return st.quarter_filters(int(year), int(quarter), district)
        if args.get("start") and args.get("end"):
            return st.Filters(dt.date.fromisoformat(args["start"]), dt.date.fromisoformat(args["end"]), district)
    except ValueError as err:
        raise ApiError(
            400,
            "BadRequest",
            f"Bad period: {err}. Send quarter=2027Q2, or start and end as YYYY-MM-DD (local dates, both inclusive).",
        ) from None
    raise ApiError(400, "BadRequest", "Send the period: quarter=2027Q2, or start and end as YYYY-MM-DD.")


@bp.get("/statistics")
def statistics():
    """GET /statistics?quarter=2027Q2 (or start, end) [&district]: every dashboard figure."""
    require_role(*ROLES)
    return jsonify(st.dashboard(get_session(), _filters()))


@bp.get("/statistics/cases")
def statistics_cases():
    """GET /statistics/cases?figure=claims.by_category.5&quarter=2027Q2: the cases behind one figure."""
    require_role(*ROLES)
    limit, offset = page()
    try:
        return jsonify(cases.cases(get_session(), _filters(), request.args.get("figure", ""), limit, offset))
    except ValueError as err:
        raise ApiError(400, "BadRequest", str(err)) from None


@bp.get("/reports")
def report_list():
    """GET /reports: the quarterly reports, newest first (without figures)."""
    require_role(*ROLES)
    items = [
        {k: v for k, v in reports.describe(r).items() if k != "figures"} for r in reports.list_reports(get_session())
    ]
    return jsonify({"items": items})


@bp.get("/reports/<report_no>")
def report_detail(report_no: str):
    """GET /reports/<report_no>: one report with its figures and its lines as the authority reads them."""
    require_role(*ROLES)
    report = reports.report_by_no(get_session(), report_no)
    return jsonify({**reports.describe(report), "lines": reports.report_rows(report.figures)})


@bp.get("/reports/<report_no>/<kind>")
def report_file(report_no: str, kind: str):
    """GET /reports/<report_no>/xlsx or /pdf: the report's file."""
    require_role(*ROLES)
    if kind not in FILE_TYPES:
        raise ApiError(404, "NotFound", f"Reports come as xlsx or pdf, not '{kind}'.")
    report = reports.report_by_no(get_session(), report_no)
    return Response(
        getattr(report, kind),
        mimetype=FILE_TYPES[kind],
        headers={"Content-Disposition": f"attachment; filename={report.report_no}.{kind}"},
    )
