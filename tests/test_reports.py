"""The quarterly report to the authority (DEC-REPORT) run by workflows/quarterly_report.bpmn on the simulated
clock: generated when the quarter ends, every XLSX cell equal to its hand-computed value, the PDF in Chinese,
overdue → reminder then escalation, submitted by the insurer, received in the authority's inbox; credit
records feed the premium's credit grade (LG-CREDIT)."""

from __future__ import annotations

import io

from conftest import commit
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from test_policy_support import (
    complete,
    deploy_workflows,
    move_clock,
    open_task,
    party,
    policy_of,
    project_form,
    start_policy,
)
from test_statistics_support import EXPECTED_Q2, at, build_known_data

from engine import clock, instances
from engine.models import AuditEvent, Timer
from handlers import credit, reports
from handlers import statistics as st

#: The Q2 2027 report, cell by cell (section, label, value), worked out by hand in EXPECTED_Q2.
Q2_CELLS = [
    ("一、承保情况", "新签保单（件）", 1),
    ("一、承保情况", "保费收入（元）", "300000.25"),
    ("一、承保情况", "新生效保单（件）", 1),
    ("二、项目所处阶段（期末）", "施工阶段（个）", 2),
    ("二、项目所处阶段（期末）", "施工单位保修期（个）", 1),
    ("二、项目所处阶段（期末）", "保险期间内（个）", 1),
    ("二、项目所处阶段（期末）", "保险期间届满（个）", 1),
    ("三、风险管理", "风险检查（次）", 1),
    ("三、风险管理", "严重问题（项）", 0),
    ("三、风险管理", "一般问题（项）", 1),
    ("三、风险管理", "轻微问题（项）", 1),
    ("三、风险管理", "观察事项（项）", 0),
    ("三、风险管理", "重大风险报告（份）", 0),
    ("三、风险管理", "已抄送主管部门（份）", 0),
    ("三、风险管理", "逾期抄送（份）", 0),
    ("三、风险管理", "期末未关闭严重问题（项）", 1),
    ("三、风险管理", "期末逾期整改（项）", 2),
    ("四、理赔", "报案（件）", 4),
    ("四、理赔", "第1项 整体或局部倒塌（件）", 0),
    ("四、理赔", "第2项 地基不均匀沉降（件）", 0),
    ("四、理赔", "第3项 悬挑构件和外墙（件）", 0),
    ("四、理赔", "第4项 主体承重结构（件）", 1),
    ("四、理赔", "第5项 防水渗漏（件）", 1),
    ("四、理赔", "第6项 供热与供冷系统（件）", 0),
    ("四、理赔", "第7项 电气管线、给排水管道、设备安装（件）", 0),
    ("四、理赔", "第8项 装修工程（件）", 1),
    ("四、理赔", "其他（件）", 1),
    ("四、理赔", "分派：保险理赔（件）", 2),
    ("四、理赔", "分派：施工单位维修（件）", 1),
    ("四、理赔", "分派：保险期间已届满（件）", 0),
    ("四、理赔", "分派：不属于保险范围（件）", 1),
    ("四、理赔", "结果：施工单位已维修（件）", 1),
    ("四、理赔", "结果：不属于保险范围（件）", 1),
    ("四、理赔", "结果：处理中（件）", 1),
    ("四、理赔", "结果：已赔付/维修（件）", 1),
    ("四、理赔", "服务时限超时（次）", 1),
    ("四、理赔", "其中查勘超时（2日）（次）", 0),
    ("四、理赔", "其中核定超时（7/30日）（次）", 0),
    ("四、理赔", "其中拒赔通知超时（3日）（次）", 0),
    ("四、理赔", "其中维修开工超时（7日）（次）", 0),
    ("四、理赔", "其中赔款支付超时（7日）（次）", 1),
    ("四、理赔", "平均查勘时间（天）", "2.0"),
    ("四、理赔", "平均核定时间（天）", "7.0"),
    ("四、理赔", "平均维修时间（天）", "—"),
    ("四、理赔", "赔付金额合计（元）", "50000.00"),
    ("四、理赔", "其中赔偿金（元）", "50000.00"),
    ("四、理赔", "其中维修费用（元）", "0.00"),
    ("五、争议、鉴定与追偿", "鉴定（件）", 1),
    ("五、争议、鉴定与追偿", "鉴定费由保险公司承担（件 / 元）", "1 / 5000.00"),
    ("五、争议、鉴定与追偿", "鉴定费由业主承担（件 / 元）", "0 / 0.00"),
    ("五、争议、鉴定与追偿", "损失评估（件）", 0),
    ("五、争议、鉴定与追偿", "代位追偿立案（件）", 1),
    ("五、争议、鉴定与追偿", "确认缺陷责任（件）", 1),
    ("五、争议、鉴定与追偿", "追偿金额（元）", "50000.00"),
    ("五、争议、鉴定与追偿", "已追回金额（元）", "20000.00"),
    ("六、维修资金免缴", "申请免缴（件）", 0),
    ("六、维修资金免缴", "同意免缴（件）", 0),
    ("六、维修资金免缴", "不同意（件）", 1),
    ("七、信用信息报送", "报送信用信息（条）", 2),
    ("七、信用信息报送", "其中追偿确认缺陷责任（条）", 1),
    ("七、信用信息报送", "其中严重问题逾期未整改（条）", 1),
]


