"""Platform statistics on a known data set across two quarters (LG-PLAT, DEC-REPORT): every figure equals
its hand-computed value, every figure's drill-down lists exactly the cases it counts, and the district
filter narrows both."""

from __future__ import annotations

import datetime as dt

import pytest
from test_statistics_support import EAST, EXPECTED_Q1, EXPECTED_Q2, at, build_known_data

from engine import clock
from handlers import statistics as st
from handlers import statistics_cases as cases


@pytest.fixture
def known(session, fixed_clock):
    """The known data set, with the clock after both quarters."""
    return build_known_data(session, fixed_clock)


def _figures(session, f):
    data = st.dashboard(session, f)
    return {k: v for k, v in data.items() if k != "period"}


@pytest.mark.parametrize("quarter,expected", [(1, EXPECTED_Q1), (2, EXPECTED_Q2)], ids=["Q1", "Q2"])
def test_every_dashboard_figure_equals_the_hand_computed_value(known, session, quarter, expected):
    """LG-PLAT DEC-REPORT: policies, phases, risk, claims, SLA, durations, money, appraisals, subrogation,
    exemptions and credit for each quarter, including the Shanghai midnight boundaries."""
    assert _figures(session, st.quarter_filters(2027, quarter)) == expected


@pytest.mark.parametrize("quarter", [1, 2], ids=["Q1", "Q2"])
def test_every_figure_links_to_exactly_the_cases_it_counts(known, session, quarter):
    """LG-PLAT: for every count on the dashboard, its drill-down lists that many cases."""
    f = st.quarter_filters(2027, quarter)
    data = st.dashboard(session, f)
    ids = cases.figure_ids(data)
    assert len(ids) > 50
    for fid in ids:
        value = data
        for part in fid.split("."):
            value = value[part]
        assert cases.cases(session, f, fid)["total"] == value, fid


def test_drill_down_rows_name_the_case_and_its_instance(known, session):
    """The rows behind "claims of item 5" in Q1 are claim K1, with its project, district and local time."""
    listing = cases.cases(session, st.quarter_filters(2027, 1), "claims.by_category.5")
    assert [(r["ref"], r["project_no"], r["district"], r["at"]) for r in listing["rows"]] == [
        ("K1", "P4", "城西片区", "2027-01-15T10:00+08:00")
    ]
    premium = cases.cases(session, st.quarter_filters(2027, 1), "policies.by_month.2027-03.signed")
    assert [r["ref"] for r in premium["rows"]] == ["IDI-P6"]


def test_district_filter_narrows_every_family(known, session):
    """Only the east district's projects (P1, P2, P5) and what hangs off them count."""
    f = st.quarter_filters(2027, 1, EAST)
    data = st.dashboard(session, f)
    assert data["policies"]["signed"] == 2 and data["policies"]["premium"] == "2325000.50"
    assert data["phases"] == {"construction": 2, "contractor_period": 0, "insured": 0, "expired": 1}
    assert data["risk"]["inspections"] == 2
    assert data["claims"]["reported"] == 1 and data["claims"]["by_route"]["expired"] == 1  # K3 on P5
    assert data["payments"]["count"] == 0 and data["sla"]["breaches"] == 0
    assert data["exemptions"] == {"requested": 1, "approved": 0, "denied": 0}
    assert cases.cases(session, f, "claims.reported")["total"] == 1
    assert st.districts(session) == ["城东片区", "城西片区"]


def test_state_figures_of_a_running_period_are_taken_now(known, session, fixed_clock):
    """While Q2 runs (10 April), R-1's serious order is still open (closed that day at 09:00 → now 08:00)."""
    fixed_clock.set(at(2027, 4, 10, 8))
    running = st.dashboard(session, st.quarter_filters(2027, 2))
    assert running["period"]["as_of"] == "2027-04-10T08:00:00+08:00"
    assert running["risk"]["open_serious"] == 2
    fixed_clock.set(at(2027, 4, 10, 10))
    assert st.dashboard(session, st.quarter_filters(2027, 2))["risk"]["open_serious"] == 1


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="swap the dates"):
        st.Filters(dt.date(2027, 3, 1), dt.date(2027, 2, 1))


def test_unknown_figure_is_refused_with_an_example(known, session):
    with pytest.raises(cases.UnknownFigure, match="claims.by_category.5"):
        cases.cases(session, st.quarter_filters(2027, 1), "nonsense.figure")


def test_quarter_filters_cover_whole_local_days():
    f = st.quarter_filters(2027, 4)
    assert (f.start, f.end) == (dt.date(2027, 10, 1), dt.date(2027, 12, 31))
    assert f.start_at == dt.datetime(2027, 9, 30, 16, 0, tzinfo=dt.UTC)
    assert f.end_at == dt.datetime(2027, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert clock.to_local(f.end_at).isoformat() == "2028-01-01T00:00:00+08:00"
