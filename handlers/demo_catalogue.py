"""The demo's cast: parties, risk management agencies and the projects the demo drives (handlers.demo)."""

from __future__ import annotations

from typing import Any


def _party(code: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"credit_code": code, "name": name, **extra}


DEVELOPERS = {
    "D1": _party("91330300DEV0000001", "龙港城投置业有限公司", credit_grade="A"),
    "D2": _party("91330300DEV0000002", "温州港城房地产开发有限公司", credit_grade="B"),
    "D3": _party("91330300DEV0000003", "龙港新城置业有限公司", credit_grade="C"),
}
CONTRACTORS = {
    "C1": _party("91330300CON0000001", "浙江建工集团有限公司", qualification_grade="特级"),
    "C2": _party("91330300CON0000002", "温州第一建筑工程有限公司", qualification_grade="一级"),
    "C3": _party("91330300CON0000003", "龙港宏达建设有限公司", qualification_grade="二级"),
}
DESIGNERS = {
    "E1": _party("91330300DES0000001", "温州市建筑设计研究院"),
    "E2": _party("91330300DES0000002", "龙港市规划建筑设计院有限公司"),
}
SUPERVISORS = {
    "S1": _party("91330300SUP0000001", "龙港建设监理有限公司"),
    "S2": _party("91330300SUP0000002", "浙江信达工程监理有限公司"),
}

#: Risk management agencies and how their registration with the authority ends (LG-RM-REG).
#: outcome: "registered", "refused", or "pending" (the application waits in the authority's inbox).
AGENCIES = {
    "A1": {
        "party": _party("91330300RMA0000001", "浙江安居风险管理有限公司", qualification_grade="甲级"),
        "apply": (2016, 1, 5),
        "decide": (2016, 1, 8),
        "outcome": "registered",
        "reg_no": "LGRM-2016-001",
    },
    "A2": {
        "party": _party("91330300RMA0000002", "温州筑安工程风险管理有限公司", qualification_grade="甲级"),
        "apply": (2019, 3, 1),
        "decide": (2019, 3, 5),
        "outcome": "registered",
        "reg_no": "LGRM-2019-002",
    },
    "A5": {
        "party": _party("91330300RMA0000005", "华东风险评估有限公司"),
        "apply": (2024, 2, 1),
        "decide": (2024, 2, 5),
        "outcome": "refused",
        "reason": "未提交风险管理专业人员配备证明 (no evidence of qualified risk engineers)",
    },
    # A subsidiary of contractor C1: registered, but never independent on C1's projects (LG-RM-INDEP).
    "A3": {
        "party": _party(
            "91330300RMA0000003",
            "建工风控咨询有限公司",
            qualification_grade="乙级",
            related_parties=[{"credit_code": CONTRACTORS["C1"]["credit_code"], "relation": "a subsidiary"}],
        ),
        "apply": (2029, 9, 2),
        "decide": (2029, 9, 4),
        "outcome": "registered",
        "reg_no": "LGRM-2029-003",
    },
    "A4": {
        "party": _party("91330300RMA0000004", "龙港质安工程咨询有限公司"),
        "apply": (2030, 5, 27),
        "decide": None,
        "outcome": "pending",
    },
}

NO_FINDINGS: list[dict[str, Any]] = []

