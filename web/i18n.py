"""Language and local formats: Chinese (zh_CN) by default, English by a switch kept in a cookie."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, redirect, request
from flask_babel import Babel, format_currency, format_date, format_time

from engine import clock

log = logging.getLogger(__name__)

#: catalogs live in translations/zh_Hans_CN: Babel names the zh_CN locale that way when it looks for them
TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "idiflow_lang"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The language of this request: the cookie set by the switch, else Chinese."""
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LOCALE


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


@bp.get("/lang/<code>")
def switch(code: str):
    """Switch the interface language and go back to where the user was; the choice sticks for a year."""
    response = redirect(safe_next(request.args.get("next")))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
    return response


def compile_catalogs(directory: Path = TRANSLATIONS) -> None:
    """Compile each messages.po whose .mo is missing or stale (setup does it too; a fresh clone needs it)."""
    for po_path in directory.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
        except OSError as err:  # a read-only install: run `pybabel compile -d web/translations` at build time
            log.warning("cannot compile %s: %s", po_path, err)


def local_date(value: dt.date | dt.datetime | None, style: str = "long") -> str:
    """A date in the reader's language: 2029年7月4日 / July 4, 2029; datetimes in Asia/Shanghai."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = clock.to_local(value).date()
    return format_date(value, style)


def local_datetime(value: dt.datetime | None) -> str:
    """A local date and time: 2029年7月4日 17:00."""
    if value is None:
        return ""
    local = clock.to_local(value)
    return f"{format_date(local.date(), 'long')} {format_time(local.time(), 'HH:mm')}"


def money(value: Decimal | float | int | str | None) -> str:
    """An amount in yuan: ¥1,234.56."""
    if value in (None, ""):
        return ""
    return format_currency(Decimal(str(value)), "CNY")


def is_overdue(value: dt.datetime | None) -> bool:
    """True when a due time has passed on the engine's clock."""
    return value is not None and clock.ensure_utc(value) < clock.now()


def due_state(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How urgent a due time is at a glance: "overdue", "today" (later today, Shanghai date), or ""."""
    if value is None:
        return ""
    now = now or clock.now()
    if clock.ensure_utc(value) < now:
        return "overdue"
    return "today" if clock.to_local(value).date() == clock.to_local(now).date() else ""


def init_app(app: Flask) -> None:
    """Flask-Babel with our selector, catalogs compiled if needed, and the format filters for templates."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    compile_catalogs()
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(local_date=local_date, local_datetime=local_datetime, money=money)
    app.jinja_env.globals.update(is_overdue=is_overdue, due_state=due_state, LANGUAGES=LANGUAGES, ui_lang=select_locale)