def _start_calendar(session, fixed_clock, when):
    fixed_clock.set(when)
    row = instances.start_instance(
        session, "idi_quarterly_report", {}, "process_owner", business_key="QUARTERLY-REPORTS", title="季度统计报告"
    )
    commit(session)
    return row


def _timer_dues(session, instance_id) -> list[str]:
    return sorted(
        clock.to_local(t.due_at).isoformat()
        for t in session.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting"))
    )


def test_report_is_generated_when_the_quarter_ends_and_equals_the_dashboard(session, fixed_clock):
    """DEC-REPORT: the timer fires at 00:00 on 1 July; the Q2 report's figures are the dashboard's for Q2,
    the next quarter's timer waits for 1 October, and the insurer has the review in its inbox."""
    deploy_workflows(session)
    build_known_data(session, fixed_clock)
    calendar = _start_calendar(session, fixed_clock, at(2027, 6, 20))
    # the quarter cycle, and the calendar's 30-year horizon
    assert _timer_dues(session, calendar.id) == ["2027-07-01T00:00:00+08:00", "2057-07-01T00:00:00+08:00"]
    assert move_clock(session, fixed_clock, at(2027, 6, 30, 23, 59)) == 0
    assert move_clock(session, fixed_clock, at(2027, 7, 1, 0, 0)) == 1
    report = reports.report_by_no(session, "QR-2027Q2")
    assert report.status == "generated" and clock.to_local(report.generated_at) == at(2027, 7, 1, 0, 0)
    figures = {k: v for k, v in report.figures.items() if k != "period"}
    assert figures == EXPECTED_Q2
    assert st.dashboard(session, st.quarter_filters(2027, 2)) == report.figures
    # due 15 days after 30 June: end of Thursday 15 July; escalation 5 days later, end of 21 July
    assert clock.to_local(report.due_at).isoformat() == "2027-07-16T00:00:00+08:00"
    assert _timer_dues(session, calendar.id) == [
        "2027-07-16T00:00:00+08:00",
        "2027-07-22T00:00:00+08:00",
        "2027-10-01T00:00:00+08:00",
        "2057-07-01T00:00:00+08:00",
    ]
    task = open_task(session, "Task_review_report")
    assert task.lane == "underwriter"


def test_every_xlsx_cell_equals_the_hand_computed_value(session, fixed_clock):
    """DEC-REPORT: the XLSX holds the title block and one row per figure, each cell as computed by hand."""
    build_known_data(session, fixed_clock)
    report = reports.generate(session, 2027, 2, at(2027, 7, 1, 0, 0))
    sheet = load_workbook(io.BytesIO(report.xlsx)).active
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    assert rows[0][0] == "建设工程质量潜在缺陷保险季度统计报告"
    assert rows[1][:2] == ("报告编号", "QR-2027Q2")
    assert rows[2][:3] == ("报告期", "2027年第2季度", "2027-04-01 至 2027-06-30")
    assert rows[4][:2] == ("生成时间", "2027-07-01 00:00")
    assert rows[6][:3] == ("项目", "指标", "数值")
    assert [r[:3] for r in rows[7:]] == Q2_CELLS


def test_pdf_is_in_chinese_with_the_same_figures(session, fixed_clock):
    """DEC-REPORT: the PDF (STSong-Light) carries the title, the quarter and the figures."""
    build_known_data(session, fixed_clock)
    report = reports.generate(session, 2027, 2, at(2027, 7, 1, 0, 0))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(report.pdf)).pages)
    for expected in (
        "建设工程质量潜在缺陷保险季度统计报告",
        "2027年第2季度",
        "保费收入（元）",
        "300000.25",
        "已追回金额（元）",
        "20000.00",
        "期末逾期整改（项）",
    ):
        assert expected in text, expected