#: One project per phase. Dates are local (Asia/Shanghai) calendar dates; `completion` is C (DEC-DATES).
#: `expect` is the policy status on the demo's today (2030-06-01); the tests hold the seed to it.
PROJECTS: list[dict[str, Any]] = [
    {
        "no": "LG-2016-001",
        "name": "龙港老城安置小区一期",
        "developer": "D1",
        "contractor": "C1",
        "designer": "E1",
        "supervisor": "S1",
        "cost": "80000000.00",
        "units": ["1-101", "1-102", "2-101"],
        "register": (2016, 3, 1),
        "review": (2016, 3, 3),
        "sign": (2016, 3, 7),
        "pay": [(2016, 3, 10, None)],
        "agencies": [("A1", (2016, 3, 14))],
        "plan": (2016, 3, 16, ["foundation", "main_structure", "pre_completion"]),
        "inspections": [
            ((2016, 6, 15), NO_FINDINGS),
            (
                (2017, 3, 20),
                [
                    {
                        "item_no": 5,
                        "grade": "moderate",
                        "major": False,
                        "description": "地下室外墙局部渗水 (basement wall seepage)",
                    }
                ],
            ),
            ((2018, 4, 10), NO_FINDINGS),
        ],
        "rectify": [((2017, 3, 27), "已注浆堵漏并复测 (grouted and re-tested)", (2017, 3, 29), True)],
        "completion": (2018, 4, 28),
        "exemption": {"on": (2018, 5, 3), "decide": (2018, 5, 10), "approved": True},
        "deliveries": [((2018, 5, 20), ["1-101", "1-102", "2-101"])],
        "cancel": (2019, 1, 10),
        "expect": "expired",
    },
    {
        "no": "LG-2019-002",
        "name": "港城花园二期",
        "developer": "D2",
        "contractor": "C2",
        "designer": "E2",
        "supervisor": "S2",
        "cost": "120000000.00",
        "units": ["3-301", "3-302"],
        "register": (2019, 5, 6),
        "review": (2019, 5, 8),
        "sign": (2019, 5, 10),
        "pay": [(2019, 5, 14, None)],
        "agencies": [("A2", (2019, 5, 16))],
        "plan": (2019, 5, 20, ["foundation", "main_structure"]),
        "inspections": [((2019, 9, 2), NO_FINDINGS), ((2020, 6, 8), NO_FINDINGS)],
        "completion": (2021, 9, 30),
        "exemption": {"on": (2021, 10, 8), "request": False},
        "deliveries": [((2021, 10, 20), ["3-301", "3-302"])],
        "expect": "partly_expired",
    },
    {
        "no": "LG-2022-003",
        "name": "龙港商务中心",
        "type": "new_building",
        "developer": "D3",
        "contractor": "C3",
        "designer": "E1",
        "supervisor": "S1",
        "cost": "60000000.00",
        "units": ["A-1", "A-2"],
        "register": (2022, 4, 11),
        "review": (2022, 4, 13),
        "sign": (2022, 4, 15),
        "pay": [(2022, 4, 19, None)],
        "agencies": [("A2", (2022, 4, 21))],
        "plan": (2022, 4, 25, ["foundation", "envelope_waterproofing"]),
        "inspections": [((2022, 9, 5), NO_FINDINGS), ((2024, 6, 3), NO_FINDINGS)],
        "completion": (2024, 12, 31),
        "exemption": {"on": (2025, 1, 8), "decide": (2025, 1, 15), "approved": False},
        "deliveries": [((2025, 1, 20), ["A-1", "A-2"])],
        "expect": "partly_expired",
    },
    {
        "no": "LG-2025-004",
        "name": "龙港新城安置房一期",
        "developer": "D1",
        "contractor": "C1",
        "designer": "E2",
        "supervisor": "S2",
        "cost": "100000000.00",
        "units": ["11-101", "11-102", "12-201", "12-202"],
        "register": (2025, 3, 3),
        "review": (2025, 3, 5),
        "sign": (2025, 3, 7),
        "pay": [(2025, 3, 11, None)],
        "agencies": [("A1", (2025, 3, 13))],
        "plan": (2025, 3, 17, ["foundation", "main_structure", "decoration"]),
        "inspections": [
            ((2025, 7, 7), NO_FINDINGS),
            ((2026, 5, 11), NO_FINDINGS),
            ((2027, 4, 12), NO_FINDINGS),
        ],
        "completion": (2027, 6, 30),
        "exemption": {"on": (2027, 7, 6), "request": False},
        "deliveries": [((2027, 7, 15), ["11-101", "11-102", "12-201", "12-202"])],
        "expect": "insured",
    },
    {
        "no": "LG-2027-005",
        "name": "港城滨江苑",
        "developer": "D2",
        "contractor": "C2",
        "designer": "E1",
        "supervisor": "S1",
        "cost": "90000000.00",
        "units": ["5-501", "5-502", "6-601", "6-602"],
        "register": (2027, 4, 6),
        "review": (2027, 4, 8),
        "sign": (2027, 4, 12),
        "pay": [(2027, 4, 14, None)],
        "agencies": [("A2", (2027, 4, 16))],
        "plan": (2027, 4, 20, ["foundation", "mep"]),
        "inspections": [((2027, 8, 9), NO_FINDINGS), ((2029, 6, 4), NO_FINDINGS)],
        # The authority has not decided the exemption yet, and two units are still to be handed over.
        "completion": (2029, 10, 15),
        "exemption": {"on": (2029, 10, 22), "decide": None},
        "deliveries": [((2029, 11, 1), ["5-501", "5-502"])],
        "expect": "contractor_period",
    },
    {
        "no": "LG-2029-006",
        "name": "龙港世纪城三期",
        "developer": "D3",
        "contractor": "C1",
        "designer": "E2",
        "supervisor": "S2",
        "cost": "150000000.00",
        "units": ["7-701", "7-702", "8-801"],
        "register": (2029, 11, 5),
        "review": (2029, 11, 7),
        "sign": (2029, 11, 9),
        # A partial payment first (LG-BIND-LUMPSUM): returned; the full premium follows.
        "pay": [(2029, 11, 13, "0.5"), (2029, 11, 15, None)],
        # The contractor's subsidiary is refused (LG-RM-INDEP); the independent agency is engaged.
        "agencies": [("A3", (2029, 11, 19)), ("A1", (2029, 11, 20))],
        "plan": (
            2029,
            11,
            22,
            ["foundation", "main_structure", "envelope_waterproofing", "mep", "pre_completion"],
        ),
        "inspections": [
            ((2030, 1, 14), NO_FINDINGS),
            (
                (2030, 5, 20),
                [
                    {
                        "item_no": 4,
                        "grade": "serious",
                        "major": True,
                        "description": "转换层框支梁出现贯通裂缝 (through-crack in a transfer beam)",
                    },
                    {
                        "item_no": 5,
                        "grade": "moderate",
                        "major": False,
                        "description": "屋面防水卷材搭接不足 (roof membrane laps too short)",
                    },
                    {
                        "item_no": 8,
                        "grade": "minor",
                        "major": False,
                        "description": "样板间墙面抹灰空鼓 (hollow plaster in the show flat)",
                    },
                ],
            ),
        ],
        "expect": "construction",
    },
    {
        "no": "LG-2030-007",
        "name": "龙港职工公寓",
        "developer": "D2",
        "contractor": "C3",
        "designer": "E1",
        "supervisor": "S2",
        "cost": "45000000.00",
        "units": ["15-101"],
        "clause": False,
        "register": (2030, 3, 2),
        "review": (2030, 3, 4),
        "sign": (2030, 3, 6),
        "pay": [(2030, 3, 9, None)],
        "expect": "construction",
    },
    {
        "no": "LG-2030-008",
        "name": "龙港湖畔学府",
        "developer": "D1",
        "contractor": "C2",
        "designer": "E2",
        "supervisor": "S1",
        "cost": "70000000.00",
        "units": ["9-901", "9-902"],
        "register": (2030, 5, 18),
        "review": (2030, 5, 20),
        "expect": "quoted",
    },
    {
        "no": "LG-2030-009",
        "name": "龙港文体中心",
        "type": "new_building",
        "developer": "D3",
        "contractor": "C2",
        "designer": "E1",
        "supervisor": "S1",
        "cost": "38000000.00",
        "units": ["T-1"],
        "register": (2030, 5, 28),
        "expect": "quoted",
    },
    {
        "no": "LG-2030-010",
        "name": "苍南灵溪商住楼",
        "developer": "D2",
        "contractor": "C3",
        "designer": "E2",
        "supervisor": "S2",
        "cost": "52000000.00",
        "units": ["20-101"],
        "in_longgang": False,
        "address": "苍南县灵溪镇",
        "district": "苍南县",
        "register": (2030, 5, 22),
        "expect": None,
    },
]

