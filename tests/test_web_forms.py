"""Task forms rendered from JSON Schema: every kind of field, typed data back, errors on the right field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from web import create_app, forms_render

SCHEMA = {
    "type": "object",
    "required": ["covered", "category", "amount", "surveyed_on", "permit_on", "party"],
    "properties": {
        "covered": {"type": "boolean", "title": "属于保险责任"},
        "category": {"type": "integer", "enum": [1, 5, 8], "title": "缺陷类别"},
        "amount": {"type": "number", "minimum": 0, "title": "金额"},
        "visits": {"type": "integer", "title": "次数"},
        "surveyor": {"type": "string", "maxLength": 10, "title": "查勘员"},
        "opinion": {"type": "string", "title": "意见"},
        "surveyed_on": {"type": "string", "format": "date", "title": "查勘日期"},
        "permit_on": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}], "title": "许可日期"},
        "findings": {"type": "array", "items": {"type": "string"}, "title": "发现"},
        "party": {"type": "object", "required": ["name"], "title": "单位",
                  "properties": {"name": {"type": "string", "minLength": 1, "title": "名称"}}},
    },
}


@pytest.fixture(autouse=True)
def request_context():
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": "sqlite://"})
    with app.test_request_context("/"):
        yield


def test_every_kind_of_field_gets_its_input_and_label_from_title():
    kinds = {f.name: (f.kind, f.label, f.required) for f in forms_render.fields(SCHEMA)}
    assert kinds == {
        "covered": ("boolean", "属于保险责任", True), "category": ("select", "缺陷类别", True),
        "amount": ("number", "金额", True), "visits": ("integer", "次数", False),
        "surveyor": ("text", "查勘员", False), "opinion": ("textarea", "意见", False),
        "surveyed_on": ("date", "查勘日期", True), "permit_on": ("date", "许可日期", True),
        "findings": ("lines", "发现", False), "party": ("group", "单位", True)}
    party = next(f for f in forms_render.fields(SCHEMA) if f.name == "party")
    assert [(c.name, c.path, c.required) for c in party.children] == [("party.name", "party/name", True)]


def test_posted_inputs_become_typed_data_and_empty_optional_fields_are_left_out():
    form = MultiDict({"covered": "true", "category": "5", "amount": "1234.50", "visits": "", "surveyor": "",
                      "surveyed_on": "2029-07-09", "permit_on": "", "findings": "渗水\n\n开裂 ",
                      "party.name": "龙港建设"})
    data, problems = forms_render.parse(SCHEMA, form)
    assert problems == {}
    assert data == {"covered": True, "category": 5, "amount": 1234.5, "surveyed_on": "2029-07-09",
                    "permit_on": None, "findings": ["渗水", "开裂"], "party": {"name": "龙港建设"}}
    assert forms_render.validate(SCHEMA, data) == {}


def test_errors_land_on_their_fields_in_chinese_and_the_typed_input_is_kept():
    form = MultiDict({"covered": "", "category": "5", "amount": "一千", "surveyed_on": "2029-13-40",
                      "surveyor": "x" * 11, "party.name": ""})
    data, _problems = forms_render.parse(SCHEMA, form)
    errors = forms_render.validate(SCHEMA, data)
    assert errors == {"covered": "此项为必填项。", "amount": "请输入数字。",
                      "surveyed_on": "请按 YYYY-MM-DD 格式输入日期。",
                      "surveyor": "最多 10 个字（当前 11 个）。",
                      "party/name": "此项为必填项。"}
    fields = forms_render.fields(SCHEMA, raw=form)
    assert forms_render.assign_errors(fields, {**errors, "(form)": "整体错误"}) == ["整体错误"]
    by_name = {f.name: f for f in fields}
    assert by_name["amount"].value == "一千" and by_name["amount"].error == "请输入数字。"
    assert by_name["party"].children[0].error == "此项为必填项。"


def test_error_deeper_than_any_input_goes_to_the_enclosing_field():
    fields = forms_render.fields(SCHEMA)
    forms_render.assign_errors(fields, {"findings/2": "too long"})
    assert next(f for f in fields if f.name == "findings").error == "too long"


def test_every_deployed_idi_form_renders_and_an_empty_post_names_its_required_fields():
    """Works for any diagram: each form in workflows/forms renders, parses and validates."""
    for path in sorted((Path(__file__).parent.parent / "workflows" / "forms").glob("*.schema.json")):
        schema = json.loads(path.read_text())
        fields = forms_render.fields(schema)
        assert fields, path.name
        data, _problems = forms_render.parse(schema, MultiDict())
        errors = forms_render.validate(schema, data)
        assert set(errors) >= {k for k in schema.get("required", ()) if k not in data}, path.name
