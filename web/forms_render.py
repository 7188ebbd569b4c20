"""Task forms from JSON Schema: the fields to render, the posted values turned back into data, and errors
in the reader's language next to the field they belong to (the input is kept)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from flask_babel import gettext as _

#: string fields with these names are free text, shown as a text area
TEXTAREA_NAMES = frozenset({"comment", "comments", "description", "note", "notes", "reason", "remarks",
                            "opinion", "summary"})
TEXTAREA_MIN_LENGTH = 100
FORM_LEVEL = "(form)"


@dataclass
class Field:
    """One input (or a group of inputs) of a task form."""

    name: str  # the HTML name: the JSON path joined by dots
    path: str  # the JSON path joined by slashes, as validation errors name it
    label: str
    kind: str  # text textarea integer number boolean select checks date lines json group
    required: bool = False
    nullable: bool = False
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    help: str = ""
    error: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    def selected(self, option: str) -> bool:
        """True when `option` is chosen (selects, radios and check lists)."""
        return option in self.value if isinstance(self.value, list) else option == self.value


def _effective(node: dict) -> tuple[dict, bool]:
    """The schema of a value and whether null is allowed (anyOf/oneOf [X, null], type [X, "null"])."""
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if options and all("const" not in o for o in options):
            others = [o for o in options if o.get("type") != "null"]
            if len(others) == 1:
                merged = {**{k: v for k, v in node.items() if k != key}, **others[0]}
                return merged, len(others) < len(options)
    kind = node.get("type")
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        if len(others) == 1:
            return {**node, "type": others[0]}, "null" in kind
    return node, False


def _options(node: dict) -> list[tuple[str, str]]:
    if "enum" in node:
        names = node.get("x-enumNames") or node.get("enumNames") or []
        return [(_as_text(v), str(names[i]) if i < len(names) else _as_text(v))
                for i, v in enumerate(node["enum"]) if v is not None]
    return [(_as_text(o["const"]), str(o.get("title", o["const"])))
            for o in node.get("oneOf", []) if "const" in o]


def _kind(key: str, node: dict) -> str:
    if "enum" in node or (node.get("oneOf") and all("const" in o for o in node["oneOf"])):
        return "select"
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        return "group"
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        items, _null = _effective(node.get("items") or {})
        if _kind("", items) == "select":
            return "checks"
        return "lines" if items.get("type") == "string" and not items.get("format") else "json"
    if kind == "string":
        if node.get("format") == "date":
            return "date"
        if node.get("x-widget") == "textarea" or node.get("format") == "textarea" \
                or node.get("maxLength", 0) > TEXTAREA_MIN_LENGTH or key in TEXTAREA_NAMES:
            return "textarea"
        return "text"
    return "json"


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display(kind: str, value: Any) -> Any:
    """How a stored value shows in its input."""
    if value is None:
        return [] if kind == "checks" else ""
    if kind == "lines" and isinstance(value, list):
        return "\n".join(map(str, value))
    if kind == "checks" and isinstance(value, list):
        return [_as_text(v) for v in value]
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    return _as_text(value)


def _attrs(node: dict) -> dict[str, Any]:
    found = {}
    for key, attr in (("minimum", "min"), ("maximum", "max"), ("maxLength", "maxlength")):
        if key in node:
            found[attr] = node[key]
    if node.get("type") == "number":
        found["step"] = "any"
    if node.get("examples"):
        found["placeholder"] = " / ".join(map(str, node["examples"][:3]))
    return found


def fields(schema: dict | None, values: Mapping | None = None, raw: Mapping | None = None,
           errors: Mapping[str, str] | None = None, prefix: tuple[str, ...] = ()) -> list[Field]:
    """The fields of a form: labels from "title", values from `raw` (a re-post) or else `values` (data)."""
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", ()))
    found = []
    for key, original in (schema.get("properties") or {}).items():
        node, nullable = _effective(original)
        kind = _kind(key, node)
        keys = (*prefix, key)
        item = Field(name=".".join(keys), path="/".join(keys), label=str(node.get("title") or key), kind=kind,
                     required=key in required, nullable=nullable, help=str(node.get("description", "")),
                     options=_options(node.get("items", {}) if kind == "checks" else node),
                     attrs=_attrs(node))
        item.error = errors.get(item.path, "")
        current = values.get(key) if isinstance(values, Mapping) else None
        if kind == "group":
            item.children = fields(node, current if isinstance(current, Mapping) else {}, raw, errors, keys)
        elif raw is not None:
            item.value = raw.getlist(item.name) if kind == "checks" else raw.get(item.name, "")
        else:
            item.value = _display(kind, current)
        found.append(item)
    return found


def _number(text: str, kind: str) -> Any:
    try:
        number = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return text  # the schema's type check reports it, and the input keeps what was typed
    if kind == "integer":
        return int(number) if number == number.to_integral_value() else text
    return int(number) if number == number.to_integral_value() and "." not in text else float(number)


def parse(schema: dict | None, form: Mapping) -> tuple[dict, dict[str, str]]:
    """The posted form as JSON data for the schema, and errors for inputs that could not be read."""
    data: dict = {}
    problems: dict[str, str] = {}
    for item in fields(schema, raw=form):
        _parse_field(item, schema, form, data, problems)
    return data, problems


def _parse_field(item: Field, schema: dict | None, form: Mapping, out: dict,
                 problems: dict[str, str]) -> None:
    key = item.path.rsplit("/", 1)[-1]
    if item.kind == "group":
        node, _null = _effective((schema or {}).get("properties", {}).get(key, {}))
        child: dict = {}
        for sub in item.children:
            _parse_field(sub, node, form, child, problems)
        if child or item.required:
            out[key] = child
        return
    text = item.value if isinstance(item.value, list) else str(item.value or "")
    if item.kind == "checks":
        lookup = {o: v for o, v in zip([_as_text(v) for v in _enum_of(schema, key, items=True)],
                                       _enum_of(schema, key, items=True), strict=True)}
        chosen = [lookup.get(v, v) for v in text]
        if chosen or item.required:
            out[key] = chosen
        return
    if not text.strip():
        if item.nullable and item.required:
            out[key] = None
        elif item.kind == "lines" and item.required:
            out[key] = []
        return
    if item.kind in ("integer", "number"):
        out[key] = _number(text, item.kind)
    elif item.kind == "boolean":
        out[key] = {"true": True, "false": False}.get(text, text)
    elif item.kind == "select":
        values = _enum_of(schema, key)
        out[key] = {_as_text(v): v for v in values}.get(text, text)
    elif item.kind == "lines":
        out[key] = [line.strip() for line in text.splitlines() if line.strip()]
    elif item.kind == "json":
        try:
            out[key] = json.loads(text)
        except ValueError:
            problems[item.path] = _("Enter valid JSON, e.g. [] or {}.")
    else:
        out[key] = text


def _enum_of(schema: dict | None, key: str, items: bool = False) -> list:
    node, _null = _effective((schema or {}).get("properties", {}).get(key, {}))
    if items:
        node, _null = _effective(node.get("items", {}))
    if "enum" in node:
        return list(node["enum"])
    return [o["const"] for o in node.get("oneOf", []) if "const" in o]


def _message(err: jsonschema.ValidationError, kind: str) -> str:
    rule, expected = err.validator, err.validator_value
    if rule == "required" or (rule == "minLength" and expected == 1):
        return _("This field is required.")
    if rule == "type" or (rule in ("anyOf", "oneOf") and kind in ("date", "integer", "number", "boolean")):
        return {"integer": _("Enter a whole number."), "number": _("Enter a number."),
                "boolean": _("Choose yes or no."), "date": _("Enter a date as YYYY-MM-DD."),
                }.get(kind, _("This value has the wrong type."))
    if rule == "format" and expected == "date":
        return _("Enter a date as YYYY-MM-DD.")
    if rule == "enum":
        return _("Choose one of the listed options.")
    if rule == "minLength":
        return _("Enter at least %(n)d characters.", n=expected)
    if rule == "maxLength":
        return _("Enter at most %(n)d characters (now %(length)d).", n=expected, length=len(err.instance))
    if rule in ("minimum", "exclusiveMinimum"):
        return _("Enter a value of at least %(n)s.", n=expected)
    if rule in ("maximum", "exclusiveMaximum"):
        return _("Enter a value of at most %(n)s.", n=expected)
    if rule == "pattern":
        return _("This value does not have the expected format.")
    if rule == "minItems":
        return _("Add at least %(n)d item(s).", n=expected)
    if rule == "additionalProperties":
        return _("The form has fields it does not know: %(detail)s", detail=err.message)
    return err.message


def _kinds(items: list[Field]) -> dict[str, str]:
    found = {}
    for item in items:
        found[item.path] = item.kind
        found.update(_kinds(item.children))
    return found


def validate(schema: dict | None, data: dict) -> dict[str, str]:
    """Errors by field path (first one per field), in the reader's language; empty when valid."""
    if not schema:
        return {}
    cls = jsonschema.validators.validator_for(schema)
    kinds = _kinds(fields(schema))
    found: dict[str, str] = {}
    for err in cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(data):
        path = "/".join(map(str, err.path))
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            path = "/".join(filter(None, [path, missing]))
        found.setdefault(path or FORM_LEVEL, _message(err, kinds.get(path, "")))
    return found


def assign_errors(items: list[Field], errors: Mapping[str, str]) -> list[str]:
    """Put each error on its field (or the nearest enclosing one); return those that fit no field."""
    paths = _kinds(items)
    placed: dict[str, str] = {}
    leftovers = []
    for path, message in errors.items():
        target = path
        while target and target not in paths:
            target = target.rpartition("/")[0]
        if target:
            placed.setdefault(target, message)
        else:
            leftovers.append(message)

    def _apply(level: list[Field]) -> None:
        for item in level:
            item.error = placed.get(item.path, item.error)
            _apply(item.children)

    _apply(items)
    return leftovers