#: The day the claims centre's register of expert bodies is filled (before the first demo claim).
CLAIMS_OPEN = (2029, 7, 2)
#: Appraisal and loss-assessment bodies registered with the claims centre (LG-DSP-APPRAISAL, LG-DSP-AMOUNT).
EXPERT_BODIES: list[dict[str, Any]] = [
    {"credit_code": "91330300JDZ0000001", "name": "浙江建科工程质量鉴定中心", "qualification_no": "浙建鉴-2028-017"},
    {"credit_code": "91330300SFJ0000001", "name": "温州求实司法鉴定所", "qualification_no": "浙建鉴-2027-009",
     "judicial_licence_no": "浙司鉴-330301", "licence_valid_until": "2033-12-31"},
    # Its judicial-appraisal licence lapsed: it may appraise coverage but not assess a loss.
    {"credit_code": "91330300SFJ0000002", "name": "龙港正衡司法鉴定所", "qualification_no": "浙建鉴-2026-004",
     "judicial_licence_no": "浙司鉴-330388", "licence_valid_until": "2029-12-31"},
]
#: the demo users who act on claims (engine/cli.py creates one per role, named by the role key)
_HANDLER, _SUPERVISOR, _OWNER, _REPAIRER = "claims_handler", "claims_supervisor", "owner", "repairer"


