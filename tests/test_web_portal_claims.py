"""The owner portal with the real claims process deployed (workflows/): a report goes through the claims
centre's front door (handlers.intake.report_defect, LG-CLM-CENTER), the owner gets the claim number at once
and then follows the route (DEC-ROUTE), the dates it was judged on (DEC-COVDATE) and the next step's deadline."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from test_claim_support import gen_policy
from test_policy_support import workflow_bundle
from web_factories import csrf_of, gen_app, login

from engine import clock, db, definitions
from engine.models import HumanTask
from handlers.claim_models import Claim
from web.case_models import DefectReport
from web.db import database

pytestmark = pytest.mark.backends("sqlite")
#: 2029-07-10 09:00 in Shanghai: the insured project (completed 2027-06-30) is in cover since 2029-07-01; the
#: other (completed 2028-06-30) is still in the contractor's two-year warranty period (LG-COV-START)
NOW = dt.datetime(2029, 7, 10, 1, 0, tzinfo=dt.UTC)
INSURED_UNIT, WARRANTY_UNIT = "3-1202", "5-0301"


@pytest.fixture
def app(db_url):
    previous = clock.install(clock.FixedClock(NOW))
    app = gen_app(db_url)
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, workflow_bundle(), "process_owner")
    with database(app).session_factory() as session:
        gen_policy(session, "2027-06-30", "IDI-CLM-T1", (INSURED_UNIT,))
        gen_policy(session, "2028-06-30", "IDI-CLM-T2", (WARRANTY_UNIT,))
    yield app
    clock.install(previous)
    database(app).engine.dispose()
    definitions.clear_cache()


def _owner(app, username: str = "owner"):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _report(client, unit: str, category: str = "5", description: str = "主卫天花板渗水，已持续一周。"):
    token = csrf_of(client.get("/portal/report").get_data(as_text=True))
    return client.post("/portal/report", data={"csrf_token": token, "unit": unit, "category": category,
                                               "description": description})


def test_report_in_cover_gets_the_claim_number_at_once_and_shows_the_insurer_route_and_dates(app):
    """LG-CLM-CENTER DEC-ROUTE DEC-COVDATE DEC-SLA: routed to the insurer, survey due within 2 working days."""
    client = _owner(app)
    r = _report(client, INSURED_UNIT)
    assert r.status_code == 302
    claim_no = re.search(r"/portal/claims/(CLM-20290710-\d{4})\?new=1$", r.headers["Location"]).group(1)
    with database(app).session_factory() as session:
        claim = session.query(Claim).filter_by(claim_no=claim_no).one()
        report = session.query(DefectReport).filter_by(claim_no=claim_no).one()
        assert (claim.route, claim.reporter, claim.channel) == ("insurer", "owner", "portal")
        assert report.instance_id == claim.instance_id is not None and report.status == "running"
        [survey] = session.query(HumanTask).filter_by(instance_id=claim.instance_id, status="open").all()
        assert survey.lane == "claims_handler"
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f'id="claim-no">{claim_no}<' in page and "报案已受理" in page
    assert "处理方式" in page and "保险公司理赔" in page and "施工单位保修" not in page
    assert re.search(r"保险期间</dt><dd[^>]*>2029年7月1日 – 2035年6月30日<", page)  # item 5: five years
    assert "判定日</dt><dd>2029年7月10日<" in page
    assert "等待理赔人员办理" in page and "期限 2029年7月13日 00:00" in page  # two working days
    steps = re.search(r'<ol class="timeline" id="claim-steps">(.*?)</ol>', page, re.S).group(1)
    assert steps.index("转保险公司理赔") < steps.index("已受理报案")  # newest first
    assert steps.count("2029年7月10日 09:00") == 2


def test_report_in_the_warranty_period_shows_the_contractor_route_and_its_period(app):
    """DEC-ROUTE LG-COV-START: within two years of completion the construction contractor repairs."""
    client = _owner(app)
    r = _report(client, WARRANTY_UNIT, category="7", description="厨房给水管接头漏水。")
    claim_no = re.search(r"claims/([A-Z0-9-]+)", r.headers["Location"]).group(1)
    page = client.get(f"/portal/claims/{claim_no}").get_data(as_text=True)
    assert "施工单位保修" in page and "保险公司理赔" not in page
    assert re.search(r"施工单位保修期</dt><dd[^>]*>2028年6月30日 – 2030年6月30日<", page)
    assert "等待施工单位办理" in page and "转施工单位保修维修" in page
    home = client.get("/portal").get_data(as_text=True)
    assert claim_no in home and "施工单位保修" in home


def test_claim_numbers_follow_each_other_and_another_owner_cannot_follow_the_claim(app):
    client = _owner(app)
    first = re.search(r"claims/([A-Z0-9-]+)", _report(client, INSURED_UNIT).headers["Location"]).group(1)
    second = re.search(r"claims/([A-Z0-9-]+)", _report(client, WARRANTY_UNIT).headers["Location"]).group(1)
    assert (first, second) == ("CLM-20290710-0001", "CLM-20290710-0002")
    other = _owner(app, "owner2")
    assert other.get(f"/portal/claims/{first}").status_code == 403
    assert first not in other.get("/portal").get_data(as_text=True)


def test_unit_no_insured_project_lists_is_refused_with_the_reason_and_nothing_is_stored(app):
    client = _owner(app)
    r = _report(client, "99-9999")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'value="99-9999"' in page and "没有找到登记了房屋单元 99-9999 的投保项目" in page  # kept, explained
    with database(app).session_factory() as session:
        assert session.query(Claim).count() == 0 and session.query(DefectReport).count() == 0
