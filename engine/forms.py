"""Validate form data against a task's JSON Schema, reporting errors per field."""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema

from .errors import FieldError, FormInvalid


@lru_cache(maxsize=512)
def _validator(schema_json: str):
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(schema: dict | None, data: dict, task_name: str = "") -> None:
    """Raise FormInvalid listing every invalid field; None when the data matches."""
    if not isinstance(data, dict):
        raise FormInvalid([FieldError("(form)", "The form data must be a JSON object.")], task_name)
    if not schema:
        return
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = "/".join(map(str, err.path))
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            path = "/".join(filter(None, [path, missing]))
            errors.append(FieldError(path or "(form)", "This field is required."))
        else:
            errors.append(FieldError(path or "(form)", err.message))
    if errors:
        raise FormInvalid(errors, task_name)
