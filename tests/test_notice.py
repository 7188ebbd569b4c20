"""The 告知书: every required item in the HTML and the PDF, and delivery at handover (LG-NOTICE*)."""

from __future__ import annotations

import io

import pypdf
import pytest
from sqlalchemy import select
from test_policy_support import complete, covered_policy, open_tasks

from handlers import master_data
from handlers.models import Notice
from handlers.notices import COVER_ITEMS

pytestmark = pytest.mark.backends("sqlite")


def _required_items() -> list[str]:
    """LG-NOTICE: scope, dated periods, start, claims process, department, contacts, hotline."""
    insurer = master_data.get("insurer")
    return [
        "建设工程质量潜在缺陷保险告知书",
        "保险范围",
        *[text for _, text in COVER_ITEMS],
        "保险期间",
        "2027-06-30",
        "2029-06-30",
        "第1至4项：10年，自2029-07-01起至2039-06-30止",
        "第5项：6年，自2029-07-01起至2035-06-30止",
        "第6至8项：2年，自2029-07-01起至2031-06-30止",
        "保险责任开始时间",
        "保险责任自2029-07-01开始",
        "保险理赔流程",
        "查勘",
        insurer["claims_department"],
        insurer["contact"],
        f"24小时保险服务专线电话：{insurer['hotline']}",
    ]


def _flat(text: str) -> str:
    return "".join(text.split())


def test_notice_pdf_and_html_carry_every_required_item(session, fixed_clock):  # LG-NOTICE
    covered_policy(session, fixed_clock)
    notices = session.scalars(select(Notice).order_by(Notice.unit_no)).all()
    assert [n.unit_no for n in notices] == ["1-101", "1-102"]
    for notice in notices:
        pdf = pypdf.PdfReader(io.BytesIO(notice.pdf))
        text = _flat("".join(page.extract_text() for page in pdf.pages))
        missing = [item for item in _required_items() if _flat(item) not in text]
        assert missing == [], f"PDF lacks {missing}"
        assert notice.unit_no in text
        html = _flat(notice.html)
        assert [item for item in _required_items() if _flat(item) not in html] == []
        assert notice.content["cover_start"] == "2029-07-01" and notice.delivered_on is None


def test_notice_delivery_is_recorded_unit_by_unit(session, fixed_clock):  # LG-NOTICE-DELIVER
    covered_policy(session, fixed_clock)
    complete(session, "Task_request_exemption", {"request_exemption": False}, "developer1")
    complete(
        session,
        "Task_deliver_notices",
        {"delivery": {"delivered_on": "2027-08-01", "units": ["1-101"], "recipient": "张三"}},
        "developer1",
    )
    assert open_tasks(session) == ["Task_deliver_notices"]  # 1-102 is still to be handed over
    complete(
        session,
        "Task_deliver_notices",
        {"delivery": {"delivered_on": "2027-08-15", "units": ["1-102"], "recipient": "李四"}},
        "developer1",
    )
    assert open_tasks(session) == []
    session.expire_all()
    delivered = {
        n.unit_no: (n.delivered_on.isoformat(), n.recipient, n.delivered_by)
        for n in session.scalars(select(Notice))
    }
    assert delivered == {
        "1-101": ("2027-08-01", "张三", "developer1"),
        "1-102": ("2027-08-15", "李四", "developer1"),
    }
