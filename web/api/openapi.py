"""The OpenAPI 3 description of /api/v1, kept as data beside the views (a test checks it covers them)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from .access import public

bp = Blueprint("openapi", __name__)

ERROR = {"$ref": "#/components/schemas/Error"}
STR, INT, BOOL, OBJ = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}, {"type": "object"}
#: path parameters that are integers (the others are strings)
INT_PARAMS = {"instance_id", "incident_id"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad request", 401: "No or bad token", 403: "Wrong role", 404: "Not found",
            409: "Conflict (already done, changed concurrently, database busy)", 422: "Invalid input"}
    return {str(c): {"description": text[c], **_json(ERROR)} for c in codes}


def operation(summary: str, tag: str, ok: int = 200, ok_schema: dict | None = None, body: dict | None = None,
              query: tuple[str, ...] = (), errors: tuple[int, ...] = (), auth: bool = True) -> dict[str, Any]:
    """One operation: summary, parameters, body and responses (401 added when a token is needed)."""
    responses = {str(ok): {"description": "OK", **_json(ok_schema or OBJ)},
                 **_errors(*((401,) if auth else ()), *errors)}
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if query:
        op["parameters"] = [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                            for q in query]
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if not auth:
        op["security"] = []
    return op


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}



#: path (OpenAPI syntax) -> method -> operation. Add an entry here with every new endpoint.
PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/openapi.json": {
        "get": operation("This document", "meta", auth=False),
    },
}


def path_parameters(path: str) -> list[dict[str, Any]]:
    """The `{name}` parameters of a path."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": INT if n in INT_PARAMS else STR}
            for n in names]


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths = {}
    for path, methods in PATHS.items():
        params = path_parameters(path)
        paths[path] = {m: ({**op, "parameters": params + op.get("parameters", [])} if params else op)
                       for m, op in methods.items()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "idiflow API", "version": "1",
                 "description": "Deploy BPMN, start instances, work tasks, send messages, retry incidents. "
                                "Every answer is JSON; errors are {error, detail, ...}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"],
                                  "properties": {"error": STR, "detail": STR}}},
        },
    }


@bp.get("/openapi.json")
@public
def serve_document():
    """GET /openapi.json: the OpenAPI document."""
    return jsonify(document())