def _survey(findings: str, **extra: Any) -> dict[str, Any]:
    return {"survey": {"findings": findings, "is_complex": False, **extra}}


def _covered(reasons: str) -> dict[str, Any]:
    return {"decision": {"covered": True, "reasons": reasons}}


#: Defects reported to the claims centre (handlers.intake) and driven through idi_claim, one per state the
#: claims centre sees (issue 5 item 7). Steps are (day, task or action, form data, actor); the actions
#: `withdraw` and `dispute` go through handlers.intake like the owner portal. The demo user `owner` (units
#: 11-101 and 11-102) reports through the portal; other owners called the hotline (the default channel).
#: `expect` is the claim's (status, outcome, open steps) on the demo's today (2030-06-01); the demo tests
#: hold the seed to it.
CLAIMS: list[dict[str, Any]] = [
    {
        "key": "paid_subrogated",
        "project": "LG-2025-004", "unit": "11-101", "category": 5, "at": (2029, 11, 12),
        "description": "卫生间楼板渗漏至楼下 (bathroom slab leaks to the flat below)", "reporter": _OWNER,
        "channel": "portal",
        "steps": [
            ((2029, 11, 13), "Task_survey", _survey("卫生间防水层搭接不足，施工缺陷",
                                                    responsible_party_code=CONTRACTORS["C1"]["credit_code"]),
             _HANDLER),
            ((2029, 11, 15), "Task_decide_coverage", _covered("属于第5项防水渗漏，保险期间内"), _HANDLER),
            ((2029, 11, 19), "Task_agree_settlement", {"settlement": {"method": "payment", "amount": "12000.00"}},
             _HANDLER),
            ((2029, 11, 20), "Task_owner_confirm_settlement", {"owner_reply": {"accepts": True}}, _OWNER),
            ((2029, 11, 22), "Task_pay_indemnity", {"payment": {"reference": "PAY-2029-1122"}}, _HANDLER),
            ((2029, 12, 16), "Task_pursue_subrogation",
             {"subrogation": {"amount_claimed": "12000.00", "amount_recovered": "12000.00",
                              "liability_established": True}}, _HANDLER),
        ],
        "expect": ("closed", "paid", []),
    },
    {
        "key": "rejected",
        "project": "LG-2025-004", "unit": "12-202", "category": 5, "at": (2029, 12, 3),
        "description": "厨房地面渗水 (kitchen floor seeps)", "reporter": "李秀英 (12-202)",
        "steps": [
            ((2029, 12, 4), "Task_survey", _survey("业主自行拆改厨房防水层", exclusion="improper_use"), _HANDLER),
            ((2029, 12, 6), "Task_decide_coverage",
             {"decision": {"covered": False, "exclusion": "improper_use", "reasons": "业主装修拆改防水层"}},
             _HANDLER),
            ((2029, 12, 7), "Task_send_rejection_notice", {"rejection": {"reasons": "业主装修拆改防水层"}},
             _HANDLER),
            ((2029, 12, 10), "Task_owner_dispute", {"dispute": {"disputes": False}}, "李秀英 (12-202)"),
        ],
        "expect": ("closed", "rejected", []),
    },
    {
        "key": "not_in_scope",
        "project": "LG-2025-004", "unit": "12-201", "category": 9, "at": (2030, 2, 18),
        "description": "小区道路地砖松动 (paving loose in the estate road)", "reporter": "物业 龙港新城物业服务中心",
        "channel": "property_company",
        "steps": [],
        "expect": ("closed", "not_in_scope", []),
    },
    {
        "key": "withdrawn",
        "project": "LG-2025-004", "unit": "11-101", "category": 7, "at": (2030, 2, 25),
        "description": "卫生间下水管异响 (noise in the drain pipe)", "reporter": _OWNER,
        "channel": "portal",
        "steps": [((2030, 2, 26), "withdraw", {"reason": "物业已疏通，无需理赔 (cleared by the property company)"},
                   _OWNER)],
        "expect": ("closed", "withdrawn", []),
    },
    {
        "key": "appraisal",
        "project": "LG-2022-003", "unit": "A-1", "category": 4, "at": (2030, 3, 4),
        "description": "二层框架梁出现斜裂缝 (diagonal cracks in a first-floor beam)", "reporter": "陈志强 (A-1)",
        "steps": [
            ((2030, 3, 5), "Task_survey", _survey("梁侧裂缝，相邻地块基坑施工振动"), _HANDLER),
            ((2030, 3, 8), "Task_decide_coverage",
             {"decision": {"covered": False, "exclusion": "third_party", "reasons": "相邻工地基坑施工造成"}},
             _HANDLER),
            ((2030, 3, 9), "Task_send_rejection_notice", {"rejection": {"reasons": "相邻工地基坑施工造成"}},
             _HANDLER),
            ((2030, 3, 12), "dispute", {"kind": "coverage", "grounds": "裂缝早于相邻工地开工 (cracks predate it)"},
             "陈志强 (A-1)"),
            ((2030, 3, 14), "Task_propose_appraisal_body", {"appraisal_body": {"body_code": "91330300JDZ0000001"}},
             _HANDLER),
            ((2030, 3, 15), "Task_owner_agree_appraisal_body", {"body_agreement": {"agree": True}}, "陈志强 (A-1)"),
        ],
        "expect": ("appraisal_entrusted", "", ["Task_record_appraisal"]),
    },
    {
        "key": "expired",
        "project": "LG-2019-002", "unit": "3-301", "category": 8, "at": (2030, 3, 9),
        "description": "墙面抹灰开裂 (plaster cracks)", "reporter": "赵丽华 (3-301)",
        "steps": [],
        "expect": ("closed", "expired", []),
    },
    {
        "key": "contractor",
        "project": "LG-2027-005", "unit": "5-501", "category": 7, "at": (2030, 4, 2),
        "description": "给水管接头渗水 (water pipe joint leaks)", "reporter": "周明 (5-501)",
        "steps": [((2030, 4, 10), "Task_contractor_repair",
                   {"contractor_repair": {"repaired": False, "note": "已派人查看，待配件 (waiting for parts)"}},
                   "contractor")],
        "expect": ("contractor_pending", "", ["Task_contractor_repair"]),
    },
    {
        "key": "loss_assessment",
        "project": "LG-2022-003", "unit": "A-2", "category": 5, "at": (2030, 4, 8),
        "description": "外墙窗边渗水 (water through the facade at the windows)", "reporter": "孙海燕 (A-2)",
        "steps": [
            ((2030, 4, 9), "Task_survey", _survey("窗框与墙体间密封失效"), _HANDLER),
            ((2030, 4, 11), "Task_decide_coverage", _covered("属于第5项外墙渗漏"), _HANDLER),
            ((2030, 4, 15), "Task_agree_settlement", {"settlement": {"method": "payment", "amount": "8000.00"}},
             _HANDLER),
            ((2030, 4, 17), "dispute", {"kind": "amount", "grounds": "室内装修受损未计入 (interior damage left out)"},
             "孙海燕 (A-2)"),
            ((2030, 4, 19), "Task_propose_loss_assessor",
             {"loss_body": {"body_code": "91330300SFJ0000001", "fee_payer": "shared"}}, _HANDLER),
            ((2030, 4, 20), "Task_owner_agree_loss_assessor", {"body_agreement": {"agree": True}}, "孙海燕 (A-2)"),
        ],
        "expect": ("loss_assessment_entrusted", "", ["Task_record_loss_assessment"]),
    },
    {
        "key": "awaiting_acceptance",
        "project": "LG-2016-001", "unit": "1-101", "category": 3, "at": (2030, 4, 15),
        "description": "阳台栏板根部开裂 (balcony parapet cracked at its base)", "reporter": "吴建国 (1-101)",
        "steps": [
            ((2030, 4, 16), "Task_survey", _survey("阳台栏板根部混凝土开裂"), _HANDLER),
            ((2030, 4, 18), "Task_decide_coverage", _covered("属于第3项悬挑构件，保险期间内"), _HANDLER),
            ((2030, 4, 22), "Task_agree_settlement",
             {"settlement": {"method": "repair", "amount": "15000.00", "performer": "third_party",
                             "repair_org_name": "龙港安修建筑修缮有限公司", "scope": "栏板植筋加固"}}, _HANDLER),
            ((2030, 4, 23), "Task_owner_confirm_settlement", {"owner_reply": {"accepts": True}}, "吴建国 (1-101)"),
            ((2030, 4, 26), "Task_start_repair", {"repair_start": {"started": True, "note": "进场"}}, _REPAIRER),
            ((2030, 5, 20), "Task_complete_repair", {"repair": {"cost": "14800.00"}}, _REPAIRER),
            ((2030, 5, 22), "Task_owner_acceptance", {"acceptance": {"accepted": False, "remarks": "饰面色差明显"}},
             "吴建国 (1-101)"),
            ((2030, 5, 29), "Task_complete_repair", {"repair": {"cost": "14800.00"}}, _REPAIRER),
        ],
        "expect": ("repair_completed", "", ["Task_owner_acceptance"]),
    },
    {
        "key": "repair_ordered",
        "project": "LG-2019-002", "unit": "3-302", "category": 4, "at": (2030, 5, 6),
        "description": "楼板出现贯通裂缝 (through-crack in a floor slab)", "reporter": "郑小红 (3-302)",
        "steps": [
            ((2030, 5, 7), "Task_survey", _survey("楼板贯通裂缝，需结构加固"), _HANDLER),
            ((2030, 5, 9), "Task_decide_coverage", _covered("属于第4项主体结构"), _HANDLER),
            ((2030, 5, 13), "Task_agree_settlement",
             {"settlement": {"method": "repair", "amount": "36000.00", "performer": "insurer_self",
                             "scope": "楼板粘钢加固"}}, _HANDLER),
            ((2030, 5, 14), "Task_owner_confirm_settlement", {"owner_reply": {"accepts": True}}, "郑小红 (3-302)"),
            # the repair start is late (due 2030-05-21): the supervisor's work item, handled with a reminder
            ((2030, 5, 23), "Task_handle_breach_repair_start",
             {"breach_action": {"action": "reminded", "note": "已督促维修班组 5 月 27 日前进场"}}, _SUPERVISOR),
        ],
        "expect": ("repair_ordered", "", ["Task_start_repair"]),
    },
    {
        # reported on a Saturday evening; the survey was due at the end of Monday 05-20 and is late
        "key": "awaiting_survey_late",
        "project": "LG-2025-004", "unit": "11-102", "category": 8, "at": (2030, 5, 18),
        "description": "客厅吊顶抹灰层脱落 (ceiling plaster falling)", "reporter": _OWNER,
        "channel": "portal",
        "steps": [],
        "expect": ("routed_insurer", "", ["Task_handle_breach_survey", "Task_survey"]),
    },
    {
        "key": "awaiting_decision",
        "project": "LG-2025-004", "unit": "12-201", "category": 5, "at": (2030, 5, 27),
        "description": "主卫天花板渗水 (water through the bathroom ceiling)", "reporter": "王芳 (12-201)",
        "steps": [((2030, 5, 28), "Task_survey", _survey("楼上卫生间防水层破损"), _HANDLER)],
        "expect": ("surveyed", "", ["Task_decide_coverage"]),
    },
]


def project_form(spec: dict[str, Any]) -> dict[str, Any]:
    """The registration form data of a catalogue project."""
    return {
        "project": {
            "name": spec["name"],
            "address": spec.get("address", f"龙港市{spec['name']}"),
            "district": spec.get("district", "龙港市"),
            "in_longgang": spec.get("in_longgang", True),
            "project_type": spec.get("type", "new_residential"),
            "construction_cost": spec["cost"],
            "contract_no": f"HT-{spec['no']}",
            "idi_clause_present": spec.get("clause", True),
            "permit_applied_on": None,
            "units": list(spec["units"]),
            "parties": {
                "developer": DEVELOPERS[spec["developer"]],
                "contractor": CONTRACTORS[spec["contractor"]],
                "designer": DESIGNERS[spec["designer"]],
                "supervisor": SUPERVISORS[spec["supervisor"]],
            },
        }
    }
