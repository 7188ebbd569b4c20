"""The process owners' studio: edit a diagram in the browser, lint it in place, run it in a sandbox with
a time machine, deploy it as a new version and read what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dateutil.relativedelta import relativedelta
from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for

from engine import changes, clock, definitions, inspection, lint, parsing, roles, services
from engine.errors import DefinitionInvalid, EngineError, ScriptRejected
from engine.models import Deployment
from engine.scripts import RestrictedEnvironment

from . import console_access as access
from . import drafts, sandbox
from .db import begin_write, get_session
from .errors import json_error

bp = Blueprint("studio", __name__, url_prefix="/studio")
access.init_blueprint(bp)
STATIC_DIR = Path(__file__).parent / "static"


@bp.errorhandler(EngineError)
def _engine_error(err: EngineError):
    return json_error(err.http_status, err.to_dict())


def _write():
    session = get_session()
    begin_write(session)
    return session


def _sandbox_root() -> Path:
    root = current_app.config.get("IDIFLOW_SANDBOX_DIR")
    return Path(root) if root else sandbox.sandbox_root(Path(current_app.root_path).parent)


# ---- pages -------------------------------------------------------------------------------------------


@bp.get("/")
@access.requires(*access.OWNER_ROLES)
def index():
    """Deployed processes (latest versions) and open drafts."""
    session = get_session()
    latest = definitions.list_latest(session)
    return render_template("studio/index.html", latest=latest, drafts=drafts.list_drafts(session),
                           with_decisions=drafts.with_decisions(session, latest), to_local=clock.to_local)


@bp.post("/drafts")
@access.requires(*access.OWNER_ROLES)
def create_draft():
    """Start a draft from a deployed version and open it in the modeler."""
    session = _write()
    draft = drafts.start_draft(session, request.form.get("definition_id", type=int) or 0, access.actor())
    session.commit()
    if request.form.get("open") == "decisions" and draft.dmn_files:
        return redirect(url_for(".decisions", draft_id=draft.id, name=sorted(draft.dmn_files)[0]))
    return redirect(url_for(".modeler", draft_id=draft.id))


@bp.get("/drafts/<int:draft_id>")
@access.requires(*access.OWNER_ROLES)
def modeler(draft_id: int):
    """The modeler page of one draft."""
    draft = drafts.get_draft(get_session(), draft_id)
    return render_template("studio/modeler.html", draft=draft)


@bp.get("/drafts/<int:draft_id>/decisions/<path:name>")
@access.requires(*access.OWNER_ROLES)
def decisions(draft_id: int, name: str):
    """The decision-table editor (dmn-js) for one DMN file of a draft."""
    draft = drafts.get_draft(get_session(), draft_id)
    drafts.decision(draft, name)
    return render_template("studio/decisions.html", draft=draft, name=name, names=sorted(draft.dmn_files))


@bp.get("/processes/<process_id>/versions")
@access.requires(*access.OWNER_ROLES)
def versions(process_id: str):
    """Every version with who deployed it when, and what changed from the one before."""
    session = get_session()
    rows = list(reversed(definitions.versions(session, process_id)))
    if not rows:
        abort(404)
    entries, previous = [], None
    for row in rows:
        xml = definitions.source(session, row)
        entries.append({"row": row, "changes": changes.summarize(previous, xml).lines()})
        previous = xml
    return render_template("studio/versions.html", process_id=process_id, entries=list(reversed(entries)),
                           to_local=clock.to_local)


# ---- JSON for the modeler ----------------------------------------------------------------------------


@bp.get("/api/drafts/<int:draft_id>")
@access.requires(*access.OWNER_ROLES)
def draft_json(draft_id: int):
    """A draft's XML and its last lint result."""
    draft = drafts.get_draft(get_session(), draft_id)
    return jsonify({"id": draft.id, "process_id": draft.process_id, "xml": draft.bpmn_xml,
                    "problems": draft.problems, "checked": draft.checked,
                    "decisions": sorted(draft.dmn_files or {}),
                    "deployed_definition_id": draft.deployed_definition_id})


@bp.put("/api/drafts/<int:draft_id>")
@access.requires(*access.OWNER_ROLES)
def save_draft(draft_id: int):
    """Save the modeler's XML and lint it; problems name the element they belong to."""
    body = request.get_json(silent=True) or {}
    xml = body.get("xml")
    if not isinstance(xml, str) or not xml.strip():
        return json_error(400, {"error": "BadRequest", "detail": "Send {\"xml\": \"<bpmn:definitions …>\"}."})
    session = _write()
    draft = drafts.get_draft(session, draft_id)
    problems = drafts.save(session, draft, xml, access.actor())
    session.commit()
    return jsonify({"id": draft.id, "problems": problems})


