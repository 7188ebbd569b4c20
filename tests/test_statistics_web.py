"""The dashboard, drill-down, reports, oversight pages and /api/v1/statistics on the known data set
(LG-PLAT, DEC-REPORT, LG-OVERSIGHT, LG-CREDIT): the figures shown are the hand-computed ones, each links to
its cases, every table exports as CSV, and only the insurer's staff and the authority get in."""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import commit
from test_statistics_support import EXPECTED_Q2, at, build_known_data
from web_factories import gen_app, login

from engine import db
from handlers import reports
from web.accounts import find_user
from web.auth_tokens import issue_token
from web.db import database

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url, session, fixed_clock):
    """The web app on the known data set, with the Q2 report generated, the clock on 20 July 2027."""
    application = gen_app(db_url)
    build_known_data(session, fixed_clock)
    reports.generate(session, 2027, 2, at(2027, 7, 1, 0, 0))
    commit(session)
    return application


def client_for(app, who: str):
    client = app.test_client()
    login(client, who)
    return client


def _csv(response) -> list[list[str]]:
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_dashboard_shows_the_hand_computed_figures_each_linked_to_its_cases(app):
    """LG-PLAT: the Q2 dashboard in Chinese: KPI cards and the full table carry EXPECTED_Q2's values."""
    html = client_for(app, "authority_officer").get("/dashboard?quarter=2027Q2").get_data(as_text=True)
    assert "统计分析" in html and "echarts.min.js" in html
    kpi = dict(
        re.findall(
            r'data-figure="([^"]+)"><span class="kpi-label">[^<]*</span><span class="kpi-value">'
            r"([^<]*)</span>",
            html,
        )
    )
    assert kpi["policies.signed"] == "1" and kpi["claims.reported"] == "4"
    assert kpi["risk.open_serious"] == "1" and kpi["risk.overdue_rectifications"] == "2"
    assert kpi["policies.premium"] == "¥300,000.25" and kpi["payments.count"] == "¥50,000.00"
    assert kpi["durations.survey"] == "2.0" and kpi["sla.breaches"] == "1"
    linked = re.findall(r'<a href="/dashboard/cases\?figure=([^&"]+)[^"]*">([^<]*)</a>', html)
    table = dict(linked)
    assert table["phases.construction"] == "2" and table["claims.by_category.other"] == "1"
    assert table["subrogation.liability_established"] == "1"
    assert table["credit.by_event.unremedied_serious_finding"] == "1"
    assert len(linked) >= 60


def test_drill_down_lists_the_cases_and_exports_them(app):
    """LG-PLAT: "claims, outcome paid" in Q2 lists claim K5; the list exports as CSV."""
    client = client_for(app, "underwriter")
    page = client.get("/dashboard/cases?figure=claims.by_outcome.paid&start=2027-04-01&end=2027-06-30")
    html = page.get_data(as_text=True)
    assert '<span class="total">1</span>' in html and ">K5<" in html.replace("</a>", "<")
    rows = _csv(client.get("/dashboard/cases?figure=claims.by_outcome.paid&start=2027-04-01&end=2027-06-30&format=csv"))
    assert rows[0][:3] == ["ref", "kind", "project_no"] and [r[0] for r in rows[1:]] == ["K5"]
    assert client.get("/dashboard/cases?figure=bogus&quarter=2027Q2").status_code == 404


def test_dashboard_exports_every_figure_as_csv(app):
    rows = _csv(client_for(app, "claims_supervisor").get("/dashboard?quarter=2027Q2&format=csv"))
    values = {r[3]: r[2] for r in rows[1:] if r[3]}
    assert values["policies.premium"] == "300000.25" and values["claims.by_route.contractor"] == "1"
    assert values["credit.records"] == str(EXPECTED_Q2["credit"]["records"])


