"""The operations cockpit: instances with filters, one instance's diagram and history, incidents,
suspend/resume/cancel, migration between versions and a heatmap of where tokens wait."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import audit, clock, db, definitions, incidents, inspection, instances, migration, suspension, timers
from engine.errors import EngineError
from engine.models import Incident, ProcessDefinition, ProcessInstance

from . import console_access as access
from .console_access import translate as _
from .db import begin_write, get_session

bp = Blueprint("cockpit", __name__, url_prefix="/cockpit")
access.init_blueprint(bp)
STATUSES = ("running", "suspended", "completed", "cancelled")


def _unit(work, done: str):
    """Run one write as a unit of work; flash the outcome (engine errors are shown, not raised)."""
    session = get_session()
    begin_write(session)
    try:
        result = work(session)
        db.commit(session)
        flash(done, "info")
        return result
    except EngineError as err:
        db.rollback(session)
        flash(err.message, "error")
        return None


def _filters() -> dict:
    args = request.args
    version = args.get("version", "").strip()
    incident = args.get("incident", "")
    return {"process_id": args.get("process", "").strip() or None, "status": args.get("status") or None,
            "business_key": args.get("key", "").strip() or None,
            "version": int(version) if version.isdigit() else None,
            "has_incident": True if incident == "yes" else False if incident == "no" else None}


@bp.get("/")
@access.requires(*access.WATCHER_ROLES)
def instance_list():
    """Instances filtered by process, version, status, business key and open incident."""
    session, f = get_session(), _filters()
    query = select(ProcessInstance, ProcessDefinition.version).join(
        ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
    if f["process_id"]:
        query = query.where(ProcessInstance.process_id == f["process_id"])
    if f["version"] is not None:
        query = query.where(ProcessDefinition.version == f["version"])
    if f["status"]:
        query = query.where(ProcessInstance.status == f["status"])
    if f["business_key"]:
        query = query.where(ProcessInstance.business_key.startswith(f["business_key"], autoescape=True))
    if f["has_incident"] is not None:
        query = query.where(ProcessInstance.has_incident.is_(f["has_incident"]))
    rows = session.execute(query.order_by(ProcessInstance.id.desc()).limit(200)).all()
    processes = [d.process_id for d in definitions.list_latest(session)]
    return render_template("cockpit/instances.html", rows=rows, filters=f, processes=processes,
                           statuses=STATUSES, to_local=clock.to_local)


def _instance_or_404(instance_id: int) -> ProcessInstance:
    row = get_session().get(ProcessInstance, instance_id)
    if row is None:
        abort(404)
    return row


def diagrams_of(session, row: ProcessInstance) -> list[dict]:
    """Each diagram of the instance page: XML plus the elements to highlight (parent first)."""
    definition = session.get(ProcessDefinition, row.definition_id)
    out = []
    for tokens in inspection.instance_tokens(session, row):
        xml = inspection.diagram_source(session, tokens.process_id, definition)
        out.append({**tokens.to_dict(), "xml": xml,
                    "flows": inspection.taken_flows(xml, tokens) if xml else []})
    return out


@bp.get("/instances/<int:instance_id>")
@access.requires(*access.WATCHER_ROLES)
def instance_page(instance_id: int):
    """One instance: diagram with its path and tokens, timers, incidents, history and variables."""
    session = get_session()
    row = _instance_or_404(instance_id)
    definition = session.get(ProcessDefinition, row.definition_id)
    return render_template(
        "cockpit/instance.html", row=row, definition=definition, to_local=clock.to_local,
        timers=timers.list_timers(session, status=None, instance_id=row.id),
        incidents=incidents.list_incidents(session, status=None, instance_id=row.id),
        history=audit.history(session, row.id), variables=instances.variables(session, row.id),
        versions=definitions.versions(session, row.process_id))


@bp.get("/instances/<int:instance_id>/diagram.json")
@access.requires(*access.WATCHER_ROLES)
def instance_diagram(instance_id: int):
    """The diagrams and highlights the instance page draws."""
    row = _instance_or_404(instance_id)
    return jsonify({"instance_id": row.id, "status": row.status, "diagrams": diagrams_of(get_session(), row)})


@bp.post("/instances/<int:instance_id>/<any(suspend, resume, cancel):action>")
@access.requires(*access.OWNER_ROLES)
def instance_action(instance_id: int, action: str):
    """Suspend, resume or cancel an instance."""
    reason = request.form.get("reason", "")
    work = {"suspend": lambda s: suspension.suspend_instance(s, instance_id, access.actor(), reason),
            "resume": lambda s: suspension.resume_instance(s, instance_id, access.actor()),
            "cancel": lambda s: instances.cancel_instance(s, instance_id, access.actor(), reason)}[action]
    _unit(work, {"suspend": _("Instance suspended."), "resume": _("Instance resumed."),
                 "cancel": _("Instance cancelled.")}[action])
    return redirect(url_for(".instance_page", instance_id=instance_id))


@bp.get("/incidents")
@access.requires(*access.WATCHER_ROLES)
def incident_list():
    """Open incidents with their traceback."""
    session = get_session()
    status = request.args.get("status", "open") or None
    return render_template("cockpit/incidents.html",
                           incidents=incidents.list_incidents(session, status=status),
                           status=status, to_local=clock.to_local)


@bp.post("/incidents/<int:incident_id>/retry")
@access.requires(*access.OWNER_ROLES)
def incident_retry(incident_id: int):
    """Run an incident's failed task again."""
    found = get_session().get(Incident, incident_id)
    result = _unit(lambda s: incidents.retry_incident(s, incident_id, access.actor()), _("Retried."))
    if result is not None and result.status == "open":
        flash(_("The retry failed again: %(message)s", message=result.message), "error")
    target = request.form.get("back") or (url_for(".instance_page", instance_id=found.instance_id)
                                          if found else url_for(".incident_list"))
    return redirect(target if target.startswith("/") else url_for(".incident_list"))


