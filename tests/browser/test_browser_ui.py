# ruff: noqa: F811 - the fixtures imported from browser_kit are parameters of the tests
"""The web app in a real browser (Debian's chromium, headless): each role's inbox, a task completed through
its form, inline errors with the input kept, two windows racing on one task, an owner's defect report,
wrong roles refused; screenshots of the inbox, a task page and the owner portal go to docs/screenshots/."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from browser_kit import CASES, NOW, LiveServer, browser, live, log_in, page, shoot  # noqa: F401 - fixtures
from test_claim_support import gen_policy
from test_policy_support import workflow_bundle
from web_factories import gen_app, gen_case

from engine import clock, db, definitions
from web.db import database

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]
DESK = {"width": 1366, "height": 768}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
#: units of two projects: one in cover since 2029-07-01, one still in the contractor's warranty period
INSURED_UNIT, WARRANTY_UNIT = "3-1202", "5-0301"


@pytest.fixture
def live_claims(tmp_path):
    """The demo users, workflows/ deployed (the real idi_claim) and two insured projects; served live."""
    previous = clock.install(clock.FixedClock(NOW))
    try:
        app = gen_app(f"sqlite:///{tmp_path / 'claims.db'}")
        with db.unit_of_work(database(app).session_factory) as session:
            definitions.deploy(session, workflow_bundle(), "process_owner")
        with database(app).session_factory() as session:
            gen_policy(session, "2027-06-30", "IDI-CLM-T1", (INSURED_UNIT,))
            gen_policy(session, "2028-06-30", "IDI-CLM-T2", (WARRANTY_UNIT,))
        with LiveServer(app) as server:
            yield server
        database(app).engine.dispose()
    finally:
        clock.install(previous)
        definitions.clear_cache()


def _open_first_task(page, base: str) -> str:
    page.goto(f"{base}/inbox?tab=unclaimed&sort=due")
    page.click("a.task-link >> nth=0")
    page.wait_for_load_state()
    return page.url


def test_each_role_sees_its_own_inbox(live, browser):
    """Claims handlers see the claims queue; a developer sees none of it; the authority sees all read-only."""
    expectations = {"claims_handler": len(CASES), "handler2": len(CASES), "developer": 0, "underwriter": 0,
                    "owner": 0, "authority_officer": 0}
    for username, unclaimed in expectations.items():
        context = browser.new_context()
        tab = context.new_page()
        log_in(tab, live.url, username)
        if username == "owner":
            assert "/portal" in tab.url
            tab.goto(f"{live.url}/inbox")
        tab.goto(f"{live.url}/inbox?tab=unclaimed")
        assert tab.locator('[data-tab="unclaimed"] .count').inner_text() == str(unclaimed), username
        assert tab.locator("a.task-link").count() == unclaimed, username
        context.close()
    context = browser.new_context()
    tab = context.new_page()
    log_in(tab, live.url, "authority_officer")
    tab.goto(f"{live.url}/inbox?tab=all")
    assert tab.locator("a.task-link").count() == len(CASES)
    assert tab.locator("button:has-text('认领')").count() == 0  # read-only: no claim buttons
    context.close()


def test_inbox_screenshot_with_overdue_and_claimed_tasks(live, page):
    previous = clock.install(clock.FixedClock(NOW - dt.timedelta(days=7) + dt.timedelta(hours=5)))
    try:  # its 7-day SLA ends at 14:00 today: due today
        gen_case(live.app, "CLM-20290703-0009", "8号楼1单元0201 门窗渗水")
    finally:
        clock.install(previous)
    page.set_viewport_size(DESK)
    log_in(page, live.url, "claims_handler")
    page.goto(f"{live.url}/inbox?tab=unclaimed&sort=due")
    page.click("tr:nth-child(2) button:has-text('认领')")
    page.wait_for_load_state()
    page.goto(f"{live.url}/inbox?tab=all&sort=due")
    assert page.locator("tr.late").count() >= 2  # started 8 and 9 days ago: past the 7-day SLA
    assert page.locator(".due.overdue").first.inner_text().startswith("2029年7月")
    assert "claims_handler" in page.locator("tbody tr:nth-child(2)").inner_text()
    assert page.locator("tr.today").count() == 1 and "今日到期" in page.locator("tr.today .due").inner_text()
    assert page.locator('[data-tab="all"] .late-count').inner_text() == "逾期 2"
    assert page.locator('[data-tab="all"] .today-count').inner_text() == "今日到期 1"
    page.keyboard.press("j")  # the keyboard: j moves to the first row, Enter opens it
    assert page.locator("tbody tr.focus").count() == 1
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/tasks/" in page.url
    page.go_back()
    shoot(page, "inbox")


def test_complete_a_task_through_its_form_with_inline_errors_kept(live, page):
    page.set_viewport_size(DESK)
    log_in(page, live.url, "claims_handler")
    task_url = _open_first_task(page, live.url)
    assert "7日核定时限" in page.locator(".schedule").inner_text()  # scheduled next: the SLA escalation
    assert "2029年7月8日" in page.locator(".schedule").inner_text()
    page.fill("textarea[name=body]", "已电话联系业主，约定 7 月 9 日上午查勘。")
    page.click("button:has-text('发表评论')")
    page.wait_for_load_state()
    assert page.url == task_url and "约定 7 月 9 日" in page.locator(".comment").inner_text()
    page.check('input[name="covered"][value="true"]')
    page.select_option("#f-category", "5")
    page.fill("#f-surveyed_on", "2029-07-09")
    page.fill("#f-amount", "一千二")  # not a number
    page.fill("#f-surveyor", "张查勘")
    page.fill("#f-findings", "卫生间地面防水层破损\n楼下天花板渗水痕迹")
    page.fill("#f-opinion", "属于第5项保险责任，建议维修。")
    page.click("button:has-text('提交办理')")
    page.wait_for_load_state()
    assert page.locator(".kind-number .error").inner_text() == "请输入数字。"
    assert page.input_value("#f-amount") == "一千二"  # the input is kept
    assert page.input_value("#f-surveyor") == "张查勘"
    assert page.input_value("#f-findings").startswith("卫生间地面防水层破损")
    assert page.is_checked('input[name="covered"][value="true"]')
    shoot(page, "task")
    page.fill("#f-amount", "12345.60")
    page.click("button:has-text('提交办理')")
    page.wait_for_load_state()
    assert page.url.endswith("/inbox")
    assert "已完成" in page.locator(".flash").inner_text()


def test_two_windows_complete_the_same_task_and_the_second_sees_the_conflict(live, browser):
    first, second = browser.new_context(), browser.new_context()
    one, two = first.new_page(), second.new_page()
    log_in(one, live.url, "claims_handler")
    log_in(two, live.url, "handler2")
    task_url = _open_first_task(one, live.url)
    two.goto(task_url)
    for tab in (one, two):
        tab.check('input[name="covered"][value="false"]')
        tab.select_option("#f-category", "8")
        tab.fill("#f-surveyed_on", "2029-07-09")
        tab.fill("#f-amount", "0")
    one.click("button:has-text('提交办理')")
    one.wait_for_load_state()
    two.click("button:has-text('提交办理')")
    two.wait_for_load_state()
    conflict = two.locator("#conflict").inner_text()
    assert "claims_handler 已于 2029年7月10日" in conflict and "您填写的内容未保存" in conflict
    first.close()
    second.close()


def test_owner_reports_a_defect_on_a_phone_and_gets_the_claim_number(live, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    log_in(phone, live.url, "owner")
    phone.click("a:has-text('我要报案')")
    phone.fill("#unit", "3号楼2单元1202室")
    phone.click("text=漏水渗水")
    phone.click("button:has-text('提交报案')")  # no description yet
    phone.wait_for_load_state()
    assert "至少 5 个字" in phone.locator(".has-error .error").inner_text()
    assert phone.input_value("#unit") == "3号楼2单元1202室"
    assert phone.is_checked("input[name=category][value='5']")  # the choice is kept too
    shoot(phone, "portal-report")
    phone.fill("#description", "主卫天花板渗水，已持续一周，雨天加重。")
    phone.set_input_files("#photos", files=[{"name": "渗水.png", "mimeType": "image/png", "buffer": _png()}])
    phone.click("button:has-text('提交报案')")
    phone.wait_for_load_state()
    claim_no = phone.locator("#claim-no").inner_text()
    assert re.fullmatch(r"CLM-20290710-\d{4}", claim_no)
    assert phone.locator(".photos img").count() == 1
    phone.goto(f"{live.url}/portal")
    assert claim_no in phone.locator(".claims").inner_text()
    context.close()


def test_owner_reports_through_the_claims_centre_and_follows_the_route_and_dates(live_claims, browser):
    """LG-CLM-CENTER DEC-ROUTE DEC-COVDATE: idi_claim deployed, the report gets its number at once and the claim
    page shows who handles it (insurer or contractor), the window it was judged on and the next deadline."""
    context = browser.new_context(**PHONE)
    phone = context.new_page()
    log_in(phone, live_claims.url, "owner")
    claims = []
    for unit, category, text in ((WARRANTY_UNIT, "7", "厨房给水管接头漏水，橱柜底板泡水。"),
                                 (INSURED_UNIT, "5", "主卫天花板渗水，已持续一周，雨天加重。")):
        phone.goto(f"{live_claims.url}/portal/report")
        phone.fill("#unit", unit)
        phone.check(f"input[name=category][value='{category}']")
        phone.fill("#description", text)
        phone.click("button:has-text('提交报案')")
        phone.wait_for_load_state()
        claims.append(phone.locator("#claim-no").inner_text())
        if unit == WARRANTY_UNIT:
            assert phone.locator("#claim-route").inner_text() == "施工单位保修"
            assert phone.locator("#claim-window").inner_text() == "2028年6月30日 – 2030年6月30日"
            assert "等待施工单位办理" in phone.locator(".next-step").inner_text()
            assert "由施工单位负责维修" in phone.locator(".receipt").inner_text()
    assert claims == ["CLM-20290710-0001", "CLM-20290710-0002"]
    assert phone.locator("#claim-route").inner_text() == "保险公司理赔"
    assert phone.locator("#claim-window").inner_text() == "2029年7月1日 – 2035年6月30日"
    assert phone.locator(".next-step").inner_text() == "等待理赔人员办理\n期限 2029年7月13日 00:00"
    assert phone.locator("#claim-steps li").count() == 2
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    shoot(phone, "portal-claim")
    phone.goto(f"{live_claims.url}/portal")
    listed = phone.locator(".claims").inner_text()
    assert all(c in listed for c in claims) and "保险公司理赔" in listed and "施工单位保修" in listed
    context.close()


def test_inbox_and_task_page_fit_a_phone(live, browser):
    """At 390 px the inbox turns into cards and the task page into one column: no sideways scrolling."""
    context = browser.new_context(**PHONE)
    phone = context.new_page()
    log_in(phone, live.url, "claims_handler")
    phone.goto(f"{live.url}/inbox?tab=unclaimed&sort=due")
    assert phone.locator("a.task-link").count() == len(CASES)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.click("a.task-link >> nth=0")
    phone.wait_for_load_state()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_wrong_role_gets_json_403_or_the_login_page(live, page):
    log_in(page, live.url, "claims_handler")
    page.goto(f"{live.url}/admin/users")
    assert "/login" in page.url and "administrator" in page.locator(".flash").inner_text()
    response = page.goto(f"{live.url}/api/ui/users")
    assert response.status == 403 and json.loads(page.inner_text("body"))["error"] == "NotAllowed"
    response = page.goto(f"{live.url}/portal/report")
    assert "/login" in page.url


def _png() -> bytes:
    """A small valid PNG: a 48x48 grey-blue gradient standing in for a photo of a damp ceiling."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"".join(bytes((150 + x, 160 + y, 175)) for x in range(48)) for y in range(48))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 48, 48, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
