"""What every HTML page shares: error pages, running one unit of work from a view, pagination."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, render_template, request, url_for
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from engine import db
from engine.errors import EngineError, conflict_from_database

from .db import begin_write, get_session
from .errors import API_PREFIX, json_error

log = logging.getLogger(__name__)


def run_unit(work: Callable[[Any], Any]) -> tuple[Any, EngineError | None]:
    """Run `work(session)` as one writing transaction; commit, or roll back and return the engine's error."""
    session = get_session()
    begin_write(session)
    try:
        result = work(session)
        db.commit(session)
        return result, None
    except EngineError as err:
        db.rollback(session)
        return None, err
    except StaleDataError:
        db.rollback(session)
        from engine.errors import InstanceConflict

        return None, InstanceConflict("Someone changed this case at the same time; reload and try again.")
    except OperationalError as err:
        db.rollback(session)
        conflict = conflict_from_database(err)
        if conflict is not None:  # a PostgreSQL deadlock or serialization failure: the transaction was undone
            log.warning("the database undid a page's change for a concurrent one: %s", err.orig)
            return None, conflict
        if "database is locked" not in str(err.orig).lower():
            raise
        from engine.errors import InstanceConflict

        return None, InstanceConflict("The database was busy with another change; try again in a moment.")


@dataclass
class Page:
    """One page of a list: the rows, where we are and how many there are."""

    items: list
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def first_index(self) -> int:
        return 0 if not self.total else (self.number - 1) * self.size + 1

    @property
    def last_index(self) -> int:
        return min(self.total, self.number * self.size)


def page_number() -> int:
    """The ?page= argument, at least 1."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _error_page(err: HTTPException):
    if request.path.startswith(API_PREFIX):
        return json_error(err.code or 500, {"error": err.name.replace(" ", ""), "detail": err.description})
    return render_template("error.html", error=err), err.code or 500


def url_for_safe(endpoint: str, **values) -> str:
    """The URL of an endpoint, or "" when no such area is installed (the studio, the cockpit)."""
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else ""


def init_app(app: Flask) -> None:
    """HTML error pages in the app's layout for the pages; JSON stays for /api/."""
    app.jinja_env.globals["url_for_safe"] = url_for_safe
    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, _error_page)
