"""The quarterly report to the construction authority (DEC-REPORT, LG-PLAT): figures, XLSX, PDF, review.

The figures are `statistics.dashboard()` for the quarter (no district filter), stored with the report, so
the report and the dashboard agree for the same period. `report_rows()` is the one layout the XLSX, the
PDF and the web page render. The diagram workflows/quarterly_report.bpmn drives generation (a timer after
each quarter), the insurer's review and submission, the authority's receipt, reminders and escalation.
"""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock, handler
from engine.errors import EngineError
from engine.timers import escalate
from engine.workdays import deadline_days

from . import master_data
from . import statistics as st
from .report_models import QuarterlyReport

TITLE = "建设工程质量潜在缺陷保险季度统计报告"
_FONT = "STSong-Light"
INSURER_LANE = "underwriter"
AUTHORITY_LANE = "authority_officer"
REVIEW_TASK = "Task_review_report"
PHASE_LABELS = {
    "construction": "施工阶段",
    "contractor_period": "施工单位保修期",
    "insured": "保险期间内",
    "expired": "保险期间届满",
}
GRADE_LABELS = {"serious": "严重问题", "moderate": "一般问题", "minor": "轻微问题", "observation": "观察事项"}
ROUTE_LABELS = {
    "insurer": "保险理赔",
    "contractor": "施工单位维修",
    "expired": "保险期间已届满",
    "not_in_scope": "不属于保险范围",
    "unrouted": "待分派",
}
OUTCOME_LABELS = {
    "open": "处理中",
    "paid": "已赔付/维修",
    "rejected": "拒赔",
    "rejected_after_appraisal": "鉴定后拒赔",
    "contractor_repaired": "施工单位已维修",
    "withdrawn": "撤案",
    "expired": "已过保险期间",
    "not_in_scope": "不属于保险范围",
}
SLA_LABELS = {
    "survey": "查勘超时（2日）",
    "decision": "核定超时（7/30日）",
    "rejection_notice": "拒赔通知超时（3日）",
    "repair_start": "维修开工超时（7日）",
    "payment": "赔款支付超时（7日）",
}
CATEGORY_LABELS = {
    "1": "第1项 整体或局部倒塌",
    "2": "第2项 地基不均匀沉降",
    "3": "第3项 悬挑构件和外墙",
    "4": "第4项 主体承重结构",
    "5": "第5项 防水渗漏",
    "6": "第6项 供热与供冷系统",
    "7": "第7项 电气管线、给排水管道、设备安装",
    "8": "第8项 装修工程",
    "other": "其他",
}
PAYER_LABELS = {"insurer": "保险公司", "owner": "业主", "shared": "双方分担"}
EVENT_LABELS = {
    "unremedied_serious_finding": "严重问题逾期未整改",
    "established_defect_liability": "追偿确认缺陷责任",
}


class ReportNotFound(EngineError, LookupError):
    """No quarterly report with that number."""

    http_status = 404


def report_no_for(year: int, quarter: int) -> str:
    """The report number of a quarter: QR-2027Q1."""
    return f"QR-{year}Q{quarter}"


def report_by_no(session: Session, report_no: str) -> QuarterlyReport:
    """The report with this number, or ReportNotFound."""
    row = session.scalars(select(QuarterlyReport).where(QuarterlyReport.report_no == report_no)).first()
    if row is None:
        raise ReportNotFound(
            f"No quarterly report '{report_no}'; reports are numbered QR-<year>Q<quarter> and "
            "generated after each quarter ends.",
            report_no=report_no,
        )
    return row


