"""Reading request bodies and query parameters, with 400 answers that say what to send."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from ..errors import ApiError


def json_body() -> dict[str, Any]:
    """The request's JSON object (an empty body counts as {})."""
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "The body must be a JSON object sent with "
                       "`Content-Type: application/json`.")
    return body


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = False,
          default: Any = None) -> Any:
    """One field of a JSON body, checked for type."""
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, "BadRequest", f"The field '{name}' is required.", field=name)
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ApiError(400, "BadRequest", f"The field '{name}' must be of type {names}.", field=name)
    return value


def page() -> tuple[int, int]:
    """`limit` and `offset` query parameters, bounded."""
    limit = int_arg("limit", current_app.config["API_PAGE_LIMIT"])
    limit = max(1, min(limit, current_app.config["API_MAX_PAGE_LIMIT"]))
    return limit, max(0, int_arg("offset", 0))


def int_arg(name: str, default: int) -> int:
    """An integer query parameter."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "BadRequest", f"The query parameter '{name}' must be an integer, not '{raw}'.",
                       field=name) from None


def bool_arg(name: str) -> bool | None:
    """A true/false query parameter, or None when absent."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ApiError(400, "BadRequest", f"The query parameter '{name}' must be true or false, not '{raw}'.",
                   field=name)
