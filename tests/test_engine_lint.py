"""Lint: every rule rejects the whole bundle with file, element id and a fix, and nothing is stored."""

from __future__ import annotations

import pytest
from conftest import bundle
from sqlalchemy import func, select

from engine import definitions, handler
from engine.errors import DefinitionInvalid
from engine.models import AuditEvent, Deployment, ProcessDefinition


@handler("eng.charge")
def _charge(ctx, amount):
    """Test handler so that eng_service.bpmn lints clean; the lint cases break it on purpose."""
    return {"charged": amount}


USER_TASK_FORM = '<spiffworkflow:property name="formJsonSchemaFilename" value="eng_decision.schema.json" />'


def _reject(session, files: dict[str, str]) -> list:
    """Deploy `files` expecting a rejection; prove nothing was stored; return the problems."""
    with pytest.raises(DefinitionInvalid) as caught:
        definitions.deploy(session, files, "owner")
    session.flush()
    for model in (Deployment, ProcessDefinition, AuditEvent):
        assert session.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__
    problems = caught.value.problems
    assert problems and all(p.fix for p in problems), problems
    assert str(problems[0]) in str(caught.value)
    return problems


def _with(name: str, old: str, new: str, *more: str) -> dict[str, str]:
    """A bundle of `name` (plus `more` valid diagrams) with one text replacement in `name`."""
    files = bundle(name, *more)
    assert old in files[name], f"{old!r} not in {name}"
    files[name] = files[name].replace(old, new)
    return files


def _only(problems, file: str, element: str, *words: str):
    [problem] = problems
    assert (problem.file, problem.element) == (file, element), problem
    for word in words:
        assert word in problem.message + problem.fix, problem
    return problem


def test_service_operator_without_handler_is_rejected(session):
    files = _with("eng_service.bpmn", 'id="eng.charge"', 'id="eng.nobody"', "eng_review.bpmn")
    problems = _reject(session, files)
    problem = _only(problems, "eng_service.bpmn", "Service_charge", "eng.nobody", "eng.charge")
    assert "@handler('eng.nobody')" in problem.fix
    assert problem.line is not None


def test_user_task_without_form_schema_is_rejected(session):
    problems = _reject(session, _with("eng_review.bpmn", USER_TASK_FORM, "", "eng_gateway.bpmn"))
    _only(problems, "eng_review.bpmn", "Task_review", "no form schema", "formJsonSchemaFilename")


def test_form_file_missing_from_bundle_is_rejected(session):
    files = bundle("eng_review.bpmn", "eng_gateway.bpmn")
    del files["forms/eng_decision.schema.json"]
    problems = _reject(session, files)
    assert {(p.file, p.element) for p in problems} == {("eng_review.bpmn", "Task_review"),
                                                       ("eng_gateway.bpmn", "Task_supervisor_approve")}
    assert all("eng_decision.schema.json" in p.message for p in problems)


def test_lane_that_is_not_a_known_role_is_rejected(session):
    problems = _reject(session, _with("eng_review.bpmn", 'name="reviewer"', 'name="auditor"'))
    _only(problems, "eng_review.bpmn", "Lane_reviewer", "auditor", "reviewer")


def test_user_task_outside_any_lane_is_rejected(session):
    problems = _reject(session, _with("eng_review.bpmn", "<bpmn:flowNodeRef>Task_review</bpmn:flowNodeRef>",
                                      ""))
    _only(problems, "eng_review.bpmn", "Task_review", "lane")


def test_call_activity_to_a_missing_process_is_rejected(session):
    problems = _reject(session, bundle("eng_parent.bpmn"))
    _only(problems, "eng_parent.bpmn", "Call_child", "eng_child", "deploy it first")


def test_timer_expression_that_fails_the_restricted_compiler_is_rejected(session):
    problems = _reject(session, _with("eng_waits.bpmn", '"P1D"</bpmn:', '"P1D" +</bpmn:'))
    _only(problems, "eng_waits.bpmn", "Event_cooldown", "timeDuration", "P2D")


def test_unquoted_iso_duration_is_rejected(session):
    """P2D without quotes is a variable name, which would fail only when the timer is reached."""
    problems = _reject(session, _with("eng_waits.bpmn", '"P2D"</bpmn:', "P2D</bpmn:"))
    _only(problems, "eng_waits.bpmn", "Boundary_approve_overdue", "P2D", '"P2D"')


def test_quoted_duration_that_is_not_iso_is_rejected(session):
    problems = _reject(session, _with("eng_waits.bpmn", '"P1D"</bpmn:', '"2 days"</bpmn:'))
    _only(problems, "eng_waits.bpmn", "Event_cooldown", "2 days", "ISO 8601")


def test_condition_with_import_is_rejected(session):
    problems = _reject(session, _with("eng_gateway.bpmn", "amount &gt; 100",
                                      "__import__('os').system('id') &gt; 0", "eng_review.bpmn"))
    _only(problems, "eng_gateway.bpmn", "Flow_big", "__import__")


def test_plain_bpmn_task_is_rejected(session):
    files = _with("eng_review.bpmn", '<bpmn:endEvent id="EndEvent_review" />',
                  '<bpmn:task id="Task_plain" name="Just a box" /><bpmn:endEvent id="EndEvent_review" />')
    problems = _reject(session, files)
    _only(problems, "eng_review.bpmn", "Task_plain", "plain task", "user task")


def test_reserved_spiff_id_is_rejected(session):
    problems = _reject(session, _with("eng_review.bpmn", 'id="EndEvent_review"', 'id="End"'))
    assert ("eng_review.bpmn", "End") in {(p.file, p.element) for p in problems}


def test_invalid_json_schema_form_is_rejected(session):
    files = bundle("eng_review.bpmn")
    files["forms/eng_decision.schema.json"] = '{"type": "objekt", "properties": {}}'
    problems = _reject(session, files)
    assert any(p.file == "forms/eng_decision.schema.json" and "JSON Schema" in p.message for p in problems)


def test_form_that_is_not_json_is_rejected(session):
    files = bundle("eng_review.bpmn")
    files["forms/eng_note.schema.json"] = '{"type": "object",'
    problems = _reject(session, files)
    _only(problems, "forms/eng_note.schema.json", None, "not valid JSON")


def test_several_problems_are_reported_at_once(session):
    """One deploy reports every problem in every file, not just the first."""
    files = _with("eng_review.bpmn", 'name="reviewer"', 'name="auditor"', "eng_service.bpmn",
                  "eng_gateway.bpmn")
    files["eng_review.bpmn"] = files["eng_review.bpmn"].replace(USER_TASK_FORM, "")
    files["eng_service.bpmn"] = files["eng_service.bpmn"].replace('id="eng.charge"', 'id="eng.nobody"')
    files["eng_gateway.bpmn"] = files["eng_gateway.bpmn"].replace("amount &gt; 100", "amount &gt;")
    problems = _reject(session, files)
    assert {(p.file, p.element) for p in problems} == {
        ("eng_review.bpmn", "Lane_reviewer"), ("eng_review.bpmn", "Task_review"),
        ("eng_service.bpmn", "Service_charge"), ("eng_gateway.bpmn", "Flow_big")}


def test_problems_serialize_for_the_api(session):
    with pytest.raises(DefinitionInvalid) as caught:
        definitions.deploy(session, bundle("eng_parent.bpmn"), "owner")
    body = caught.value.to_dict()
    assert body["error"] == "DefinitionInvalid"
    assert body["problems"][0]["element"] == "Call_child" and body["problems"][0]["fix"]
