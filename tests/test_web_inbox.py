"""The inbox and the owner portal over HTTP: tabs, claim/unclaim, filters, sorting, paging, supervisors'
bulk reassign, owners' object rules, claim numbers, case comments and files."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from web_factories import csrf_of, gen_app, gen_case, gen_deploy, login

from engine import clock, db, definitions, tasks
from engine.models import HumanTask
from web.db import database

sqlite_only = pytest.mark.backends("sqlite")  # the inbox queries run on both backends in the first test
START = dt.datetime(2029, 7, 1, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def app(db_url):
    fixed = clock.FixedClock(START)
    previous = clock.install(fixed)
    app = gen_app(db_url)
    gen_deploy(app)
    app.fixed_clock = fixed
    yield app
    clock.install(previous)
    database(app).engine.dispose()
    definitions.clear_cache()


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def _task_ids(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/tasks/([0-9a-f-]{36})"', html)))


def _counts(client) -> dict:
    return client.get("/api/ui/inbox/counts").json


def test_claim_moves_a_task_from_the_group_queue_to_mine_and_unclaim_moves_it_back(app):
    gen_case(app, "CASE-1")
    client = _client(app, "claims_handler")
    assert _counts(client) == {"mine": 0, "unclaimed": 1, "all": 1}
    page = client.get("/inbox?tab=unclaimed").get_data(as_text=True)
    task_id = _task_ids(page)[0]
    client.post("/inbox/claim", data={"csrf_token": csrf_of(page), "task_id": task_id})
    assert _counts(client) == {"mine": 1, "unclaimed": 0, "all": 1}
    assert _counts(_client(app, "handler2"))["unclaimed"] == 0  # it left the group queue
    client.post("/inbox/unclaim", data={"csrf_token": csrf_of(page), "task_id": task_id})
    assert _counts(client) == {"mine": 0, "unclaimed": 1, "all": 1}


@sqlite_only
def test_search_filters_sorting_and_pages(app):
    for n in range(30):
        app.fixed_clock.set(START + dt.timedelta(hours=n))
        gen_case(app, f"CLM-2029-{n:04d}", f"{n}号楼 渗水" if n % 2 else f"{n}号楼 开裂")
    app.fixed_clock.set(START + dt.timedelta(days=7, hours=5))  # the first five SLAs (7 days) have passed
    client = _client(app, "claims_handler")
    first = client.get("/inbox?tab=all").get_data(as_text=True)
    assert len(_task_ids(first)) == 25 and "第 1–25 条，共 30 条" in first
    assert len(_task_ids(client.get("/inbox?tab=all&page=2").get_data(as_text=True))) == 5
    assert first.index("CLM-2029-0000") < first.index("CLM-2029-0001")  # soonest due first
    newest_first = client.get("/inbox?tab=all&sort=case&dir=desc").get_data(as_text=True)
    assert newest_first.index("CLM-2029-0029") < newest_first.index("CLM-2029-0028")
    assert len(_task_ids(client.get("/inbox?tab=all&q=0007").get_data(as_text=True))) == 1
    assert len(_task_ids(client.get("/inbox?tab=all&q=开裂").get_data(as_text=True))) == 15
    overdue = client.get("/inbox?tab=all&overdue=1").get_data(as_text=True)
    assert len(_task_ids(overdue)) == 5 and overdue.count('class="late"') == 5
    assert len(_task_ids(client.get("/inbox?tab=all&due_from=2029-07-08&due_to=2029-07-08")
                         .get_data(as_text=True))) == 15  # due 7-08 local: cases started before 16:00 UTC
    assert len(_task_ids(client.get("/inbox?tab=all&process=nope").get_data(as_text=True))) == 0


@sqlite_only
def test_due_status_at_a_glance_and_a_count_summary_per_tab(app):
    """Overdue rows red, due later today (Shanghai date) amber, with per-tab counts of both."""
    now = dt.datetime(2029, 7, 10, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
    for key, started in (("CASE-LATE", now - dt.timedelta(days=7, hours=1)),  # due 08:00 today: overdue
                         ("CASE-TODAY", now - dt.timedelta(days=7) + dt.timedelta(hours=6)),  # 15:00 today
                         ("CASE-LATER", now - dt.timedelta(days=5))):  # due in two days
        app.fixed_clock.set(started)
        gen_case(app, key)
    app.fixed_clock.set(now)
    client = _client(app, "claims_handler")
    page = client.get("/inbox?tab=unclaimed&sort=due").get_data(as_text=True)
    rows = re.findall(r'<tr class="([a-z]*)" data-href', page)
    assert rows == ["late", "today", ""]
    assert page.count('<b class="tag tag-red">逾期</b>') == 1
    assert page.count('<b class="tag tag-amber">今日到期</b>') == 1
    tab = re.search(r'data-tab="unclaimed".*?</a>', page, re.S).group(0)
    assert '<span class="count">3</span>' in tab and ">逾期 1<" in tab and ">今日到期 1<" in tab
    mine = re.search(r'data-tab="mine".*?</a>', page, re.S).group(0)
    assert "逾期" not in mine and "今日到期" not in mine  # nothing claimed yet: no pills
    app.fixed_clock.set(now + dt.timedelta(hours=15))  # 00:00 the next day: the 15:00 task is overdue too
    tab = re.search(r'data-tab="unclaimed".*?</a>', client.get("/inbox").get_data(as_text=True), re.S).group(0)
    assert ">逾期 2<" in tab and "今日到期" not in tab


@sqlite_only
def test_supervisor_bulk_reassigns_to_a_handler_and_a_handler_may_not(app):
    for n in range(3):
        gen_case(app, f"CASE-{n}")
    handler = _client(app, "claims_handler")
    page = handler.get("/inbox?tab=all").get_data(as_text=True)
    ids = _task_ids(page)
    r = handler.post("/inbox/bulk", data={"csrf_token": csrf_of(page), "task_ids": ids, "action": "reassign",
                                          "assignee": "handler2"}, follow_redirects=True)
    assert "只有主管可以批量处理任务" in r.get_data(as_text=True)
    supervisor = _client(app, "claims_supervisor")
    page = supervisor.get("/inbox?tab=all").get_data(as_text=True)
    assert 'data-select-all' in page
    r = supervisor.post("/inbox/bulk", data={"csrf_token": csrf_of(page), "task_ids": ids[:2],
                                             "action": "reassign", "assignee": "developer"},
                        follow_redirects=True)
    assert "需要角色 claims_handler" in r.get_data(as_text=True)  # all or nothing: nobody was moved
    assert _counts(_client(app, "handler2"))["mine"] == 0
    supervisor.post("/inbox/bulk", data={"csrf_token": csrf_of(page), "task_ids": ids[:2],
                                         "action": "reassign", "assignee": "handler2"})
    assert _counts(_client(app, "handler2"))["mine"] == 2


@sqlite_only
def test_owner_sees_owner_tasks_only_for_their_own_claims(app):
    owner = _client(app, "owner")
    page = owner.get("/portal/report").get_data(as_text=True)
    r = owner.post("/portal/report", data={"csrf_token": csrf_of(page), "unit": "3-2-1202", "category": "5",
                                           "description": "卫生间渗水一周"})
    claim_no = r.headers["Location"].split("/")[-1].split("?")[0]
    gen_case(app, claim_no)
    gen_case(app, "CLM-OTHER-0001")
    with db.unit_of_work(database(app).session_factory) as session:
        for row in session.query(HumanTask).filter_by(status="open").all():
            tasks.complete_task(session, row.id, {"covered": True, "category": 5, "surveyed_on": "2029-07-01",
                                                  "amount": 100}, "claims_handler")
    assert _counts(owner) == {"mine": 0, "unclaimed": 1, "all": 1}
    assert _counts(_client(app, "owner2")) == {"mine": 0, "unclaimed": 0, "all": 0}
    html = owner.get("/inbox?tab=all").get_data(as_text=True)
    assert claim_no in html and "CLM-OTHER-0001" not in html


@sqlite_only
def test_claim_numbers_count_up_per_local_day_and_errors_keep_the_input(app):
    owner = _client(app, "owner")
    page = owner.get("/portal/report").get_data(as_text=True)
    r = owner.post("/portal/report", data={"csrf_token": csrf_of(page), "unit": "", "category": "9",
                                           "description": "漏水了吗"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "请填写房屋单元" in html and "请选择缺陷类型" in html
    assert "漏水了吗" in html
    numbers = []
    for _ in range(2):
        r = owner.post("/portal/report", data={"csrf_token": csrf_of(page), "unit": "1-101", "category": "7",
                                               "description": "厨房下水管漏水"})
        numbers.append(r.headers["Location"].split("/")[-1].split("?")[0])
    assert numbers == ["CLM-20290701-0001", "CLM-20290701-0002"]  # 09:00 in Shanghai on 1 July
    home = owner.get("/portal").get_data(as_text=True)
    assert all(n in home for n in numbers) and "已受理" in home and "2029年7月1日" in home


@sqlite_only
def test_comments_and_files_on_a_case_are_shared_by_its_readers(app):
    instance_id = gen_case(app, "CASE-FILES")
    handler = _client(app, "claims_handler")
    page = handler.get("/inbox?tab=all").get_data(as_text=True)
    task_id = _task_ids(page)[0]
    token = csrf_of(page)
    handler.post(f"/cases/{instance_id}/comments", data={"csrf_token": token, "body": "请补充照片"})
    handler.post(f"/cases/{instance_id}/files", content_type="multipart/form-data", data={
        "csrf_token": token, "files": (io.BytesIO(b"%PDF-1.4 survey"), "查勘报告.pdf")})
    task_page = _client(app, "authority_officer").get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "请补充照片" in task_page and "查勘报告.pdf" in task_page
    download = handler.get("/files/1")
    assert download.data == b"%PDF-1.4 survey"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert _client(app, "developer").get("/files/1").status_code == 403