def _row(section: str, label: str, value: Any, figure: str | None = None) -> dict[str, Any]:
    return {"section": section, "label": label, "value": value, "figure": figure}


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def report_rows(fig: dict[str, Any]) -> list[dict[str, Any]]:
    """DEC-REPORT: the report's lines (section, label, value, drill-down figure id), in order."""
    s1, s2, s3, s4, s5, s6, s7 = (
        "一、承保情况",
        "二、项目所处阶段（期末）",
        "三、风险管理",
        "四、理赔",
        "五、争议、鉴定与追偿",
        "六、维修资金免缴",
        "七、信用信息报送",
    )
    p, r, c = fig["policies"], fig["risk"], fig["claims"]
    rows = [
        _row(s1, "新签保单（件）", p["signed"], "policies.signed"),
        _row(s1, "保费收入（元）", p["premium"], "policies.premium"),
        _row(s1, "新生效保单（件）", p["effective"], "policies.effective"),
    ]
    rows += [_row(s2, f"{PHASE_LABELS[k]}（个）", v, f"phases.{k}") for k, v in fig["phases"].items()]
    rows += [_row(s3, "风险检查（次）", r["inspections"], "risk.inspections")]
    rows += [_row(s3, f"{GRADE_LABELS[g]}（项）", n, f"risk.findings.{g}") for g, n in r["findings"].items()]
    rows += [
        _row(s3, "重大风险报告（份）", r["major_reports"], "risk.major_reports"),
        _row(s3, "已抄送主管部门（份）", r["major_copied"], "risk.major_copied"),
        _row(s3, "逾期抄送（份）", r["major_copied_late"], "risk.major_copied_late"),
        _row(s3, "期末未关闭严重问题（项）", r["open_serious"], "risk.open_serious"),
        _row(s3, "期末逾期整改（项）", r["overdue_rectifications"], "risk.overdue_rectifications"),
        _row(s4, "报案（件）", c["reported"], "claims.reported"),
    ]
    rows += [
        _row(s4, f"{CATEGORY_LABELS.get(k, k)}（件）", n, f"claims.by_category.{k}")
        for k, n in c["by_category"].items()
    ]
    rows += [
        _row(s4, f"分派：{ROUTE_LABELS.get(k, k)}（件）", n, f"claims.by_route.{k}") for k, n in c["by_route"].items()
    ]
    rows += [
        _row(s4, f"结果：{OUTCOME_LABELS.get(k, k)}（件）", n, f"claims.by_outcome.{k}")
        for k, n in c["by_outcome"].items()
    ]
    rows += [_row(s4, "服务时限超时（次）", fig["sla"]["breaches"], "sla.breaches")]
    rows += [
        _row(s4, f"其中{SLA_LABELS.get(k, k)}（次）", n, f"sla.by_sla.{k}") for k, n in fig["sla"]["by_sla"].items()
    ]
    d = fig["durations"]
    rows += [
        _row(s4, "平均查勘时间（天）", _days(d["survey"]["average_days"]), "durations.survey"),
        _row(s4, "平均核定时间（天）", _days(d["decision"]["average_days"]), "durations.decision"),
        _row(s4, "平均维修时间（天）", _days(d["repair"]["average_days"]), "durations.repair"),
        _row(s4, "赔付金额合计（元）", fig["payments"]["amount"], "payments.count"),
        _row(
            s4,
            "其中赔偿金（元）",
            fig["payments"]["by_kind"]["indemnity"]["amount"],
            "payments.by_kind.indemnity",
        ),
        _row(
            s4,
            "其中维修费用（元）",
            fig["payments"]["by_kind"]["repair"]["amount"],
            "payments.by_kind.repair",
        ),
    ]
    a, sub = fig["appraisals"], fig["subrogation"]
    rows += [_row(s5, "鉴定（件）", a["count"], "appraisals.count")]
    rows += [
        _row(
            s5,
            f"鉴定费由{PAYER_LABELS.get(k, k)}承担（件 / 元）",
            f"{v['count']} / {v['fees']}",
            f"appraisals.fee_payer.{k}",
        )
        for k, v in a["fee_payer"].items()
    ]
    rows += [
        _row(s5, "损失评估（件）", a["loss_assessments"]["count"]),
        _row(s5, "代位追偿立案（件）", sub["opened"], "subrogation.opened"),
        _row(s5, "确认缺陷责任（件）", sub["liability_established"], "subrogation.liability_established"),
        _row(s5, "追偿金额（元）", sub["claimed"], "subrogation.opened"),
        _row(s5, "已追回金额（元）", sub["recovered"], "subrogation.opened"),
    ]
    e = fig["exemptions"]
    rows += [
        _row(s6, "申请免缴（件）", e["requested"], "exemptions.requested"),
        _row(s6, "同意免缴（件）", e["approved"], "exemptions.approved"),
        _row(s6, "不同意（件）", e["denied"], "exemptions.denied"),
        _row(s7, "报送信用信息（条）", fig["credit"]["records"], "credit.records"),
    ]
    rows += [
        _row(s7, f"其中{EVENT_LABELS.get(k, k)}（条）", n, f"credit.by_event.{k}")
        for k, n in fig["credit"]["by_event"].items()
    ]
    return rows


def heading(report: QuarterlyReport) -> dict[str, str]:
    """The title block: title, quarter, period, insurer, generation time."""
    return {
        "title": TITLE,
        "quarter": f"{report.year}年第{report.quarter}季度",
        "period": f"{report.period_start.isoformat()} 至 {report.period_end.isoformat()}",
        "insurer": master_data.get("insurer")["name"],
        "generated": clock.to_local(report.generated_at).strftime("%Y-%m-%d %H:%M"),
        "report_no": report.report_no,
    }


