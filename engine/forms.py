"""Validate form data against a task's JSON Schema, reporting errors per field."""

from __future__ import annotations

import json
import threading
from functools import lru_cache

import jsonschema

from .errors import FieldError, FormInvalid


@lru_cache(maxsize=512)
def _validator(schema_json: str):
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


#: Validators by schema object: the schemas of a deployed version are cached objects (definitions.load),
#: so identity finds them without serializing the schema on every submission. The entry holds the schema
#: itself, so its id cannot be reused by another object while the entry lives.
_BY_IDENTITY: dict[int, tuple[dict, object]] = {}
_BY_IDENTITY_LOCK = threading.Lock()
_BY_IDENTITY_SIZE = 512


def _validator_for(schema: dict):
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
    validator = _validator_for(schema)
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
