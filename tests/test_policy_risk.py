"""Risk management through the engine (LG-RM-HIRE, LG-RM-REG, LG-RM-INDEP, LG-RM-MAJOR, DEC-RM-LOOP)."""

from __future__ import annotations

import pytest
from conftest import commit
from sqlalchemy import select
from test_policy_support import (
    at,
    bind_policy,
    complete,
    deploy_workflows,
    move_clock,
    open_tasks,
    register_agency,
)

from engine import tasks
from handlers.models import Engagement, Inspection, Rectification

pytestmark = pytest.mark.backends("sqlite")
CONTRACTOR = "91330300CON0000001"


def _bound(session, fixed_clock):
    deploy_workflows(session)
    fixed_clock.set(at(2026, 3, 2))  # a Monday
    bind_policy(session, "LG-1")


def test_unregistered_agency_cannot_be_engaged(session, fixed_clock):  # LG-RM-REG
    _bound(session, fixed_clock)
    register_agency(session, "91330300RMA0000009", "未登记风险管理公司", approved=False)
    complete(session, "Task_appoint_agency", {"agency_code": "91330300RMA0000009"}, "uw1")
    engagement = session.scalars(select(Engagement)).one()
    assert engagement.status == "refused" and "LG-RM-REG" in engagement.reason
    assert open_tasks(session) == ["Task_appoint_agency"]


def test_affiliated_agency_is_refused_with_the_relation_named(session, fixed_clock):  # LG-RM-INDEP
    _bound(session, fixed_clock)
    register_agency(
        session,
        "91330300RMA0000002",
        "建工风控有限公司",
        related_parties=[{"credit_code": CONTRACTOR, "relation": "a subsidiary"}],
    )
    register_agency(session, "91330300RMA0000003", "同集团风控公司", group_parent_code=CONTRACTOR)
    for code in ("91330300RMA0000002", "91330300RMA0000003"):
        complete(session, "Task_appoint_agency", {"agency_code": code}, "uw1")
    first, second = session.scalars(select(Engagement).order_by(Engagement.id)).all()
    assert first.status == "refused"
    assert "建工风控有限公司 is a subsidiary of the contractor 浙江建工集团有限公司" in first.reason
    assert second.status == "refused" and "same group" in second.reason
    assert open_tasks(session) == ["Task_appoint_agency"]


def test_registered_independent_agency_is_engaged_after_signing(session, fixed_clock):
    """LG-RM-HIRE LG-RM-REG: after signing the insurer engages a registered agency, which files its plan."""
    _bound(session, fixed_clock)
    register_agency(session)
    complete(session, "Task_appoint_agency", {"agency_code": "91330300RMA0000001"}, "uw1")
    engagement = session.scalars(select(Engagement)).one()
    assert engagement.status == "active" and engagement.reason == ""
    assert open_tasks(session) == ["Task_file_plan"]
    complete(
        session, "Task_file_plan", {"plan": {"plan_no": "P-1", "stages": ["foundation", "mep"]}}, "agency1"
    )
    session.expire_all()
    assert session.scalars(select(Engagement)).one().plan_filed_at == at(2026, 3, 2)
    assert open_tasks(session) == ["Task_inspect_stage"]


def _inspect(session, findings):
    register_agency(session)
    complete(session, "Task_appoint_agency", {"agency_code": "91330300RMA0000001"}, "uw1")
    complete(session, "Task_file_plan", {"plan": {"plan_no": "P-1", "stages": ["main_structure"]}}, "agency1")
    complete(session, "Task_inspect_stage", {"report": {"report_no": "R-1", "findings": findings}}, "agency1")


def test_major_finding_is_copied_to_the_authority_within_one_working_day(session, fixed_clock):  # LG-RM-MAJOR
    _bound(session, fixed_clock)
    _inspect(session, [{"item_no": 4, "grade": "observation", "major": True, "description": "主体结构裂缝"}])
    inspection = session.scalars(select(Inspection)).one()
    assert inspection.has_major and inspection.authority_copied_at == at(2026, 3, 2)
    assert inspection.authority_copy_due_at == at(2026, 3, 4, 0, 0)  # end of Tuesday 3 March
    assert inspection.authority_copied_at <= inspection.authority_copy_due_at
    [task] = tasks.list_tasks(session, lanes=["authority_officer"])
    assert task.task_name == "Task_review_major_report" and task.business_key == "LG-1"
    complete(session, "Task_review_major_report", {"authority_note": "已阅"}, "officer1")
    session.expire_all()
    assert session.scalars(select(Inspection)).one().authority_acknowledged_at is not None
    assert open_tasks(session) == []


