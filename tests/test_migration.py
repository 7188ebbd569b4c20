"""Migration between versions: waiting timers keep their due dates, and an instance that cannot move is
refused with the reason (ARCHITECTURE.md: "never silently restarts a waiting timer")."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import BPMN_DIR, commit
from dateutil.relativedelta import relativedelta
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from sqlalchemy import select

from engine import audit, clock, definitions, instances, migration, projections, runtime, serialization, tasks
from engine.models import HumanTask, ProcessInstance, Timer

HANDOVER = "2027-03-01T00:00:00+08:00"
SHANGHAI = clock.LOCAL_TZ
USER_TASK = """
    <bpmn:userTask id="{id}" name="{name}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>"""


def cover_bpmn(task_id="Task_in_force", task_name="Policy in force", after_task="", after_2y=""):
    """A cover process: a 2-year timeDate on one branch, a user task with a 10-year duration boundary on the
    other (a duration is measured from when it was reached, so restarting it would move it).

    `after_task` / `after_2y` insert an extra user task after the user task / after the 2-year timer.
    """
    lane_refs = [task_id] + [x for x in ("Task_audit" if after_task else "",
                                         "Task_review_2y" if after_2y else "") if x]
    refs = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in lane_refs)
    task_next = "Task_audit" if after_task else "End_force"
    timer_next = "Task_review_2y" if after_2y else "End_2y"
    extra = ""
    if after_task:
        extra += USER_TASK.format(id="Task_audit", name="Audit the file")
        extra += '<bpmn:sequenceFlow id="Flow_audit_end" sourceRef="Task_audit" targetRef="End_force" />'
    if after_2y:
        extra += USER_TASK.format(id="Task_review_2y", name="Two-year review")
        extra += '<bpmn:sequenceFlow id="Flow_review_end" sourceRef="Task_review_2y" targetRef="End_2y" />'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Defs_mig" targetNamespace="t">
  <bpmn:process id="mig_cover" name="Cover" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_clerk" name="clerk">{refs}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1" />
    <bpmn:sequenceFlow id="Flow_split" sourceRef="StartEvent_1" targetRef="Gateway_split" />
    <bpmn:parallelGateway id="Gateway_split" />
    <bpmn:sequenceFlow id="Flow_2y" sourceRef="Gateway_split" targetRef="Event_2y" />
    <bpmn:sequenceFlow id="Flow_force" sourceRef="Gateway_split" targetRef="{task_id}" />
    <bpmn:intermediateCatchEvent id="Event_2y" name="Two-year cover starts">
      <bpmn:timerEventDefinition id="Ted_2y"><bpmn:timeDate>add_years(handover, 2)</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="Flow_2y_next" sourceRef="Event_2y" targetRef="{timer_next}" />
    <bpmn:endEvent id="End_2y" />
    {USER_TASK.format(id=task_id, name=task_name)}
    <bpmn:boundaryEvent id="Boundary_10y" name="Ten-year cover ends" attachedToRef="{task_id}">
      <bpmn:timerEventDefinition id="Ted_10y"><bpmn:timeDuration>"P10Y"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_10y_end" sourceRef="Boundary_10y" targetRef="End_10y" />
    <bpmn:endEvent id="End_10y" />
    <bpmn:sequenceFlow id="Flow_force_next" sourceRef="{task_id}" targetRef="{task_next}" />
    <bpmn:endEvent id="End_force" />
    {extra}
  </bpmn:process>