def test_overdue_report_is_reminded_then_escalated_then_submitted_and_received(session, fixed_clock):
    """DEC-REPORT LG-OVERSIGHT: at the due date a reminder to the insurer, 5 days later the authority is
    told; the insurer submits (late), the report lands in the authority's inbox and is received."""
    deploy_workflows(session)
    calendar = _start_calendar(session, fixed_clock, at(2027, 6, 20))
    move_clock(session, fixed_clock, at(2027, 7, 1, 0, 0))
    assert move_clock(session, fixed_clock, at(2027, 7, 15, 23, 59)) == 0
    assert move_clock(session, fixed_clock, at(2027, 7, 16, 0, 0)) == 1
    report = reports.report_by_no(session, "QR-2027Q2")
    assert [(r["level"], r["to"]) for r in report.reminders] == [(1, "underwriter")]
    assert move_clock(session, fixed_clock, at(2027, 7, 22, 0, 0)) == 1
    session.expire_all()
    assert [(r["level"], r["to"]) for r in report.reminders] == [(1, "underwriter"), (2, "authority_officer")]
    told = session.scalars(
        select(AuditEvent).where(AuditEvent.instance_id == calendar.id, AuditEvent.action == "escalate")
    ).all()
    assert [e.data["to_role"] for e in told] == ["underwriter", "authority_officer"]
    fixed_clock.set(at(2027, 7, 23, 10))
    complete(session, "Task_review_report", {"review": {"confirmed": True, "note": "已核对"}}, "uw1")
    session.expire_all()
    assert report.status == "submitted" and report.submitted_by == "uw1" and report.submitted_at > report.due_at
    receive = open_task(session, "Task_receive_report")
    assert receive.lane == "authority_officer"
    complete(session, "Task_receive_report", {"receipt": {"remarks": "收到"}}, "officer1")
    session.expire_all()
    assert report.status == "received" and report.received_by == "officer1"
    assert clock.to_local(report.received_at) == at(2027, 7, 23, 10)


def test_report_submitted_on_time_gets_no_reminder(session, fixed_clock):
    """DEC-REPORT: submitted before the due date, the reminder and escalation timers are cancelled."""
    deploy_workflows(session)
    calendar = _start_calendar(session, fixed_clock, at(2027, 3, 20))
    move_clock(session, fixed_clock, at(2027, 4, 1, 0, 0))
    fixed_clock.set(at(2027, 4, 9, 15))
    complete(session, "Task_review_report", {"review": {"confirmed": True}}, "uw1")
    assert move_clock(session, fixed_clock, at(2027, 4, 30)) == 0
    report = reports.report_by_no(session, "QR-2027Q1")
    assert report.reminders == [] and report.status == "submitted"
    assert _timer_dues(session, calendar.id) == ["2027-07-01T00:00:00+08:00", "2057-04-01T00:00:00+08:00"]


def test_credit_records_lower_the_grade_the_premium_decision_reads(session, fixed_clock):
    """LG-CREDIT LG-PREM-RATE DEC-RATE: the contractor's established liability (May 2027) turns the developer's
    filed grade A into B, so the quote's credit factor is 0.95 instead of 0.90."""
    deploy_workflows(session)
    known = build_known_data(session, fixed_clock)
    grade = credit.grade_for(session, [known["developer"].credit_code, known["c1"].credit_code], "A", at(2027, 7, 20))
    assert grade == {"grade": "B", "filed_grade": "A", "records": 1, "source": "credit_records"}
    assert credit.grade_for(session, ["NOBODY"], "A", at(2027, 7, 20))["grade"] == "A"
    assert credit.grade_for(session, [known["c1"].credit_code], "A", at(2031, 1, 1))["records"] == 0  # 3 years on
    start_policy(session, "LG-2027-009")
    form = project_form()
    form["project"]["parties"]["contractor"] = party(
        known["c1"].credit_code, known["c1"].name, qualification_grade="一级"
    )
    complete(session, "Task_register_project", form, "developer1", "LG-2027-009")
    quote = policy_of(session, "LG-2027-009").quote
    assert (quote["credit_grade"], quote["credit_factor"]) == ("B", "0.95")


def test_unremedied_serious_finding_is_recorded_once_against_the_contractor(session, fixed_clock):
    """LG-CREDIT: the record names the project's contractor and is not duplicated by a second escalation."""
    build_known_data(session, fixed_clock)
    rows = credit.records(session)
    unremedied = [r for r in rows if r.event_type == credit.UNREMEDIED]
    assert [(r.subject_code, r.evidence_ref.startswith("rectification/")) for r in unremedied] == [
        ("91330300CON0000002", True)
    ]
    units = {u["credit_code"]: u for u in credit.units(session, at(2027, 7, 20))}
    assert units["91330300CON0000002"]["grade"] == "C"  # filed B, one record
    assert units["91330300CON0000001"]["records"] == 1
