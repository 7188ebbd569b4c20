"""The task page: case context, timeline, what is scheduled next, the form; comments and files on the case."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, clock, definitions, tasks
from engine.errors import EngineError, FormInvalid, NotAllowed, TaskNotReady
from engine.models import HumanTask, ProcessDefinition, ProcessInstance, Timer
from engine.roles import known_roles

from . import case_summary, forms_render
from .auth import current_user, login_required, refuse
from .case_models import CaseComment, CaseFile
from .db import get_session
from .pages import run_unit
from .permissions import may_reassign, may_view_instance, may_view_task, may_work_on

bp = Blueprint("taskpage", __name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
PENDING_TIMERS = ("waiting", "leased")


def case_key(instance: ProcessInstance) -> str:
    """Comments and files hang on the business key (shared by every process of a case), else the instance."""
    return instance.business_key or f"#{instance.id}"


def clean_filename(name: str) -> str:
    """The last part of an uploaded file's name, without control characters or quotes (CJK kept)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip(" .")
    return cleaned[:200] or "file"


def scheduled(session: Session, instance_id: int) -> list[Timer]:
    """Pending timers of an instance, soonest first."""
    return list(session.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                                    Timer.status.in_(PENDING_TIMERS)).order_by(Timer.due_at)))


def _spec_names(session: Session, instance: ProcessInstance) -> dict[str, object]:
    loaded = definitions.load(session, instance.definition_id)
    found: dict[str, object] = {}
    for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
        found.update(spec.task_specs)
    return found


def schedule(session: Session, instance: ProcessInstance) -> list[dict]:
    """Pending timers in words: when (local), which event, on which task, and what it leads to."""
    specs = _spec_names(session, instance)

    def name(bpmn_id: str | None) -> str:
        spec = specs.get(bpmn_id or "")
        return (getattr(spec, "bpmn_name", None) or bpmn_id or "") if spec is not None else (bpmn_id or "")

    rows = []
    for timer in scheduled(session, instance.id):
        spec = specs.get(timer.task_name)
        # Spiff adds internal specs (a boundary event's join) to the outputs; only diagram elements count.
        after = [name(o.bpmn_id) for o in getattr(spec, "outputs", []) if getattr(o, "bpmn_id", None)]
        local = clock.to_local(timer.due_at)
        rows.append({"timer": timer, "label": name(timer.task_name), "attached_to": name(timer.attached_to)
                     if timer.attached_to else "", "then": [a for a in after if a], "due_local": local,
                     "days": (local.date() - clock.local_today()).days})
    return rows


def case_context(session: Session, instance: ProcessInstance, task_id: str | None = None) -> dict:
    """Everything the page shows about a case besides the form."""
    key = case_key(instance)
    definition = session.get(ProcessDefinition, instance.definition_id)
    return {
        "instance": instance, "definition": definition, "summary": case_summary.summary(session, instance),
        "variables": case_summary.flatten(case_summary.variables(session, instance, task_id)),
        "timeline": audit.history(session, instance.id), "timers": schedule(session, instance),
        "comments": list(session.scalars(select(CaseComment).where(CaseComment.case_key == key)
                                         .order_by(CaseComment.id))),
        "files": session.execute(select(CaseFile.id, CaseFile.filename, CaseFile.size, CaseFile.uploaded_by,
                                        CaseFile.uploaded_at).where(CaseFile.case_key == key)
                                 .order_by(CaseFile.id)).all(),
        "open_tasks": list(session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                                   HumanTask.status == "open"))),
    }


def _render(task: HumanTask, status: int = 200, raw=None, errors=None, form_errors=None, conflict=None):
    session, user = get_session(), current_user()
    instance = session.get(ProcessInstance, task.instance_id)
    schema = tasks.form_schema(session, task) if task.status == "open" else None
    context = case_context(session, instance, task.id if task.status == "open" else None)
    values = dict(case_summary.variables(session, instance, task.id)) if schema and raw is None else None
    fields = forms_render.fields(schema, values=values, raw=raw)
    leftovers = forms_render.assign_errors(fields, errors or {})
    return render_template(
        "task/task.html", task=task, schema=schema, fields=fields,
        form_errors=(form_errors or []) + leftovers, has_errors=bool(errors),
        conflict=conflict, may_work=task.status == "open" and may_work_on(session, user, task)
        and task.assignee in (None, user.username), may_reassign=may_reassign(user, task), now=clock.now(),
        roles=known_roles(),
        **context), status


def _task_for(task_id: str) -> HumanTask:
    session = get_session()
    try:
        task = tasks.get_task(session, task_id)
    except EngineError:
        abort(404)
    if not may_view_task(session, current_user(), task):
        abort(403)
    return task


@bp.get("/tasks/<task_id>")
@login_required
def show(task_id: str):
    """The task page."""
    return _render(_task_for(task_id))