def test_report_page_and_files(app):
    """DEC-REPORT: the report page lists the lines with links to the quarter's cases; XLSX and PDF download."""
    client = client_for(app, "authority_officer")
    listing = client.get("/reports").get_data(as_text=True)
    assert "QR-2027Q2" in listing
    html = client.get("/reports/QR-2027Q2").get_data(as_text=True)
    assert "建设工程质量潜在缺陷保险季度统计报告" in html and "2027年第2季度" in html
    assert "/dashboard/cases?figure=claims.reported&amp;start=2027-04-01&amp;end=2027-06-30" in html
    xlsx = client.get("/reports/QR-2027Q2.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    pdf = client.get("/reports/QR-2027Q2.pdf")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    assert client.get("/reports/QR-1999Q1").status_code == 404
    assert _csv(client.get("/reports?format=csv"))[1][0] == "QR-2027Q2"


def test_oversight_shows_projects_major_risks_overdue_orders_and_credit(app):
    """LG-OVERSIGHT LG-RM-MAJOR LG-CREDIT: the authority's read-only tables, each exportable."""
    client = client_for(app, "authority_officer")
    projects = _csv(client.get("/oversight/?format=csv"))
    assert [r[0] for r in projects[1:]] == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    phase = {r[0]: r[7] for r in projects[1:]}
    assert phase == {
        "P1": "construction",
        "P2": "contractor_period",
        "P3": "construction",
        "P4": "insured",
        "P5": "expired",
        "P6": "construction",
        "P7": "cancelled",
    }
    assert {r[0]: r[10] for r in projects[1:]}["P2"] == "1"  # R-2's serious finding is still open
    major = _csv(client.get("/oversight/major-risks?format=csv"))
    assert [(r[0], r[9]) for r in major[1:]] == [("R-2", "yes"), ("R-1", "")]
    overdue = _csv(client.get("/oversight/rectifications?format=csv"))
    assert [(r[0], r[4]) for r in overdue[1:]] == [("P2", "serious"), ("P2", "minor")]
    feedback = _csv(client.get("/oversight/credit?format=csv"))
    assert [(r[1], r[3], r[6]) for r in feedback[1:]] == [
        ("91330300CON0000001", "established_defect_liability", "B"),
        ("91330300CON0000002", "unremedied_serious_finding", "C"),
    ]
    html = client.get("/oversight/").get_data(as_text=True)
    assert '<form method="post"' not in html.split("<main", 1)[1]  # read-only: no forms to act with


@pytest.mark.parametrize(
    "who,dashboard,oversight",
    [
        ("authority_officer", 200, 200),
        ("underwriter", 200, 302),
        ("claims_supervisor", 200, 302),
        ("administrator", 200, 200),
        ("owner", 302, 302),
        ("developer", 302, 302),
        ("contractor", 302, 302),
    ],
)
def test_who_may_see_statistics_and_oversight(app, who, dashboard, oversight):
    """Refused pages send the user to the login page with a note (web.auth.refuse): 302."""
    client = client_for(app, who)
    assert client.get("/dashboard?quarter=2027Q2").status_code == dashboard
    assert client.get("/reports/QR-2027Q2.pdf").status_code == dashboard
    assert client.get("/oversight/").status_code == oversight


def test_statistics_api_gives_the_same_figures(app):
    """LG-PLAT: GET /api/v1/statistics equals the hand-computed Q2 figures; cases and reports too."""
    with db.unit_of_work(database(app).session_factory) as s:
        token = issue_token(s, find_user(s, "authority_officer"))
        owner_token = issue_token(s, find_user(s, "owner"))
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/statistics?quarter=2027Q2", headers=auth).json
    assert {k: v for k, v in body.items() if k != "period"} == EXPECTED_Q2
    assert client.get("/api/v1/statistics?start=2027-04-01&end=2027-06-30", headers=auth).json == body
    listing = client.get(
        "/api/v1/statistics/cases?figure=risk.overdue_rectifications&quarter=2027Q2", headers=auth
    ).json
    assert listing["total"] == 2 and {r["ref"] for r in listing["rows"]} == {"R-2"}
    assert client.get("/api/v1/statistics", headers=auth).status_code == 400
    assert client.get("/api/v1/statistics/cases?figure=x.y&quarter=2027Q2", headers=auth).status_code == 404
    assert [r["report_no"] for r in client.get("/api/v1/reports", headers=auth).json["items"]] == ["QR-2027Q2"]
    detail = client.get("/api/v1/reports/QR-2027Q2", headers=auth).json
    assert detail["lines"][1] == {
        "section": "一、承保情况",
        "label": "保费收入（元）",
        "value": "300000.25",
        "figure": "policies.premium",
    }
    assert client.get("/api/v1/reports/QR-2027Q2/pdf", headers=auth).data[:5] == b"%PDF-"
    assert client.get("/api/v1/reports/QR-2027Q2/doc", headers=auth).status_code == 404
    assert (
        client.get("/api/v1/statistics?quarter=2027Q2", headers={"Authorization": f"Bearer {owner_token}"}).status_code
        == 403
    )
