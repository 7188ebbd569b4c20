"""Structured logs: one JSON object per line with instance_id/task_id from `extra`; configured only by
entry points (importing the app or the engine leaves the root logger alone)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from engine import logging_setup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_instance_and_task_ids(restore_root):
    out = io.StringIO()
    logging_setup.configure(logging.INFO, fmt="json", role="worker", stream=out)
    logging.getLogger("engine.timers").warning("timer %s failed", "t-1",
                                               extra={"instance_id": 42, "task_id": "t-1", "attempts": 2})
    entry = json.loads(out.getvalue().strip())
    assert entry["msg"] == "timer t-1 failed"
    assert (entry["instance_id"], entry["task_id"], entry["attempts"]) == (42, "t-1", 2)
    assert entry["level"] == "WARNING" and entry["logger"] == "engine.timers" and entry["role"] == "worker"
    assert logging.getLogger("spiff").level == logging.WARNING


def test_text_format_appends_ids(restore_root):
    out = io.StringIO()
    logging_setup.configure("INFO", fmt="text", stream=out)
    logging.getLogger("x").info("fired", extra={"instance_id": 7})
    assert out.getvalue().rstrip().endswith("fired [instance_id=7]")


def test_unknown_format_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="json or text"):
        logging_setup.wants_json("xml")


def test_importing_the_app_configures_no_logging():
    code = ("import logging; from web import create_app; import engine; "
            "print(len(logging.getLogger().handlers))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    assert out.strip() == "0"
