"""The Flask web app: `create_app` builds it from named init steps; one blueprint per area."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, url_for

from . import config as app_config
from . import db, errors
from .json_provider import OrjsonProvider

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, database, domain handlers, error mapping, blueprints."""
    app = Flask(__name__, instance_relative_config=False)
    app.json = OrjsonProvider(app)
    init_config(app, config)
    init_domain(app)
    db.init_app(app)
    init_observability(app)
    init_timers(app)
    errors.init_app(app)
    init_pages(app)
    init_blueprints(app)
    init_index(app)
    return app


def init_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Defaults, then IDIFLOW_* environment variables, then `overrides`."""
    app.config.from_mapping(app_config.resolve(overrides))


def init_domain(_app: Flask) -> None:
    """Import the IDI domain so its roles and service-task handlers are registered."""
    import handlers  # noqa: F401


def init_observability(app: Flask) -> None:
    """Prometheus /metrics with request timing (first, so it times every other hook), /healthz, /readyz."""
    from . import health, metrics

    metrics.init_app(app)
    health.init_app(app)


def init_timers(app: Flask) -> None:
    """The engine's clock for this database, and the embedded timer sweeper (not when testing).

    Scaled mode runs `idiflow worker` processes instead: set IDIFLOW_SCHEDULER=0 for the web processes.
    """
    import os

    from engine import clock, scheduler

    if app.testing:
        return
    database = db.database(app)
    if app.config.get("IDIFLOW_ENV") == "production":
        clock.install(clock.SystemClock())
    else:
        clock.configure(database.engine)
    enabled = app.config.get("IDIFLOW_SCHEDULER", os.environ.get("IDIFLOW_SCHEDULER", "1"))
    if str(enabled).strip().lower() not in ("0", "false", "no", "off"):
        scheduler.start_embedded(database.session_factory)


def blueprints() -> list[tuple[Any, str | None]]:
    """Every blueprint with its URL prefix; add a new area here."""
    from . import (  # statistics, reports, oversight (issue 8)
        admin,
        auth,
        cockpit,
        dashboard,
        i18n,
        inbox,
        oversight,
        portal,
        studio,
        taskpage,
        ui_api,
    )
    from .api import bp as api

    return [
        (api, "/api/v1"),
        (studio.bp, None), (cockpit.bp, None),
        (auth.bp, None), (i18n.bp, None), (inbox.bp, None), (taskpage.bp, None), (portal.bp, None),
        (admin.bp, None), (ui_api.bp, "/api/ui"),
        (dashboard.bp, None), (oversight.bp, None),
    ]


def init_pages(app: Flask) -> None:
    """The case-worker pages: language and formats, login sessions with CSRF, HTML error pages."""
    from . import auth, i18n, pages

    i18n.init_app(app)
    auth.init_app(app)
    pages.init_app(app)


def init_blueprints(app: Flask) -> None:
    """Register the blueprints listed by `blueprints()`."""
    for blueprint, prefix in blueprints():
        app.register_blueprint(blueprint, url_prefix=prefix)


def init_index(app: Flask) -> None:
    """A plain front page linking to the API, unless a blueprint already serves `/`."""
    if any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        return

    def index() -> str:
        doc = url_for("api.openapi.serve_document")
        return ("<!doctype html><meta charset='utf-8'><title>idiflow</title><h1>idiflow</h1>"
                f"<p>BPMN workflows for inherent defects insurance. JSON API: <a href='{doc}'>{doc}</a></p>")

    app.add_url_rule("/", "index", index)