@bp.post("/tasks/<task_id>")
@login_required
def complete(task_id: str):
    """Complete the task with the posted form; errors next to their fields, the input kept."""
    task, user, session = _task_for(task_id), current_user(), get_session()
    if task.status != "open":
        return _render(task, 409, conflict=_conflict(task))
    if not may_work_on(session, user, task):
        return refuse((task.lane or "",))
    schema = tasks.form_schema(session, task)
    data, errors = forms_render.parse(schema, request.form)
    errors = {**forms_render.validate(schema, data), **errors}
    if errors:
        return _render(task, 422, raw=request.form, errors=errors)
    title = task.title
    _row, err = run_unit(lambda s: tasks.complete_task(s, task_id, data, user.username))
    if isinstance(err, FormInvalid):  # the engine's own check disagreed with ours: show its words
        return _render(task, 422, raw=request.form, errors={e.field: e.message for e in err.errors})
    if isinstance(err, TaskNotReady):
        session.expire_all()
        task = tasks.get_task(session, task_id)
        return _render(task, 409, raw=request.form, conflict=_conflict(task, err))
    if isinstance(err, NotAllowed):
        return _render(task, 403, raw=request.form, form_errors=[err.message])
    if err is not None:
        return _render(task, 409, raw=request.form, form_errors=[err.message])
    flash(_("Done: %(title)s.", title=title), "info")
    return redirect(url_for("inbox.inbox"))


def _conflict(task: HumanTask, err: EngineError | None = None) -> str:
    if task.status == "completed" and task.completed_by:
        return _("Someone was faster: %(who)s already completed this task on %(when)s. Nothing you entered "
                 "was saved; the case has moved on.", who=task.completed_by,
                 when=current_app.jinja_env.filters["local_datetime"](task.completed_at))
    if task.status != "open":
        return _("This task is no longer waiting for input (it is %(status)s). Nothing you entered was "
                 "saved.", status=task.status)
    return err.message if err else ""


def _instance_for(instance_id: int) -> ProcessInstance:
    session = get_session()
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        abort(404)
    if not may_view_instance(session, current_user(), instance.id, instance.business_key):
        abort(403)
    return instance


def _back(instance: ProcessInstance):
    target = request.form.get("task_id")
    return redirect(url_for("taskpage.show", task_id=target) if target else url_for("taskpage.case",
                                                                                     instance_id=instance.id))


@bp.get("/cases/<int:instance_id>")
@login_required
def case(instance_id: int):
    """A case without a particular task: context, timeline and schedule."""
    instance = _instance_for(instance_id)
    return render_template("task/case.html", now=clock.now(), **case_context(get_session(), instance))


@bp.post("/cases/<int:instance_id>/comments")
@login_required
def comment(instance_id: int):
    """Add a comment to the case."""
    instance, user = _instance_for(instance_id), current_user()
    body = request.form.get("body", "").strip()
    if not body:
        flash(_("Write something before sending the comment."), "error")
        return _back(instance)
    if len(body) > 4000:
        flash(_("Keep a comment under 4000 characters."), "error")
        return _back(instance)
    run_unit(lambda s: s.add(CaseComment(case_key=case_key(instance), instance_id=instance.id,
                                         author=user.username, body=body, created_at=clock.now())))
    return _back(instance)


@bp.post("/cases/<int:instance_id>/files")
@login_required
def upload(instance_id: int):
    """Attach files to the case (10 MB each)."""
    instance, user = _instance_for(instance_id), current_user()
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash(_("Choose a file to attach."), "error")
        return _back(instance)
    stored = []
    for upload_ in files:
        content = upload_.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            flash(_("%(name)s is larger than 10 MB; nothing was attached.", name=upload_.filename), "error")
            return _back(instance)
        stored.append(CaseFile(case_key=case_key(instance), instance_id=instance.id,
                               filename=clean_filename(upload_.filename),
                               content_type=upload_.mimetype or "application/octet-stream", size=len(content),
                               content=content, uploaded_by=user.username, uploaded_at=clock.now()))
    run_unit(lambda s: s.add_all(stored))
    flash(_("%(n)d file(s) attached.", n=len(stored)), "info")
    return _back(instance)


@bp.get("/files/<int:file_id>")
@login_required
def download(file_id: int):
    """A case file, as a download (never rendered inline, so an uploaded page cannot run here)."""
    from . import defects
    from .permissions import may_view_claim

    session, user = get_session(), current_user()
    row = session.get(CaseFile, file_id)
    if row is None:
        abort(404)
    report = defects.find(session, row.case_key)
    instance = session.get(ProcessInstance, row.instance_id) if row.instance_id else None
    allowed = (report is not None and may_view_claim(session, user, report)) or \
        (instance is not None and may_view_instance(session, user, instance.id, instance.business_key))
    if not allowed:
        abort(403)
    inline = row.content_type in ("image/jpeg", "image/png", "image/gif", "image/webp")
    response = current_app.response_class(row.content, mimetype=row.content_type if inline
                                          else "application/octet-stream")
    # RFC 6266: an ASCII fallback name plus the real (often Chinese) name percent-encoded as UTF-8
    fallback = row.filename.encode("ascii", "ignore").decode() or "file"
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = (f'{disposition}; filename="{fallback}"; '
                                               f"filename*=UTF-8''{quote(row.filename)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
