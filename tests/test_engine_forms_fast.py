"""Form validation's fast path (engine/forms.py): jsonschema-rs may only say "valid" where jsonschema agrees.

Every form schema the project ships is run against a few thousand submissions built from it (valid ones and
each field replaced by awkward values: wrong types, impossible dates, Unicode digits, a trailing newline,
huge numbers, missing and unknown fields). Whatever jsonschema-rs accepts, jsonschema must accept too;
otherwise the fast path would let through data the authority refuses.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from engine import forms
from engine.errors import FormInvalid

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = sorted([*ROOT.glob("workflows/**/*.schema.json"), *ROOT.glob("bench/**/*.schema.json")])

AWKWARD = [None, True, False, 0, -1, 1, 1.0, 1.5, 12.345, 1e308, 2**70, "", "x", "是", "12", "12.5", "12.555",
           "１２", "١٢", "12\n", "12.5\n", "2024-02-29", "2024-02-30", "2024-13-01", "2024-1-1", "2024-01-01\n",
           "2024-01-01T00:00:00Z", "a" * 300, "a@b", "not an email", [], [1], ["x"], {}, {"a": 1}]


def _example(schema: dict):
    """A plausible value for a (sub)schema."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object" or "properties" in schema:
        return {name: _example(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema["items"])] if isinstance(schema.get("items"), dict) else []
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if schema.get("format") == "date":
        return "2030-01-15"
    if "pattern" in schema:
        return "12.5"
    return "示例"


def _submissions(schema: dict):
    base = _example(schema)
    yield base
    if not isinstance(base, dict):
        return
    yield {}
    yield {**base, "unknown_field": "x"}
    for name in base:
        without = dict(base)
        del without[name]
        yield without
        for value in AWKWARD:
            changed = copy.deepcopy(base)
            changed[name] = value
            yield changed


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_fast_path_never_accepts_what_jsonschema_refuses(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    validators = forms._validator_for(schema)
    assert validators.fast is not None, f"jsonschema-rs could not compile {path.name}"
    full = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    seen = {"both valid": 0, "both invalid": 0, "only jsonschema valid": 0}
    for data in _submissions(schema):
        fast, authority = validators.accepts_fast(data), full.is_valid(data)
        assert authority or not fast, f"{path.name}: jsonschema-rs accepted what jsonschema refuses: {data!r}"
        seen["both valid" if fast else "only jsonschema valid" if authority else "both invalid"] += 1
    assert seen["both invalid"] > 0, seen  # the generated submissions do reach the refusing side


def test_form_errors_still_come_from_jsonschema_per_field():
    schema = json.loads((ROOT / "bench" / "review.schema.json").read_text())
    forms.validate(schema, {"approved": True, "comment": "ok"})
    with pytest.raises(FormInvalid) as caught:
        forms.validate(schema, {"approved": "yes", "comment": "x" * 201})
    fields = {e.field: e.message for e in caught.value.errors}
    assert set(fields) == {"approved", "comment"} and "boolean" in fields["approved"]


def test_data_not_made_of_json_types_goes_to_jsonschema():
    """jsonschema-rs reads a tuple as an array, jsonschema does not; such data never takes the fast path."""
    from decimal import Decimal

    schema = {"type": "object", "properties": {"items": {"type": "array"}, "amount": {"type": "number"}}}
    validators = forms._validator_for(schema)
    assert validators.fast.is_valid({"items": (1, 2)})  # the difference this guards against
    assert not validators.accepts_fast({"items": (1, 2)})
    assert not validators.accepts_fast({"amount": Decimal("1.5")})
    assert validators.accepts_fast({"items": [1, {"a": None}], "amount": 1.5})
    with pytest.raises(FormInvalid):
        forms.validate(schema, {"items": (1, 2)})


LOOSER_IN_JSONSCHEMA_RS = [  # schema, a value jsonschema-rs would accept and jsonschema refuses
    ({"type": "number", "multipleOf": 0.01}, 0.07),
    ({"type": "number", "multipleOf": 0.1}, 0.3),
    ({"type": "string", "pattern": r"^\S+$"}, "a\x1fb"),
    ({"type": "string", "pattern": r"^\D+$"}, "٣"),
    ({"type": "string", "pattern": r"^[^\d]+$"}, "٣"),
    ({"type": "string", "pattern": r"^\W+$"}, "é"),
    ({"type": "string", "pattern": r"^\s*$"}, "\ufeff"),
    ({"type": "string", "format": "regex"}, "(?<n>x)"),
]


@pytest.mark.parametrize(("field", "value"), LOOSER_IN_JSONSCHEMA_RS, ids=lambda v: repr(v)[:30])
def test_schemas_where_jsonschema_rs_is_looser_never_take_the_fast_path(field, value):
    """multipleOf, format: regex and patterns beyond the safe subset are left to jsonschema alone."""
    import jsonschema_rs

    schema = {"type": "object", "properties": {"x": field}}
    assert jsonschema_rs.validator_for(schema, validate_formats=True).is_valid({"x": value})  # the difference
    assert forms._validator_for(schema).fast is None
    with pytest.raises(FormInvalid):
        forms.validate(schema, {"x": value})
