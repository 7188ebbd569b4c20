"""`idiflow clock`, `idiflow timers` and `idiflow worker` on a real database file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import BPMN_DIR

from engine import clock
from engine.cli import main

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def idiflow(db_url, factory):
    """Run the CLI against the test database; fails the test on a non-zero exit unless told otherwise."""
    runner = CliRunner()
    before = clock.current()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(main, ["--db", db_url, *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    assert clock.current() is before, "the CLI restores the process clock when it is done"


def test_clock_simulate_advance_and_next_drive_a_timer(idiflow):
    assert "system clock" in idiflow("clock").output
    assert "simulated clock: 2027-03-01T09:00:00+08:00" in idiflow("clock", "simulate", "--start",
                                                                  "2027-03-01T09:00").output
    idiflow("deploy", str(BPMN_DIR / "tmr_date.bpmn"))
    idiflow("start", "tmr_date", "--data", json.dumps({"due_date": "2037-03-01T00:00:00+08:00"}))
    listing = idiflow("timers").output
    assert "2037-03-01 00:00:00" in listing and "Event_expiry" in listing and "waiting" in listing

    out = idiflow("clock", "advance", "P9Y").output
    assert "0 timer(s) fired" in out and "2036-03-01T09:00:00+08:00" in out
    out = idiflow("clock", "next").output
    assert "fired Event_expiry" in out and "1 timer(s) fired" in out
    assert "simulated clock: 2037-03-01T00:00:00+08:00" in out
    assert "No timer is waiting." in idiflow("clock", "next").output
    assert "(none)" in idiflow("timers").output
    assert "fired" in idiflow("timers", "--status", "all").output


def test_clock_advance_to_refuses_to_go_back(idiflow):
    idiflow("clock", "simulate", "--start", "2030-01-01")
    result = idiflow("clock", "advance-to", "2029-01-01", ok=False)
    assert result.exit_code == 1 and "cannot go back" in result.output


def test_moving_the_system_clock_is_refused_with_a_hint(idiflow):
    result = idiflow("clock", "advance", "1d", ok=False)
    assert result.exit_code == 1 and "idiflow clock simulate" in result.output


def test_production_refuses_the_simulated_clock(idiflow, monkeypatch):
    monkeypatch.setenv("IDIFLOW_ENV", "production")
    result = idiflow("clock", "simulate", ok=False)
    assert result.exit_code == 1 and "production" in result.output


def test_a_bad_duration_is_a_usage_error(idiflow):
    idiflow("clock", "simulate")
    result = idiflow("clock", "advance", "soon", ok=False)
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_the_worker_command_runs_and_stops(idiflow):
    out = idiflow("worker", "--poll", "0.1", "--max-seconds", "0.5").output
    assert "worker stopped: 0 fired" in out
