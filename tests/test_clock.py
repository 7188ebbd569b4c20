"""One clock: the simulated clock lives in the database, every process reads it, production refuses it."""

from __future__ import annotations

import datetime as dt

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from conftest import commit
from dateutil.relativedelta import relativedelta

from engine import clock, instances

START = dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


@pytest.fixture
def db_clock(factory):
    """A DatabaseClock on the test database, installed as the process clock (no cache: ttl 0)."""
    database_clock = clock.DatabaseClock(factory.kw["bind"], ttl=0)
    previous = clock.install(database_clock)
    yield database_clock
    clock.install(previous)


def test_spiff_timer_evaluation_reads_our_clock(fixed_clock):
    assert spiff_timer.datetime.now(dt.UTC) == fixed_clock.now()
    fixed_clock.advance(dt.timedelta(days=400))
    assert spiff_timer.datetime.now(dt.UTC) == START + dt.timedelta(days=400)
    assert dt.datetime.now(dt.UTC) != fixed_clock.now(), "nothing else in the process is affected"


def test_a_database_without_a_clock_row_runs_on_wall_time(session, db_clock):
    before = dt.datetime.now(dt.UTC)
    assert before <= clock.now() <= dt.datetime.now(dt.UTC)
    assert db_clock.simulated is False
    with pytest.raises(clock.SimulatedClockRefused, match="idiflow clock simulate"):
        clock.advance(session, dt.timedelta(days=1))


def test_every_process_sees_the_same_simulated_time(session, factory, db_clock):
    clock.simulate(session, START, "owner")
    commit(session)
    other_process = clock.DatabaseClock(factory.kw["bind"], ttl=0)
    assert other_process.now() == db_clock.now() == START
    clock.advance(session, relativedelta(years=2), "owner")
    commit(session)
    assert other_process.now() == START + relativedelta(years=2)
    info = clock.describe(session)
    assert info["mode"] == "simulated" and info["now_local"] == "2029-03-01T09:00:00+08:00"
    assert info["updated_by"] == "owner"


def test_a_rolled_back_move_is_not_remembered(session, factory, db_clock):
    clock.simulate(session, START)
    commit(session)
    clock.advance(session, dt.timedelta(days=30))
    assert clock.now() == START + dt.timedelta(days=30), "the mover sees its own move before commit"
    session.rollback()
    assert clock.now() == START


def test_a_savepoint_inside_the_move_keeps_the_uncommitted_time(session, factory):
    """A sweeper fires each timer in a savepoint: the mover must keep seeing its own, uncommitted time."""
    database_clock = clock.DatabaseClock(factory.kw["bind"], ttl=0.5)
    previous = clock.install(database_clock)
    try:
        clock.simulate(session, START)
        session.begin_nested().commit()
        assert clock.now() == START
        commit(session)
        assert clock.now() == START, "after the commit the row says the same"
    finally:
        clock.install(previous)


def test_a_cached_clock_refreshes_after_its_ttl(session, factory, db_clock):
    clock.simulate(session, START)
    commit(session)
    cached = clock.DatabaseClock(factory.kw["bind"], ttl=3600)
    assert cached.now() == START
    clock.advance(session, dt.timedelta(days=1))
    commit(session)
    assert cached.now() == START, "within its ttl the cache answers"
    cached.invalidate()
    assert cached.now() == START + dt.timedelta(days=1)


def test_the_database_clock_fires_timers_when_advanced(session, deploy, db_clock):
    clock.simulate(session, START)
    commit(session)
    deploy("tmr_duration.bpmn")
    inst = instances.start_instance(session, "tmr_duration", {}, "alice")
    commit(session)
    assert clock.advance(session, dt.timedelta(days=29)) == []
    commit(session)
    [fired] = clock.next(session)
    commit(session)
    assert fired.fired_at == START + dt.timedelta(days=30) == clock.now()
    assert instances.get_instance(session, inst.id).status == "completed"


def test_production_refuses_the_simulated_clock(session, factory, monkeypatch):
    monkeypatch.setenv("IDIFLOW_ENV", "production")
    with pytest.raises(clock.SimulatedClockRefused, match="production"):
        clock.DatabaseClock(factory.kw["bind"])
    with pytest.raises(clock.SimulatedClockRefused, match="production"):
        clock.simulate(session, START)
    assert isinstance(clock.for_database(factory.kw["bind"]), clock.SystemClock)


def test_production_ignores_a_simulated_row_left_in_the_database(session, factory, monkeypatch):
    clock.simulate(session, START)
    commit(session)
    monkeypatch.setenv("IDIFLOW_ENV", "production")
    assert clock.describe(session)["mode"] == "system"
    with pytest.raises(clock.SimulatedClockRefused):
        clock.advance(session, dt.timedelta(days=1))


@pytest.mark.parametrize("text, expected", [
    ("P2Y", relativedelta(years=2)), ("2y", relativedelta(years=2)), ("3mo", relativedelta(months=3)),
    ("10d", relativedelta(days=10)), ("PT12H", relativedelta(hours=12)), ("30m", relativedelta(minutes=30)),
])
def test_durations_for_the_command_line(text, expected):
    assert clock.parse_delta(text) == expected


def test_bad_durations_and_dates_say_what_to_write():
    with pytest.raises(ValueError, match="use ISO 8601"):
        clock.parse_delta("soon")
    assert clock.parse_when("2037-03-01") == dt.datetime(2037, 2, 28, 16, tzinfo=dt.UTC)
    assert clock.parse_when("2037-03-01T00:00:00Z") == dt.datetime(2037, 3, 1, tzinfo=dt.UTC)


def test_a_writer_reads_the_shared_clock_without_waiting_for_its_own_lock(session, factory, db_clock):
    """SQLite: the clock read must not queue behind the caller's BEGIN IMMEDIATE (30 s busy timeout)."""
    import time

    from engine import db

    clock.simulate(session, START)
    commit(session)
    with db.unit_of_work(factory) as writer:
        writer.connection()  # holds the write lock from here
        started = time.monotonic()
        assert clock.DatabaseClock(factory.kw["bind"], ttl=0).now() == START
        assert time.monotonic() - started < 2