@bp.get("/heatmap/<process_id>")
@access.requires(*access.WATCHER_ROLES)
def heatmap(process_id: str):
    """Where tokens of one process wait, coloured by how long, on its latest diagram."""
    session = get_session()
    latest = definitions.resolve(session, process_id)
    cells = inspection.heatmap(session, process_id)
    if request.args.get("format") == "json" or access.wants_json():
        return jsonify({"process_id": process_id, "cells": cells})
    return render_template("cockpit/heatmap.html", process_id=process_id, definition=latest, cells=cells,
                           xml=inspection.diagram_source(session, process_id, latest))


@bp.get("/migrate/<process_id>")
@access.requires(*access.OWNER_ROLES)
def migration_plan(process_id: str):
    """Dry run: can each instance of one version move to another, where do tokens land, timers kept?"""
    session = get_session()
    versions = definitions.versions(session, process_id)
    if not versions:
        abort(404)
    to_version = request.args.get("to", type=int) or versions[0].version
    from_version = request.args.get("from", type=int) or (versions[1].version if len(versions) > 1
                                                          else versions[0].version)
    plans = (migration.dry_run(session, process_id, from_version, to_version)
             if from_version != to_version else [])
    return render_template("cockpit/migrate.html", process_id=process_id, versions=versions, plans=plans,
                           from_version=from_version, to_version=to_version)


@bp.post("/migrate/<process_id>")
@access.requires(*access.OWNER_ROLES)
def migration_run(process_id: str):
    """Move the chosen (or every movable) instance of one version to another."""
    from_version, to_version = request.form.get("from", type=int), request.form.get("to", type=int)
    chosen = [int(i) for i in request.form.getlist("instance") if i.isdigit()] or None
    report = _unit(lambda s: migration.migrate_all(s, process_id, from_version, to_version, access.actor(),
                                                   chosen), _("Migration finished."))
    if report is not None:
        flash(_("%(moved)d instance(s) moved to version %(version)s; %(refused)d refused.",
                moved=len(report.migrated), version=to_version, refused=len(report.refused)), "info")
        for plan in report.refused:
            flash(f"#{plan.instance_id}: " + " ".join(plan.reasons), "error")
    return redirect(url_for(".migration_plan", process_id=process_id,
                            **{"from": from_version, "to": to_version}))
