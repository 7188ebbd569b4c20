"""Log output for the entry points: one JSON object per line (scaled mode) or readable text (a terminal).

Library modules only do `log = logging.getLogger(__name__)` and pass ids in `extra`
(`extra={"instance_id": 7, "task_id": "..."}`); this module is called once by an entry point (the CLI,
gunicorn's config) and never on import, so an embedding application keeps its own logging.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import Any

#: Attributes every LogRecord has; anything else on a record came from `extra` and is emitted as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                                 "taskName"}
#: Shown first, in this order, when present.
_IDS = ("instance_id", "task_id")


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, instance_id/task_id and other `extra` fields."""

    def __init__(self, process_role: str | None = None):
        super().__init__()
        self.process_role = process_role

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "msg": record.getMessage(),
        }
        for key in _IDS:
            if key in record.__dict__:
                entry[key] = _jsonable(record.__dict__[key])
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = _jsonable(value)
        entry["pid"] = record.process
        if self.process_role:
            entry["role"] = self.process_role
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines with the instance and task ids appended when a record carries them."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{k}={record.__dict__[k]}" for k in _IDS if k in record.__dict__)
        return f"{line} [{ids}]" if ids else line


def wants_json(fmt: str | None = None) -> bool:
    """True for `json` (argument, else IDIFLOW_LOG_FORMAT); `text` or unset means text."""
    chosen = (fmt or os.environ.get("IDIFLOW_LOG_FORMAT") or "text").strip().lower()
    if chosen not in ("json", "text"):
        raise ValueError(f"IDIFLOW_LOG_FORMAT is '{chosen}'; use json or text.")
    return chosen == "json"


def configure(level: int | str = logging.WARNING, fmt: str | None = None, role: str | None = None,
              stream=None) -> logging.Handler:
    """Replace the root logger's handlers with one stderr handler; the `spiff` logger stays at WARNING.

    `fmt` is json or text (default: IDIFLOW_LOG_FORMAT, else text); `role` (web, worker) tags JSON lines.
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(role) if wants_json(fmt) else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Spiff's INFO logging costs about a third of the engine's speed (STYLE.md, Logging).
    logging.getLogger("spiff").setLevel(logging.WARNING)
    return handler
