"""The 建设工程质量潜在缺陷保险告知书 per unit, as printable HTML and a Chinese PDF (LG-NOTICE, -DELIVER)."""

from __future__ import annotations

import html
import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from sqlalchemy import select

from engine import handler

from . import master_data
from .dates import parse_date
from .models import Notice, Policy
from .records import policy_by_no

TITLE = "建设工程质量潜在缺陷保险告知书"
#: RULES.md section 2, items 1–8, in the words of the measures.
COVER_ITEMS = [
    (1, "整体或局部倒塌"),
    (2, "地基产生超过设计规范允许的不均匀沉降"),
    (3, "阳台、雨篷、挑檐等悬挑构件和外墙面坍塌或出现影响使用安全的裂缝、破损、断裂等现象"),
    (4, "主体承重结构部位出现的裂缝、变形、破损、断裂等现象"),
    (5, "屋面防水工程，地下室、外墙面、门窗的防渗漏工程，有防水要求的卫生间、房间的渗漏"),
    (6, "供热与供冷系统工程"),
    (7, "电气管线、给排水管道、设备安装"),
    (8, "装修工程（包括全装修和非全装修，墙面、顶棚抹灰层工程等其他分项工程）"),
]
CLAIMS_PROCESS = [
    "发现质量缺陷后，拨打24小时保险服务专线电话报案，或通过物业服务企业报案，即时获得报案号；",
    "保险公司安排查勘人员现场查勘，确定缺陷原因及是否属于保险责任；",
    "属于保险责任的，由保险公司自行或委托第三方维修机构维修，或予以赔偿；不属于的，书面说明理由；",
    "维修完成后由业主验收确认；对是否属于保险责任有异议的，可共同委托有资质的第三方鉴定机构鉴定。",
]
EXCLUSIONS = "因使用不当或第三方造成的质量问题，或者不可抗力造成的质量问题，不属于保险责任。"
_FONT = "STSong-Light"


def notice_content(policy: Policy, unit_no: str) -> dict:
    """Every item LG-NOTICE requires, with the policy's stored dates."""
    insurer = master_data.get("insurer")
    project = policy.project
    groups = [
        {
            "items": "第1至4项",
            "years": 10,
            "start": policy.cover_start.isoformat(),
            "end": policy.end_items_1_4.isoformat(),
        },
        {
            "items": "第5项",
            "years": 6,
            "start": policy.cover_start.isoformat(),
            "end": policy.end_item_5.isoformat(),
        },
        {
            "items": "第6至8项",
            "years": 2,
            "start": policy.cover_start.isoformat(),
            "end": policy.end_items_6_8.isoformat(),
        },
    ]
    return {
        "title": TITLE,
        "policy_no": policy.policy_no,
        "project": project.name,
        "address": project.address,
        "unit_no": unit_no,
        "insurer": policy.insurer_name,
        "scope": [f"{n}. {text}" for n, text in COVER_ITEMS],
        "exclusions": EXCLUSIONS,
        "completion_date": project.completion_date.isoformat(),
        "contractor_period": {
            "start": policy.contractor_start.isoformat(),
            "end": policy.contractor_end.isoformat(),
        },
        "cover_start": policy.cover_start.isoformat(),
        "periods": groups,
        "claims_process": CLAIMS_PROCESS,
        "claims_department": insurer["claims_department"],
        "contact": insurer["contact"],
        "address_of_department": insurer["address"],
        "hotline": insurer["hotline"],
        "hotline_hours": insurer["hotline_hours"],
    }


