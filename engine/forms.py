"""Validate form data against a task's JSON Schema, reporting errors per field."""

from __future__ import annotations

import json
import re
import threading
from functools import lru_cache

import jsonschema
import jsonschema_rs

from .errors import FieldError, FormInvalid


class _Validators:
    """A schema's two validators: jsonschema (the authority, with the messages per field) and jsonschema-rs
    (compiled, ~50x faster), which only answers "valid?" first. Data it accepts is accepted; anything else
    goes to jsonschema, whose verdict stands.

    The fast path is only taken for schemas where jsonschema-rs is at least as strict: it checks formats
    jsonschema cannot, and its ECMA regexes read \\d, \\w and `.` as ASCII and never match before a final
    newline. Where it is looser the schema is left to jsonschema alone: `multipleOf` (jsonschema divides
    floats: 0.07 is no multiple of 0.01 to it), `format: regex` (the two regex dialects), and any pattern
    beyond plain characters, classes without negation and the escapes \\d \\w and escaped punctuation
    (\\D \\W \\S \\s, [^...], \\p{..}, lookarounds differ between ECMA and Python on Unicode).
    tests/test_engine_forms_fast.py holds both halves: every shipped form takes the fast path, and no
    submission jsonschema refuses is let through.
    """

    __slots__ = ("full", "fast")

    def __init__(self, schema: dict):
        cls = jsonschema.validators.validator_for(schema)
        self.full = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.fast = None
        if _fast_safe(schema):
            try:
                self.fast = jsonschema_rs.validator_for(schema, validate_formats=True)
            except Exception:  # noqa: BLE001 - a schema it cannot compile is checked by jsonschema alone
                self.fast = None

    def accepts_fast(self, data) -> bool:
        """True if jsonschema-rs finds `data` valid (False: ask jsonschema). Only data made of JSON's own
        types gets an answer: the two read Python's other types differently (a tuple is an array to
        jsonschema-rs, not to jsonschema)."""
        if self.fast is None or not _json_shaped(data):
            return False
        try:
            return self.fast.is_valid(data)
        except Exception:  # noqa: BLE001 - a value it cannot read: ask jsonschema
            return False


#: Escapes a fast-path pattern may use: \d and \w (ASCII in ECMA, so stricter there) and escaped punctuation.
_SAFE_ESCAPES = re.compile(r"\\[dw.\-+*?()\[\]{}|^$/\\]")


def _safe_pattern(pattern) -> bool:
    """True if `pattern` means the same or stricter in ECMA as in Python (see _Validators)."""
    if not isinstance(pattern, str):
        return False
    rest = _SAFE_ESCAPES.sub("", pattern)
    return "\\" not in rest and "[^" not in rest and "(?" not in rest


def _fast_safe(schema) -> bool:
    """True if no keyword in `schema` (at any depth) is one where jsonschema-rs may accept more."""
    if isinstance(schema, list):
        return all(_fast_safe(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if "multipleOf" in schema or schema.get("format") == "regex":
        return False
    if "pattern" in schema and not _safe_pattern(schema["pattern"]):
        return False
    if "patternProperties" in schema and not all(_safe_pattern(k) for k in schema["patternProperties"]):
        return False
    return all(_fast_safe(value) for value in schema.values())


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json_shaped(value) -> bool:
    """True if `value` holds nothing but dicts with string keys, lists, strings, numbers, booleans, None."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and (type(v) in _SCALARS or _json_shaped(v)) for k, v in value.items())
    if kind is list:
        return all(type(v) in _SCALARS or _json_shaped(v) for v in value)
    return False


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> _Validators:
    return _Validators(json.loads(schema_json))


#: Validators by schema object: the schemas of a deployed version are cached objects (definitions.load),
#: so identity finds them without serializing the schema on every submission. The entry holds the schema
#: itself, so its id cannot be reused by another object while the entry lives.
_BY_IDENTITY: dict[int, tuple[dict, _Validators]] = {}
_BY_IDENTITY_LOCK = threading.Lock()
_BY_IDENTITY_SIZE = 512


def _validator_for(schema: dict) -> _Validators:
    found = _BY_IDENTITY.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    validator = _validator(json.dumps(schema, sort_keys=True))
    with _BY_IDENTITY_LOCK:
        if len(_BY_IDENTITY) >= _BY_IDENTITY_SIZE:
            _BY_IDENTITY.clear()
        _BY_IDENTITY[id(schema)] = (schema, validator)
    return validator


def validate(schema: dict | None, data: dict, task_name: str = "") -> None:
    """Raise FormInvalid listing every invalid field; None when the data matches."""
    if not isinstance(data, dict):
        raise FormInvalid([FieldError("(form)", "The form data must be a JSON object.")], task_name)
    if not schema:
        return
    validators = _validator_for(schema)
    if validators.accepts_fast(data):
        return
    errors = []
    for err in sorted(validators.full.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = "/".join(map(str, err.path))
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            path = "/".join(filter(None, [path, missing]))
            errors.append(FieldError(path or "(form)", "This field is required."))
        else:
            errors.append(FieldError(path or "(form)", err.message))
    if errors:
        raise FormInvalid(errors, task_name)