</bpmn:definitions>"""


def deploy_xml(session, xml: str) -> int:
    files = {"mig_cover.bpmn": xml,
             "forms/review.schema.json": (BPMN_DIR / "forms" / "review.schema.json").read_text()}
    [version] = definitions.deploy(session, files, "owner")
    commit(session)
    return version.definition_id


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI).astimezone(dt.UTC)


#: The fixed clock starts at 2027-03-01 09:00 Shanghai; the 10-year duration runs from then.
TEN_YEARS = local(2037, 3, 1, 9)


def timer_rows(session, instance_id: int) -> dict[str, Timer]:
    rows = session.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                               Timer.status == "waiting")).all()
    for row in rows:
        session.refresh(row)
    return {r.task_name: r for r in rows}


@pytest.fixture
def eighteen_months_in(session, fixed_clock):
    """Version 1 deployed, one instance started at handover, the clock 18 months later."""
    v1 = deploy_xml(session, cover_bpmn())
    inst = instances.start_instance(session, "mig_cover", {"handover": HANDOVER}, "alice", business_key="P-1")
    commit(session)
    fixed_clock.set(fixed_clock.now() + relativedelta(months=18))
    return v1, inst


def test_migration_keeps_the_ten_year_timer_due_date(session, fixed_clock, eighteen_months_in):
    v1, inst = eighteen_months_in
    before = timer_rows(session, inst.id)
    assert before["Boundary_10y"].due_at == TEN_YEARS
    v2 = deploy_xml(session, cover_bpmn(task_name="Policy in force (v2)", after_task="yes", after_2y="yes"))

    [dry] = migration.dry_run(session, "mig_cover", 1, 2)
    assert dry.can_move and dry.reasons == []
    landings = {t.element: t.lands_on for t in dry.tokens}
    assert landings.items() >= {"Task_in_force": "Task_in_force", "Event_2y": "Event_2y",
                                "Boundary_10y": "Boundary_10y"}.items(), landings
    assert {t.element: (t.due_before, t.due_after) for t in dry.timers} == {
        "Boundary_10y": (TEN_YEARS.isoformat(),) * 2, "Event_2y": (local(2029, 3, 1).isoformat(),) * 2}
    assert session.get(ProcessInstance, inst.id).definition_id == v1  # a dry run writes nothing

    report = migration.migrate_all(session, "mig_cover", 1, 2, "owner")
    commit(session)
    assert [p.instance_id for p in report.migrated] == [inst.id] and report.refused == []
    row = session.get(ProcessInstance, inst.id)
    session.refresh(row)
    assert row.definition_id == v2
    after = timer_rows(session, inst.id)
    assert after["Boundary_10y"].due_at == TEN_YEARS  # not 2038-09-01
    assert after["Event_2y"].due_at == local(2029, 3, 1)
    assert {k: v.id for k, v in after.items()} == {k: v.id for k, v in before.items()}
    [task] = tasks.list_tasks(session, business_key="P-1")
    assert task.title == "Policy in force (v2)"  # the inbox row shows the new version's name
    assert any(e.action == "migrate" and e.data["to_version"] == 2 for e in audit.history(session, inst.id))

    # The moved instance follows the new version: the 2-year timer leads to the added review task, and
    # completing the user task leads to the added audit task.
    clock.advance_to(session, local(2029, 3, 1))
    commit(session)
    tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)
    open_names = {t.task_name for t in tasks.list_tasks(session, business_key="P-1")}
    assert open_names == {"Task_review_2y", "Task_audit"}
    assert "Boundary_10y" not in timer_rows(session, inst.id)  # left behind with its activity


def test_spiff_default_migration_would_restart_the_timer(session, fixed_clock, eighteen_months_in):
    """The trap this module avoids: Spiff's default reset_mask re-evaluates waiting timers from 'now'."""
    _v1, inst = eighteen_months_in
    v2 = deploy_xml(session, cover_bpmn(task_name="Renamed"))
    row = session.get(ProcessInstance, inst.id)
    old, new = definitions.load(session, row.definition_id), definitions.load(session, v2)
    wf = serialization.load_state(row.state, old.spec, old.subprocess_specs)
    wf.script_engine = runtime.SCRIPT_ENGINE
    top, _subs = diff_workflow(serialization.SERIALIZER.registry, wf, new.spec, new.subprocess_specs)
    migrate_workflow(top, wf, new.spec)  # default mask: READY | WAITING
    wf.refresh_timers()
    dues = {t.task_spec.bpmn_id: projections.timer_due(t) for t in wf.get_tasks()
            if projections.timer_due(t) is not None}
    assert dues["Boundary_10y"] == local(2038, 9, 1, 9)  # restarted 18 months late


def test_instance_whose_current_task_was_removed_is_refused_with_the_reason(session, fixed_clock,
                                                                           eighteen_months_in):
    v1, inst = eighteen_months_in
    deploy_xml(session, cover_bpmn(task_id="Task_replacement", task_name="Replacement"))
    [dry] = migration.dry_run(session, "mig_cover", 1, 2)
    assert not dry.can_move
    assert any("'Policy in force' (Task_in_force) does not exist in version 2" in r for r in dry.reasons)

    report = migration.migrate_all(session, "mig_cover", 1, 2, "owner")
    commit(session)
    assert report.migrated == [] and [p.instance_id for p in report.refused] == [inst.id]
    row = session.get(ProcessInstance, inst.id)
    session.refresh(row)
    assert row.definition_id == v1 and row.status == "running"
    assert timer_rows(session, inst.id)["Boundary_10y"].due_at == TEN_YEARS
    with pytest.raises(migration.MigrationRefused, match="Task_in_force"):
        migration.migrate_instance(session, inst.id, definitions.resolve(session, "mig_cover", 2).id, "owner")


def test_finished_instances_are_not_offered_and_cannot_move(session, fixed_clock, eighteen_months_in):
    _v1, inst = eighteen_months_in
    instances.cancel_instance(session, inst.id, "owner")
    commit(session)
    v2 = deploy_xml(session, cover_bpmn(task_name="Renamed"))
    assert migration.dry_run(session, "mig_cover", 1, 2) == []
    plan = migration.plan(session, inst.id, v2)
    assert not plan.can_move and "cancelled" in plan.reasons[0]


def test_human_task_rows_keep_their_ids_after_migration(session, fixed_clock, eighteen_months_in):
    _v1, inst = eighteen_months_in
    [before] = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == inst.id)).all()
    v2 = deploy_xml(session, cover_bpmn(task_name="Renamed"))
    migration.migrate_instance(session, inst.id, v2, "owner")
    commit(session)
    open_rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id,
                                                        HumanTask.status == "open")).all()
    assert [r.id for r in open_rows] == [before]