def _lines(c: dict) -> list[tuple[str, str]]:
    """The notice as (kind, text) lines shared by the HTML and PDF renderings."""
    lines = [
        ("h1", c["title"]),
        ("p", f"保单号：{c['policy_no']}　工程名称：{c['project']}　房屋：{c['unit_no']}"),
        ("p", f"保险人：{c['insurer']}"),
        ("h2", "一、保险范围"),
        *[("li", s) for s in c["scope"]],
        ("p", c["exclusions"]),
        ("h2", "二、保险期间"),
        (
            "p",
            f"竣工验收合格日期：{c['completion_date']}。竣工验收合格后两年内（{c['contractor_period']['start']}"
            f"至{c['contractor_period']['end']}）出现的质量缺陷，由施工承包单位负责维修。",
        ),
        *[("li", f"{g['items']}：{g['years']}年，自{g['start']}起至{g['end']}止") for g in c["periods"]],
        ("h2", "三、保险责任开始时间"),
        ("p", f"保险责任自{c['cover_start']}开始。"),
        ("h2", "四、保险理赔流程"),
        *[("li", s) for s in c["claims_process"]],
        ("h2", "五、负责保险理赔工作的部门及联系方式"),
        ("p", f"理赔部门：{c['claims_department']}"),
        ("p", f"联系地址：{c['address_of_department']}（{c['contact']}）"),
        ("p", f"{c['hotline_hours']}保险服务专线电话：{c['hotline']}"),
    ]
    return lines


def render_html(content: dict) -> str:
    """A printable HTML page of the notice."""
    body = []
    for kind, text in _lines(content):
        tag = {"h1": "h1", "h2": "h2", "li": "p class=item", "p": "p"}[kind]
        body.append(f"<{tag}>{html.escape(text)}</{tag.split()[0]}>")
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>"
        f"{html.escape(content['title'])}</title>"
        "<style>body{font-family:serif;max-width:48em;margin:2em auto}"
        ".item{margin-left:2em}@media print{body{margin:0}}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


def render_pdf(content: dict) -> bytes:
    """The notice as an A4 PDF in Chinese (reportlab's built-in CID font STSong-Light)."""
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    styles = {
        "h1": ParagraphStyle("h1", fontName=_FONT, fontSize=16, leading=24, alignment=1, wordWrap="CJK"),
        "h2": ParagraphStyle("h2", fontName=_FONT, fontSize=12, leading=20, spaceBefore=8, wordWrap="CJK"),
        "p": ParagraphStyle("p", fontName=_FONT, fontSize=10.5, leading=16, wordWrap="CJK"),
        "li": ParagraphStyle("li", fontName=_FONT, fontSize=10.5, leading=16, leftIndent=18, wordWrap="CJK"),
    }
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=content["title"], author=content["insurer"], invariant=1)
    story = []
    for kind, text in _lines(content):
        story.append(Paragraph(html.escape(text), styles[kind]))
        if kind == "h1":
            story.append(Spacer(1, 8))
    doc.build(story)
    return buf.getvalue()


@handler("idi.generate_notices", params=("policy_no",))
def generate_notices(ctx, policy_no: str) -> dict:
    """LG-NOTICE: the insurer's notice for every unit of the project, with the stored cover dates."""
    policy = policy_by_no(ctx.session, policy_no)
    if policy.cover_start is None:
        raise ValueError(
            "The cover dates are not fixed yet; record completion acceptance before the notices."
        )
    units = list(policy.project.units or []) or ["全部"]
    for unit_no in units:
        content = notice_content(policy, unit_no)
        ctx.session.add(
            Notice(
                policy_id=policy.id,
                unit_no=unit_no,
                content=content,
                html=render_html(content),
                pdf=render_pdf(content),
                generated_at=ctx.now,
            )
        )
    ctx.session.flush()
    return {"units": units, "count": len(units)}


@handler("idi.record_notice_delivery", params=("policy_no", "delivery"))
def record_notice_delivery(ctx, policy_no: str, delivery: dict) -> dict:
    """LG-NOTICE-DELIVER: the developer records the handover of the notices; pending units remain."""
    policy = policy_by_no(ctx.session, policy_no)
    notices = {n.unit_no: n for n in ctx.session.scalars(select(Notice).where(Notice.policy_id == policy.id))}
    wanted = list(delivery.get("units") or [])
    unknown = [u for u in wanted if u not in notices]
    if unknown:
        raise ValueError(f"No notice for unit(s) {unknown}; the units are {sorted(notices)}.")
    delivered_on = parse_date(delivery["delivered_on"])
    for unit in wanted:
        notice = notices[unit]
        notice.delivered_on, notice.delivered_by = delivered_on, ctx.actor
        notice.recipient = delivery.get("recipient", "")
    pending = sorted(u for u, n in notices.items() if n.delivered_on is None)
    return {"delivered": len(wanted), "pending": pending, "all_delivered": not pending}
