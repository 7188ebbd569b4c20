"""Probes for process managers and load balancers: /healthz (the process answers), /readyz (it can work).

/readyz is ready when the database answers and its schema is at the newest Alembic revision; a web
worker started before `idiflow init-db` finished, or against a database an older release migrated,
reports 503 with the reason instead of failing requests one by one.
"""

from __future__ import annotations

import functools
import logging
import time

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine import db

from .db import database

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s) in migrations/ (read once per process)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_heads())


def applied_revisions(app: Flask) -> frozenset[str]:
    """The revisions recorded in the database's alembic_version table (empty when it has none)."""
    with database(app).engine.connect() as conn:
        try:
            return frozenset(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version")))
        except SQLAlchemyError:
            return frozenset()


@bp.get("/healthz")
def healthz():
    """GET /healthz: 200 while the process serves requests; no database access."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """GET /readyz: 200 when the database answers and its schema is at head, else 503 with the reason."""
    checks: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        applied = applied_revisions(current_app)
        checks["database"] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except SQLAlchemyError as err:
        log.warning("readiness: database unreachable: %s", err)
        checks["database"] = {"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
        applied = None
    if applied is not None:
        heads = head_revisions()
        ok = applied == heads
        checks["migrations"] = {"ok": ok, "database": sorted(applied), "head": sorted(heads)}
        if not ok:
            checks["migrations"]["error"] = ("The schema is not at the newest migration; run "
                                             "`idiflow init-db` against this database.")
    ready = all(check["ok"] for check in checks.values()) and "migrations" in checks
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503


def init_app(app: Flask) -> None:
    """Register /healthz and /readyz (no login, no token)."""
    app.register_blueprint(bp)
