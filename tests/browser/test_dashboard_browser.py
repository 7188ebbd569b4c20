"""The statistics dashboard, a drill-down, the quarterly report and the oversight view in a real browser
(Debian's chromium, headless, zh_CN): the charts draw, a figure opens its cases, the report shows its lines;
screenshots go to docs/screenshots/ (dashboard, dashboard-cases, quarterly-report, oversight)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser_kit import LiveServer, browser, log_in, page, shoot  # noqa: F401 - fixtures

sys.path.insert(0, str(Path(__file__).parent.parent))

from test_statistics_support import at, build_known_data  # noqa: E402
from web_factories import gen_app  # noqa: E402

from engine import clock, definitions  # noqa: E402
from handlers import reports  # noqa: E402
from web.db import database  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]


@pytest.fixture
def stats_live(tmp_path):
    """The known data set of two quarters and the Q2 report, served live; the clock on 20 July 2027."""
    fixed = clock.FixedClock(at(2027, 7, 20))
    previous = clock.install(fixed)
    try:
        app = gen_app(f"sqlite:///{tmp_path / 'stats.db'}")
        session = database(app).session_factory()
        build_known_data(session, fixed)
        reports.generate(session, 2027, 2, at(2027, 7, 1, 0, 0))
        session.commit()
        session.close()
        with LiveServer(app) as server:
            yield server
        database(app).engine.dispose()
    finally:
        clock.install(previous)
        definitions.clear_cache()


def test_dashboard_draws_its_charts_and_a_figure_opens_its_cases(stats_live, page):  # noqa: F811
    """LG-PLAT: the half-year dashboard in Chinese with seven charts; the overdue KPI lists R-2's orders."""
    log_in(page, stats_live.url, "authority_officer")
    page.goto(f"{stats_live.url}/dashboard?start=2027-01-01&end=2027-06-30")
    assert page.locator("h1").first.inner_text().startswith("统计分析")
    page.wait_for_function("document.querySelectorAll('.plot svg').length === 7")
    assert page.locator(".kpi[data-figure='policies.signed'] .kpi-value").inner_text() == "4"
    assert page.locator(".kpi[data-figure='claims.reported'] .kpi-value").inner_text() == "7"
    assert page.locator("#chart-categories svg text", has_text="第5项").count() >= 1
    shoot(page, "dashboard")
    page.click(".kpi[data-figure='risk.overdue_rectifications']")
    page.wait_for_load_state()
    assert "/dashboard/cases" in page.url
    assert page.locator(".total").inner_text() == "2"
    assert page.locator("table.cases tbody tr").count() == 2
    shoot(page, "dashboard-cases")


def test_quarterly_report_page_and_oversight(stats_live, page):  # noqa: F811
    """DEC-REPORT LG-OVERSIGHT: the Q2 report with its lines and downloads; the oversight's project list."""
    log_in(page, stats_live.url, "authority_officer")
    page.goto(f"{stats_live.url}/reports/QR-2027Q2")
    assert page.locator("h1").inner_text() == "建设工程质量潜在缺陷保险季度统计报告"
    assert page.locator("a.button", has_text="XLSX").count() == 1
    row = page.locator("table.figures tr", has_text="保费收入（元）")
    assert row.locator("td.num").inner_text() == "300000.25"
    shoot(page, "quarterly-report")
    page.goto(f"{stats_live.url}/oversight/")
    assert page.locator("table.oversight tbody tr").count() == 7
    shoot(page, "oversight")