@bp.get("/api/drafts/<int:draft_id>/decisions/<path:name>")
@access.requires(*access.OWNER_ROLES)
def decision_json(draft_id: int, name: str):
    """One decision table of a draft (DMN XML) and the draft's last lint result."""
    draft = drafts.get_draft(get_session(), draft_id)
    return jsonify({"name": name, "xml": drafts.decision(draft, name), "problems": draft.problems,
                    "checked": draft.checked})


@bp.put("/api/drafts/<int:draft_id>/decisions/<path:name>")
@access.requires(*access.OWNER_ROLES)
def save_decision(draft_id: int, name: str):
    """Save a decision table edited in dmn-js and lint the whole draft (diagram and tables together)."""
    body = request.get_json(silent=True) or {}
    xml = body.get("xml")
    if not isinstance(xml, str) or not xml.strip():
        return json_error(400, {"error": "BadRequest", "detail": "Send {\"xml\": \"<definitions …>\"}."})
    session = _write()
    draft = drafts.get_draft(session, draft_id)
    problems = drafts.save_decision(session, draft, name, xml, access.actor())
    session.commit()
    return jsonify({"id": draft.id, "name": name, "problems": problems})


@bp.post("/api/drafts/<int:draft_id>/deploy")
@access.requires(*access.OWNER_ROLES)
def deploy_draft(draft_id: int):
    """Deploy a draft as a new version; answers the version and a summary of what changed."""
    session = _write()
    draft = drafts.get_draft(session, draft_id)
    previous = definitions.versions(session, draft.process_id)
    previous_xml = definitions.source(session, previous[0]) if previous else None
    try:
        note = (request.get_json(silent=True) or {}).get("note", "")
        result = drafts.deploy(session, draft, access.actor(), note)
    except DefinitionInvalid as err:
        session.rollback()
        return json_error(422, err.to_dict())
    lines = changes.summarize(previous_xml, draft.bpmn_xml).lines()
    before = session.get(Deployment, previous[0].deployment_id).files if previous else {}
    lines += [f"Changed decision table {name}." for name, xml in sorted((draft.dmn_files or {}).items())
              if before.get(name) != xml]
    session.commit()
    return jsonify({"process_id": result.process_id, "version": result.version, "created": result.created,
                    "definition_id": result.definition_id, "changes": lines,
                    "versions_url": url_for(".versions", process_id=result.process_id)})


@bp.get("/api/operators")
@access.requires(*access.OWNER_ROLES)
def operators():
    """Registered service-task handlers with their parameters."""
    return jsonify([{"id": info.operator, "description": info.description, "params": list(info.params)}
                    for info in sorted(services.registered().values(), key=lambda i: i.operator)])


@bp.get("/api/forms")
@access.requires(*access.OWNER_ROLES)
def forms():
    """Form schema file names a user task may use (for one draft, or in general)."""
    session = get_session()
    draft_id = request.args.get("draft", type=int)
    draft = drafts.get_draft(session, draft_id) if draft_id else None
    return jsonify(sorted(drafts.known_forms(session, draft)))


@bp.get("/api/roles")
@access.requires(*access.OWNER_ROLES)
def role_list():
    """Roles a lane may be named after."""
    return jsonify([{"id": key, "label": label} for key, label in sorted(roles.known_roles().items())])


@bp.post("/api/timer-preview")
@access.requires(*access.OWNER_ROLES)
def timer_preview():
    """Evaluate a timer expression with the restricted engine against sample data and a sample date."""
    body = request.get_json(silent=True) or {}
    kind, expression = body.get("kind", "timeDuration"), str(body.get("expression", "")).strip()
    try:
        sample = clock.parse_when(str(body.get("sample_date") or clock.local_today().isoformat()))
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError("Sample data must be a JSON object.")
        return jsonify(preview_timer(kind, expression, sample, data))
    except (ValueError, TypeError, NameError, KeyError, ScriptRejected) as err:
        message = err.message if isinstance(err, ScriptRejected) else f"{type(err).__name__}: {err}"
        return json_error(422, {"error": "TimerInvalid", "detail": message})


def preview_timer(kind: str, expression: str, sample: dt.datetime, data: dict) -> dict:
    """The dates a timer expression gives when reached at `sample` with `data` (Asia/Shanghai)."""
    if kind not in ("timeDate", "timeDuration", "timeCycle"):
        raise ValueError(f"Unknown timer kind '{kind}'; use timeDate, timeDuration or timeCycle.")
    value = RestrictedEnvironment().evaluate(expression, dict(data))
    if not isinstance(value, str):
        raise TypeError(f"The expression gives {value!r}, not a string; quote ISO values (\"P2Y\").")
    if kind == "timeDate":
        dates = [clock.parse_when(value)]
    elif kind == "timeDuration":
        dates = [sample + clock.parse_delta(value)]
    else:
        first = clock.parse_cycle(value, sample)
        start = dt.datetime.fromisoformat(first["next"])
        count = first["cycles"] if first["cycles"] >= 0 else 5
        step = relativedelta(**_iso_period(first["period"]))
        dates = [start + step * i for i in range(min(count, 5))]
    return {"value": value, "dates": [clock.to_local(d).isoformat() for d in dates],
            "sample_date": clock.to_local(sample).isoformat()}