def test_no_major_finding_no_authority_copy(session, fixed_clock):  # LG-RM-MAJOR
    _bound(session, fixed_clock)
    _inspect(session, [{"item_no": 8, "grade": "observation", "major": False, "description": "抹灰空鼓"}])
    assert session.scalars(select(Inspection)).one().authority_copied_at is None
    assert tasks.list_tasks(session, lanes=["authority_officer"]) == []


def test_rectification_orders_deadlines_escalation_and_recheck(session, fixed_clock):  # DEC-RM-LOOP
    _bound(session, fixed_clock)
    _inspect(
        session,
        [
            {"item_no": 4, "grade": "serious", "major": False, "description": "悬挑板配筋不足"},
            {"item_no": 8, "grade": "minor", "major": False, "description": "墙面抹灰开裂"},
            {"item_no": 5, "grade": "observation", "major": False, "description": "屋面找坡待观察"},
        ],
    )
    orders = {o.finding_id: o for o in session.scalars(select(Rectification))}
    assert len(orders) == 2  # observations create no order
    rect = sorted(tasks.list_tasks(session, lanes=["contractor"]), key=lambda t: t.due_at)
    assert [t.task_name for t in rect] == ["Task_rectify", "Task_rectify"]
    # serious: 7 days from Mon 2 March -> Mon 9 March, end of day; minor: 30 days -> Wed 1 April, end of day.
    assert [t.due_at for t in rect] == [at(2026, 3, 10, 0, 0), at(2026, 4, 2, 0, 0)]
    serious = min(orders.values(), key=lambda o: o.due_at)
    for when, level in ((at(2026, 3, 10, 0, 1), 1), (at(2026, 3, 13, 0, 1), 2), (at(2026, 3, 17, 0, 1), 3)):
        move_clock(session, fixed_clock, when)
        session.expire_all()
        order = session.get(Rectification, serious.id)
        assert order.escalation_level == level
    assert [e["to"] for e in order.escalations] == [
        "responsible party (reminder)",
        "insurer and developer",
        "authority",
    ]
    assert (
        session.get(Rectification, (set(o.id for o in orders.values()) - {serious.id}).pop()).escalation_level
        == 0
    )
    serious_task = next(t for t in rect if t.due_at == at(2026, 3, 10, 0, 0))
    tasks.complete_task(session, serious_task.id, {"evidence": "已加固"}, "contractor1")
    commit(session)
    complete(session, "Task_recheck", {"rectified": False, "recheck_note": "未整改到位"}, "agency1")
    assert session.get(Rectification, serious.id).status == "open"
    move_clock(session, fixed_clock, at(2026, 3, 18))  # re-armed timers fire again but do not escalate twice
    session.expire_all()
    assert len(session.get(Rectification, serious.id).escalations) == 3
    # The re-opened task's deadline timers are already past (they fired at once), so only the minor order
    # still shows a due date.
    again = [t for t in tasks.list_tasks(session, lanes=["contractor"]) if t.due_at != at(2026, 4, 2, 0, 0)]
    tasks.complete_task(session, again[0].id, {"evidence": "二次整改"}, "contractor1")
    commit(session)
    complete(session, "Task_recheck", {"rectified": True}, "agency1")
    session.expire_all()
    order = session.get(Rectification, serious.id)
    assert order.status == "closed" and order.rechecks == 2
    assert [t.task_name for t in tasks.list_tasks(session)] == ["Task_rectify"]  # the minor order remains
    assert order.closed_at == at(2026, 3, 18)


def test_each_plan_stage_gets_its_own_inspection_call(session, fixed_clock):  # DEC-RM-LOOP
    """One idi_inspection call per filed stage, in order; a later report keeps only its own findings."""
    _bound(session, fixed_clock)
    register_agency(session)
    complete(session, "Task_appoint_agency", {"agency_code": "91330300RMA0000001"}, "uw1")
    complete(
        session,
        "Task_file_plan",
        {"plan": {"plan_no": "P-1", "stages": ["foundation", "decoration"]}},
        "agency1",
    )
    observe = {"grade": "observation", "major": False}
    complete(
        session,
        "Task_inspect_stage",
        {
            "report": {
                "report_no": "R-1",
                "findings": [
                    {"item_no": 2, "description": "沉降观测点", **observe},
                    {"item_no": 5, "description": "底板渗水", **observe},
                ],
            }
        },
        "agency1",
    )
    complete(
        session,
        "Task_inspect_stage",
        {"report": {"report_no": "R-2", "findings": [{"item_no": 8, "description": "吊顶", **observe}]}},
        "agency1",
    )
    rows = session.scalars(select(Inspection).order_by(Inspection.id)).all()
    assert [(i.stage, i.report_no, len(i.findings)) for i in rows] == [
        ("foundation", "R-1", 2),
        ("decoration", "R-2", 1),
    ]
    assert open_tasks(session) == []  # the lifecycle now waits for completion acceptance
