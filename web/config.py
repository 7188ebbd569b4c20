"""The web app's settings: defaults, then IDIFLOW_* environment variables, then the caller's dict."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from engine import db

log = logging.getLogger(__name__)

ENVIRONMENTS = ("production", "demo", "test")

DEFAULTS: dict[str, Any] = {
    "IDIFLOW_ENV": "demo",
    "IDIFLOW_DATABASE_URL": db.DEFAULT_URL,
    "SECRET_KEY": None,
    # Deploy bundles are capped by the engine at 20 MB; leave room for multipart framing.
    "MAX_CONTENT_LENGTH": 24 * 1024 * 1024,
    "JSON_SORT_KEYS": False,
    "API_PAGE_LIMIT": 50,
    "API_MAX_PAGE_LIMIT": 500,
}


def from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Settings read from the environment (IDIFLOW_DATABASE_URL, IDIFLOW_SECRET_KEY, IDIFLOW_ENV)."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    if environ.get("IDIFLOW_DATABASE_URL"):
        found["IDIFLOW_DATABASE_URL"] = environ["IDIFLOW_DATABASE_URL"]
    if environ.get("IDIFLOW_SECRET_KEY"):
        found["SECRET_KEY"] = environ["IDIFLOW_SECRET_KEY"]
    if environ.get("IDIFLOW_ENV"):
        found["IDIFLOW_ENV"] = environ["IDIFLOW_ENV"]
    return found


def resolve(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the environment, then `overrides`; checked and completed."""
    settings = {**DEFAULTS, **from_env(), **(overrides or {})}
    env = settings["IDIFLOW_ENV"]
    if env not in ENVIRONMENTS:
        raise ValueError(f"IDIFLOW_ENV is '{env}'; use one of {', '.join(ENVIRONMENTS)}.")
    if env == "test":
        settings.setdefault("TESTING", True)
    if not settings.get("SECRET_KEY"):
        if env == "production":
            raise ValueError("IDIFLOW_SECRET_KEY is not set; production needs a fixed secret key "
                             "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`).")
        # Demo and test run as one process, so a per-process key is enough (sessions end on restart).
        settings["SECRET_KEY"] = secrets.token_hex(32)
        log.info("no IDIFLOW_SECRET_KEY; using a random key for this %s process", env)
    return settings