def _iso_period(period: str) -> dict:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    return TimerEventDefinition.parse_iso_duration(period)


# ---- sandbox -----------------------------------------------------------------------------------------


def _called_sources(session, xml: str, seen: set[str]) -> dict[str, str]:
    """The deployed BPMN of every process the diagram calls (transitively), for the sandbox bundle."""
    files: dict[str, str] = {}
    tree = parsing.parse_xml(xml.encode("utf-8"), "draft")
    own = {p.get("id") for p in tree.getroot().iterfind(".//bpmn:process", lint.NS)}
    for call in tree.getroot().iterfind(".//bpmn:callActivity", lint.NS):
        target = call.get("calledElement")
        if not target or target in seen or target in own:
            continue
        seen.add(target)
        source = inspection.diagram_source(session, target)
        if source:
            files[f"called/{target}.bpmn"] = source
            files.update(_called_sources(session, source, seen))
    return files


@bp.post("/api/drafts/<int:draft_id>/sandbox")
@access.requires(*access.OWNER_ROLES)
def sandbox_start(draft_id: int):
    """Deploy the draft into its sandbox and start an instance with the sample data."""
    session = get_session()
    draft = drafts.get_draft(session, draft_id)
    body = request.get_json(silent=True) or {}
    data = body.get("data") or {}
    if not isinstance(data, dict):
        return json_error(400, {"error": "BadRequest", "detail": "Sample data must be a JSON object."})
    files = drafts.bundle(session, draft)
    files.update(_called_sources(session, draft.bpmn_xml, set()))
    box = sandbox.for_draft(_sandbox_root(), draft.id)
    if body.get("reset"):
        box.reset()
        box = sandbox.for_draft(_sandbox_root(), draft.id)
    start = clock.parse_when(body["start_at"]) if body.get("start_at") else None
    instance_id = sandbox.run_draft(box, files, draft.process_id, data, access.actor(), start)
    return jsonify(sandbox.describe(box, instance_id, draft.bpmn_xml))


@bp.get("/api/drafts/<int:draft_id>/sandbox/<int:instance_id>")
@access.requires(*access.OWNER_ROLES)
def sandbox_state(draft_id: int, instance_id: int):
    """A sandbox instance: clock, tokens, open tasks, timers, history."""
    draft = drafts.get_draft(get_session(), draft_id)
    box = sandbox.for_draft(_sandbox_root(), draft.id)
    return jsonify(sandbox.describe(box, instance_id, draft.bpmn_xml))


@bp.post("/api/drafts/<int:draft_id>/sandbox/<int:instance_id>/clock")
@access.requires(*access.OWNER_ROLES)
def sandbox_clock(draft_id: int, instance_id: int):
    """Move the sandbox clock: {"advance": "2y"} or {"next": true}; due timers fire in order."""
    draft = drafts.get_draft(get_session(), draft_id)
    body = request.get_json(silent=True) or {}
    box = sandbox.for_draft(_sandbox_root(), draft.id)
    try:
        fired = sandbox.move_clock(box, access.actor(), body.get("advance"), bool(body.get("next")))
    except ValueError as err:
        return json_error(422, {"error": "BadDuration", "detail": str(err)})
    return jsonify({"fired": fired, **sandbox.describe(box, instance_id, draft.bpmn_xml)})


@bp.post("/api/drafts/<int:draft_id>/sandbox/<int:instance_id>/tasks/<task_id>")
@access.requires(*access.OWNER_ROLES)
def sandbox_complete(draft_id: int, instance_id: int, task_id: str):
    """Complete a sandbox user task with the given form data."""
    draft = drafts.get_draft(get_session(), draft_id)
    box = sandbox.for_draft(_sandbox_root(), draft.id)
    sandbox.complete(box, task_id, (request.get_json(silent=True) or {}).get("data") or {}, access.actor())
    return jsonify(sandbox.describe(box, instance_id, draft.bpmn_xml))


# ---- the moddle extension ----------------------------------------------------------------------------


@bp.get("/spiffworkflow-moddle.json")
@access.requires(*access.OWNER_ROLES)
def moddle_descriptor():
    """The moddle descriptor that lets bpmn-js read and write spiffworkflow: elements."""
    return current_app.response_class((STATIC_DIR / "studio" / "spiffworkflow.json").read_text(),
                                      mimetype="application/json")

