"""Sandboxes: run a studio draft in its own SQLite database with a clock that moves only when told.

Each draft gets var/sandbox/draft-<id>.db. Nothing there touches the real database: the draft and the
diagrams it calls are deployed into the sandbox, instances run there, and the sandbox's clock is a
FixedClock (engine.clock.use) whose value is kept in the sandbox database's own clock_state row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import audit, clock, db, definitions, inspection, instances, tasks, timers
from engine.models import ProcessDefinition

_ENGINES: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
_LOCK = threading.Lock()


def sandbox_root(app_root: Path) -> Path:
    """Where sandbox databases live (var/sandbox beside the project)."""
    return app_root / "var" / "sandbox"


class Sandbox:
    """One sandbox database and its stored clock."""

    def __init__(self, path: Path):
        self.path = path
        key = str(path)
        with _LOCK:
            if key not in _ENGINES:
                path.parent.mkdir(parents=True, exist_ok=True)
                engine = db.make_engine(f"sqlite:///{path}")
                db.upgrade(engine)
                _ENGINES[key] = (engine, db.make_session_factory(engine))
        self.engine, self.factory = _ENGINES[key]

    @contextlib.contextmanager
    def unit(self, start: dt.datetime | None = None) -> Iterator[Session]:
        """One committed unit of work in the sandbox, on the sandbox's own clock."""
        session = self.factory()
        try:
            with db.write_intent():
                session.connection()
            state = clock.read_state(session)
            if state is None or state.now is None:
                now = clock.ensure_utc(start) if start else clock.now()
            else:
                now = state.now
            with clock.use(clock.FixedClock(now)):
                if state is None or state.now is None:
                    clock.simulate(session, now, actor="sandbox")
                yield session
                db.commit(session)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def reset(self) -> None:
        """Forget every instance and version of this sandbox."""
        with _LOCK:
            found = _ENGINES.pop(str(self.path), None)
        if found:
            found[0].dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        definitions.clear_cache()


def for_draft(root: Path, draft_id: int) -> Sandbox:
    """The sandbox of one draft."""
    return Sandbox(root / f"draft-{int(draft_id)}.db")


def run_draft(box: Sandbox, files: dict[str, str], process_id: str, data: dict[str, Any], actor: str,
              start: dt.datetime | None = None) -> int:
    """Deploy the draft's bundle in the sandbox and start one instance; returns its id."""
    with box.unit(start) as session:
        definitions.deploy(session, files, actor, note="sandbox")
        row = instances.start_instance(session, process_id, data, actor, business_key=f"SANDBOX-{actor}")
        return row.id


def move_clock(box: Sandbox, actor: str, delta: str | None = None, to_next: bool = False) -> list[dict]:
    """Advance the sandbox clock by `delta` ('2y', 'P30D') or to the next timer; returns fired timers."""
    with box.unit() as session:
        if to_next:
            fired = clock.next(session, actor)
        else:
            fired = clock.advance(session, clock.parse_delta(delta or ""), actor)
        return [{"timer": f.task_name, "outcome": f.outcome, "error": f.error,
                 "due_at": f.due_at.isoformat() if f.due_at else None} for f in fired]


def complete(box: Sandbox, task_id: str, data: dict[str, Any], actor: str) -> None:
    """Complete a sandbox user task (form validation applies)."""
    with box.unit() as session:
        tasks.complete_task(session, task_id, data, actor, enforce_assignee=False)


def describe(box: Sandbox, instance_id: int, draft_xml: str) -> dict:
    """Everything the studio shows about a sandbox instance: clock, tokens, tasks, timers, history."""
    with box.unit() as session:
        row = instances.get_instance(session, instance_id)
        definition = session.get(ProcessDefinition, row.definition_id)
        diagrams = []
        for tokens in inspection.instance_tokens(session, row):
            xml = draft_xml if tokens.called_from is None else inspection.diagram_source(
                session, tokens.process_id, definition)
            diagrams.append({**tokens.to_dict(), "xml": xml,
                             "flows": inspection.taken_flows(xml, tokens) if xml else []})
        open_tasks = []
        for task in tasks.list_tasks(session, process_id=None, limit=100):
            if task.instance_id != row.id:
                continue
            open_tasks.append({"id": task.id, "name": task.task_name, "title": task.title, "lane": task.lane,
                               "form": task.form_ref, "schema": tasks.form_schema(session, task)})
        now = clock.now()
        return {
            "instance_id": row.id, "status": row.status, "version": definition.version,
            "clock": {"utc": now.isoformat(), "local": clock.to_local(now).isoformat()},
            "diagrams": diagrams, "tasks": open_tasks,
            "timers": [timers.describe(t) for t in timers.list_timers(session, instance_id=row.id)],
            "history": [{"at": clock.to_local(e.at).isoformat(), "action": e.action, "task": e.task_name,
                         "actor": e.actor} for e in audit.history(session, row.id)],
            "variables": instances.variables(session, row.id),
        }


def latest_instance(box: Sandbox) -> int | None:
    """The newest instance of the sandbox, if any."""
    with box.unit() as session:
        rows, _total = instances.list_instances(session, limit=1)
        return rows[0].id if rows else None
