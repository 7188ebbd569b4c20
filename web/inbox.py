"""The inbox: my tasks, my groups' unclaimed tasks, everything I may see; claim, unclaim, reassign."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from engine import clock, definitions, tasks
from engine.errors import NotAllowed
from engine.models import HumanTask
from engine.roles import known_roles

from .accounts import find_user, has_role
from .auth import current_user, login_required
from .db import get_session
from .i18n import safe_next
from .models import User
from .pages import Page, page_number, run_unit
from .permissions import is_supervisor, lane_filter, may_reassign, may_work_on, visible_filter

bp = Blueprint("inbox", __name__)

TABS = ("mine", "unclaimed", "all")
PAGE_SIZE = 25
SORTS = {"due": HumanTask.due_at, "priority": HumanTask.priority, "task": HumanTask.title,
         "case": HumanTask.business_key, "process": HumanTask.process_id, "assignee": HumanTask.assignee,
         "created": HumanTask.created_at}


@dataclass
class Filters:
    """What the inbox is narrowed to, read from the query string."""

    tab: str
    process: str
    task: str
    q: str
    due_from: dt.date | None
    due_to: dt.date | None
    overdue: bool
    sort: str
    descending: bool

    @classmethod
    def from_args(cls, args) -> Filters:
        tab = args.get("tab", "mine")
        sort = args.get("sort", "due")
        return cls(tab=tab if tab in TABS else "mine", process=args.get("process", ""),
                   task=args.get("task", "").strip(), q=args.get("q", "").strip(),
                   due_from=_date(args.get("due_from")), due_to=_date(args.get("due_to")),
                   overdue=args.get("overdue") == "1", sort=sort if sort in SORTS else "due",
                   descending=args.get("dir") == "desc")


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _local_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=clock.LOCAL_TZ).astimezone(dt.UTC)


def tab_condition(session: Session, user: User, tab: str):
    """The rows of one tab: assigned to me / unclaimed in my lanes / all I may see (None: everything)."""
    if tab == "mine":
        return HumanTask.assignee == user.username
    if tab == "unclaimed":
        return (HumanTask.assignee.is_(None)) & lane_filter(session, user)
    return visible_filter(session, user)


def inbox_query(session: Session, user: User, f: Filters):
    """The SELECT of open tasks for a tab and filters, unsorted."""
    query = select(HumanTask).where(HumanTask.status == "open")
    condition = tab_condition(session, user, f.tab)
    if condition is not None:
        query = query.where(condition)
    if f.process:
        query = query.where(HumanTask.process_id == f.process)
    if f.task:
        query = query.where(or_(HumanTask.task_name == f.task,
                                HumanTask.title.contains(f.task, autoescape=True)))
    if f.q:
        query = query.where(or_(HumanTask.business_key.contains(f.q, autoescape=True),
                                HumanTask.case_title.contains(f.q, autoescape=True),
                                HumanTask.title.contains(f.q, autoescape=True)))
    if f.due_from:
        query = query.where(HumanTask.due_at >= _local_start(f.due_from))
    if f.due_to:
        query = query.where(HumanTask.due_at < _local_start(f.due_to + dt.timedelta(days=1)))
    if f.overdue:
        query = query.where(HumanTask.due_at < clock.now())
    return query


def counts(session: Session, user: User) -> dict[str, int]:
    """How many open tasks each tab holds."""
    return {tab: figures["total"] for tab, figures in tab_summary(session, user).items()}


def today_end() -> dt.datetime:
    """The end of today in Shanghai (the start of tomorrow), as UTC."""
    return _local_start(clock.local_today() + dt.timedelta(days=1))


def tab_summary(session: Session, user: User) -> dict[str, dict[str, int]]:
    """Per tab: open tasks in total, overdue, and due later today (local date); one query per tab."""
    now, tomorrow = clock.now(), today_end()
    overdue = func.coalesce(func.sum(case((HumanTask.due_at < now, 1), else_=0)), 0)
    today = func.coalesce(func.sum(case(((HumanTask.due_at >= now) & (HumanTask.due_at < tomorrow), 1),
                                        else_=0)), 0)
    found = {}
    for tab in TABS:
        query = select(func.count(), overdue, today).select_from(HumanTask).where(HumanTask.status == "open")
        condition = tab_condition(session, user, tab)
        total, late, due_today = session.execute(query if condition is None else query.where(condition)).one()
        found[tab] = {"total": total, "overdue": int(late), "today": int(due_today)}
    return found


def load_page(session: Session, user: User, f: Filters, number: int) -> Page:
    """One page of the inbox, sorted (empty due dates last, then oldest first)."""
    query = inbox_query(session, user, f)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    column = SORTS[f.sort]
    order = [column.is_(None), column.desc() if f.descending else column, HumanTask.created_at]
    rows = session.scalars(query.order_by(*order).limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE))
    return Page(list(rows), number, PAGE_SIZE, total)


@bp.get("/inbox")
@login_required
def inbox():
    """The inbox page."""
    session, user = get_session(), current_user()
    f = Filters.from_args(request.args)
    page = load_page(session, user, f, page_number())
    visible = visible_filter(session, user)
    processes = select(HumanTask.process_id).where(HumanTask.status == "open").distinct()
    if visible is not None:
        processes = processes.where(visible)
    summary = tab_summary(session, user)
    return render_template("inbox/inbox.html", f=f, page=page, summary=summary,
                           counts={tab: figures["total"] for tab, figures in summary.items()},
                           process_names=process_names(session), roles=known_roles(),
                           processes=sorted(session.scalars(processes)), supervisor=is_supervisor(user),
                           workable={t.id for t in page.items if may_work_on(session, user, t)},
                           reassignable={t.id for t in page.items if may_reassign(user, t)},
                           now=clock.now())


def process_names(session: Session) -> dict[str, str]:
    """Process id -> the name of its latest version."""
    return {d.process_id: d.name or d.process_id for d in definitions.list_latest(session)}


def _back():
    return redirect(safe_next(request.form.get("next"), url_for("inbox.inbox")))


def _claim(session: Session, user: User, task_id: str) -> HumanTask:
    task = tasks.get_task(session, task_id)
    if not (may_work_on(session, user, task) or may_reassign(user, task)):
        raise NotAllowed(_("Task '%(title)s' is not in your lanes.", title=task.title))
    return tasks.claim_task(session, task_id, user.username)


def _unclaim(session: Session, user: User, task_id: str) -> HumanTask:
    task = tasks.get_task(session, task_id)
    if task.assignee != user.username and not may_reassign(user, task):
        raise NotAllowed(_("Task '%(title)s' is claimed by %(who)s; only they or a supervisor can release "
                           "it.", title=task.title, who=task.assignee))
    return tasks.unclaim_task(session, task_id, user.username, force=True)


def _reassign(session: Session, user: User, task_id: str, username: str) -> HumanTask:
    task = tasks.get_task(session, task_id)
    if not may_reassign(user, task):
        raise NotAllowed(_("Only a supervisor of lane %(lane)s may reassign '%(title)s'.", lane=task.lane,
                           title=task.title))
    target = find_user(session, username)
    if target is None or not target.active or not (has_role(target, task.lane) if task.lane else True):
        raise NotAllowed(_("%(user)s cannot take '%(title)s': they need the role %(lane)s.", user=username,
                           title=task.title, lane=task.lane))
    return tasks.claim_task(session, task_id, user.username, assignee=target.username)


@bp.post("/inbox/claim")
@login_required
def claim():
    """Claim one task."""
    user, task_id = current_user(), request.form.get("task_id", "")
    _row, err = run_unit(lambda s: _claim(s, user, task_id))
    flash(err.message if err else _("Task claimed."), "error" if err else "info")
    return _back()


@bp.post("/inbox/unclaim")
@login_required
def unclaim():
    """Give a task back to its group."""
    user, task_id = current_user(), request.form.get("task_id", "")
    _row, err = run_unit(lambda s: _unclaim(s, user, task_id))
    flash(err.message if err else _("Task returned to the group."), "error" if err else "info")
    return _back()


@bp.post("/inbox/bulk")
@login_required
def bulk():
    """Supervisors: claim or reassign several tasks at once (all or nothing)."""
    user = current_user()
    if not is_supervisor(user):
        flash(_("Only supervisors may act on several tasks at once."), "error")
        return _back()
    ids = request.form.getlist("task_ids")
    action, assignee = request.form.get("action"), request.form.get("assignee", "").strip()
    if not ids:
        flash(_("Select at least one task."), "error")
        return _back()
    if action == "reassign" and not assignee:
        flash(_("Enter the user name to reassign to."), "error")
        return _back()

    def work(session: Session) -> int:
        for task_id in ids:
            if action == "reassign":
                _reassign(session, user, task_id, assignee)
            else:
                _claim(session, user, task_id)
        return len(ids)

    done, err = run_unit(work)
    flash(err.message if err else _("%(n)d task(s) updated.", n=done), "error" if err else "info")
    return _back()