def render_xlsx(report: QuarterlyReport) -> bytes:
    """The report as an XLSX workbook: a title block, then one row per figure under its section."""
    head, book = heading(report), Workbook()
    sheet = book.active
    sheet.title = f"{report.year}Q{report.quarter}"
    sheet.append([head["title"]])
    sheet.append(["报告编号", head["report_no"]])
    sheet.append(["报告期", head["quarter"], head["period"]])
    sheet.append(["报送单位", head["insurer"]])
    sheet.append(["生成时间", head["generated"]])
    sheet.append([])
    sheet.append(["项目", "指标", "数值"])
    header_row = sheet.max_row
    for row in report_rows(report.figures):
        sheet.append([row["section"], row["label"], row["value"]])
    bold, thin = Font(bold=True), Side(style="thin", color="999999")
    sheet["A1"].font = Font(bold=True, size=14)
    for cell in sheet[header_row]:
        cell.font, cell.fill = bold, PatternFill("solid", fgColor="DDE7F0")
    for line in sheet.iter_rows(min_row=header_row, max_row=sheet.max_row):
        for cell in line:
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
            cell.alignment = Alignment(vertical="center")
    for col, width in (("A", 26), ("B", 42), ("C", 22)):
        sheet.column_dimensions[col].width = width
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def render_pdf(report: QuarterlyReport) -> bytes:
    """The report as an A4 PDF in Chinese (reportlab's built-in CID font STSong-Light)."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    head = heading(report)
    h1 = ParagraphStyle("h1", fontName=_FONT, fontSize=16, leading=24, alignment=1, wordWrap="CJK")
    p = ParagraphStyle("p", fontName=_FONT, fontSize=10, leading=15, wordWrap="CJK")
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        title=f"{head['title']} {head['quarter']}",
        author=head["insurer"],
        invariant=1,
        topMargin=40,
        bottomMargin=40,
    )
    story = [Paragraph(html.escape(head["title"]), h1), Spacer(1, 6)]
    for label, key in (
        ("报告编号", "report_no"),
        ("报告期", "quarter"),
        ("统计期间", "period"),
        ("报送单位", "insurer"),
        ("生成时间", "generated"),
    ):
        story.append(Paragraph(html.escape(f"{label}：{head[key]}"), p))
    story.append(Spacer(1, 10))
    data = [["项目", "指标", "数值"]] + [
        [r["section"], r["label"], str(r["value"])] for r in report_rows(report.figures)
    ]
    table = Table(
        [[Paragraph(html.escape(c), p) for c in line] for line in data],
        colWidths=[120, 250, 110],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDE7F0")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buf.getvalue()


def generate(session: Session, year: int, quarter: int, now: dt.datetime, due_days: int = 15) -> QuarterlyReport:
    """DEC-REPORT: the quarter's report with its figures and files; due `due_days` days after quarter end."""
    report_no = report_no_for(year, quarter)
    existing = session.scalars(select(QuarterlyReport).where(QuarterlyReport.report_no == report_no)).first()
    if existing is not None:
        return existing
    f = st.quarter_filters(year, quarter)
    report = QuarterlyReport(
        report_no=report_no,
        year=year,
        quarter=quarter,
        period_start=f.start,
        period_end=f.end,
        status="generated",
        generated_at=now,
        due_at=dt.datetime.fromisoformat(deadline_days(f.end, due_days)),
        figures=st.dashboard(session, f),
        review_note="",
        submitted_by="",
        received_by="",
        reminders=[],
        xlsx=b"",
        pdf=b"",
    )
    report.xlsx, report.pdf = render_xlsx(report), render_pdf(report)
    session.add(report)
    session.flush()
    return report


def describe(report: QuarterlyReport) -> dict[str, Any]:
    """A JSON-safe view of a report (without its files)."""

    def iso(value):
        return clock.to_local(value).isoformat() if value else None

    return {
        "report_no": report.report_no,
        "year": report.year,
        "quarter": report.quarter,
        "period_start": report.period_start.isoformat(),
        "period_end": report.period_end.isoformat(),
        "status": report.status,
        "generated_at": iso(report.generated_at),
        "due_at": iso(report.due_at),
        "submitted_at": iso(report.submitted_at),
        "submitted_by": report.submitted_by,
        "received_at": iso(report.received_at),
        "received_by": report.received_by,
        "review_note": report.review_note,
        "reminders": report.reminders,
        "figures": report.figures,
    }


