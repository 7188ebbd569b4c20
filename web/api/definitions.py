"""Deployed process definitions: deploy a bundle, list processes and their versions."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine import definitions

from ..db import commits, get_session
from ..errors import ApiError
from .access import require_role
from .params import field, json_body
from .representations import definition_json

bp = Blueprint("definitions", __name__)

DEPLOYER_ROLES = ("process_owner", "administrator")


def _bundle_from_request() -> tuple[dict[str, str | bytes], str]:
    """The files of a multipart upload (field `files`, repeated) or a JSON body {files: {name: text}}."""
    if request.files:
        files = {f.filename or f.name: f.read() for f in request.files.getlist("files") or
                 request.files.values()}
        return files, request.form.get("note", "")
    body = json_body()
    files = field(body, "files", dict, required=True)
    if not files or not all(isinstance(v, str) for v in files.values()):
        raise ApiError(400, "BadRequest", "'files' must map file names to their text content, e.g. "
                       '{"files": {"claim.bpmn": "<?xml ...>"}}.', field="files")
    return files, field(body, "note", str, default="")


@bp.post("/definitions")
@commits
def deploy():
    """POST /definitions: parse, lint and store a bundle; 422 with `problems` when it is refused."""
    user = require_role(*DEPLOYER_ROLES)
    files, note = _bundle_from_request()
    deployed = definitions.deploy(get_session(), files, user.username, note)
    items = [{"process_id": d.process_id, "version": d.version, "definition_id": d.definition_id,
              "created": d.created} for d in deployed]
    return jsonify({"deployed": items}), 201


@bp.get("/definitions")
def list_definitions():
    """GET /definitions: the newest version of every deployed process."""
    return jsonify({"items": [definition_json(r) for r in definitions.list_latest(get_session())]})


@bp.get("/definitions/<process_id>/versions")
def list_versions(process_id: str):
    """GET /definitions/<process_id>/versions: every version of one process, newest first."""
    rows = definitions.versions(get_session(), process_id)
    if not rows:
        definitions.resolve(get_session(), process_id)  # raises DefinitionNotFound (404)
    return jsonify({"process_id": process_id, "items": [definition_json(r) for r in rows]})