def list_reports(session: Session) -> list[QuarterlyReport]:
    """Every quarterly report, newest quarter first."""
    return list(
        session.scalars(select(QuarterlyReport).order_by(QuarterlyReport.year.desc(), QuarterlyReport.quarter.desc()))
    )


# ---- service tasks of workflows/quarterly_report.bpmn ------------------------------------------------


def next_quarter(year: int, quarter: int) -> tuple[int, int]:
    """The quarter after (year, quarter)."""
    return (year + 1, 1) if quarter == 4 else (year, quarter + 1)


def due_quarter(session: Session, first: tuple[int, int], now: dt.datetime) -> tuple[int, int] | None:
    """The earliest quarter from `first` that has ended by `now` and has no report yet (None: all done)."""
    year, quarter = first
    while st.quarter_filters(year, quarter).end_at <= now:
        if (
            session.scalar(select(QuarterlyReport.id).where(QuarterlyReport.report_no == report_no_for(year, quarter)))
            is None
        ):
            return year, quarter
        year, quarter = next_quarter(year, quarter)
    return None


@handler("reports.plan_calendar", params=("years",))
def plan_calendar(ctx, years: int = 30) -> dict:
    """DEC-REPORT: the quarter running now is the first to report; the cycle fires after each quarter."""
    year, quarter = st.quarter_of(clock.to_local(ctx.now).date())
    first_end = clock.to_local(st.quarter_filters(year, quarter).end_at)
    return {
        "first_year": year,
        "first_quarter": quarter,
        "cycle": f"R/{first_end.isoformat()}/P3M",
        "until": first_end.replace(year=first_end.year + int(years)).isoformat(),
    }


@handler("reports.generate_quarterly", params=("first_year", "first_quarter", "due_days", "escalate_after_days"))
def generate_quarterly(
    ctx, first_year: int, first_quarter: int, due_days: int = 15, escalate_after_days: int = 5
) -> dict:
    """DEC-REPORT DEC-DAYS: report the earliest ended quarter without a report; due 15 days after its end."""
    found = due_quarter(ctx.session, (int(first_year), int(first_quarter)), ctx.now)
    if found is None:
        raise ValueError(
            f"No ended quarter without a report since {first_year} Q{first_quarter}; the quarter "
            "timer fired early: check the calendar's cycle expression."
        )
    report = generate(ctx.session, found[0], found[1], ctx.now, int(due_days))
    report.instance_id = ctx.instance_id
    return {
        "report_no": report.report_no,
        "year": report.year,
        "quarter": report.quarter,
        "period": f"{report.period_start.isoformat()} … {report.period_end.isoformat()}",
        "due_at": clock.to_local(report.due_at).isoformat(),
        "escalate_at": deadline_days(report.due_at, int(escalate_after_days)),
    }


@handler("reports.remind", params=("report_no", "level"))
def remind(ctx, report_no: str, level: int) -> dict:
    """DEC-REPORT: overdue → a reminder to the insurer (level 1), then the authority is told (level 2)."""
    report = report_by_no(ctx.session, report_no)
    if report.status != "generated":
        return {"reminded": False, "status": report.status}
    role = INSURER_LANE if int(level) == 1 else AUTHORITY_LANE
    told = escalate(ctx, role=role, task=REVIEW_TASK, mode="notify")
    report.reminders = [*report.reminders, {"level": int(level), "to": role, "at": ctx.now.isoformat()}]
    return {"reminded": True, "level": int(level), **told}


@handler("reports.submit", params=("report_no", "review"))
def submit(ctx, report_no: str, review: dict) -> dict:
    """DEC-REPORT LG-PLAT: the insurer has reviewed the report and submits it to the authority."""
    report = report_by_no(ctx.session, report_no)
    report.status, report.submitted_at, report.submitted_by = "submitted", ctx.now, ctx.actor
    report.review_note = (review or {}).get("note", "")
    late = report.submitted_at > report.due_at
    return {"submitted_at": clock.to_local(ctx.now).isoformat(), "late": late}


@handler("reports.receive", params=("report_no", "receipt"))
def receive(ctx, report_no: str, receipt: dict) -> dict:
    """LG-OVERSIGHT: the authority has received the report in its inbox."""
    report = report_by_no(ctx.session, report_no)
    report.status, report.received_at, report.received_by = "received", ctx.now, ctx.actor
    return {"received_at": clock.to_local(ctx.now).isoformat(), "remarks": (receipt or {}).get("remarks", "")}
