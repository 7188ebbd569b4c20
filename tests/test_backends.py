"""The schema and column types behave the same on SQLite and PostgreSQL (the test server runs in
Asia/Shanghai time, like a server in Longgang, so naive-datetime mistakes show up)."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import threading
from zoneinfo import ZoneInfo

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import commit
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from engine import db, instances, runtime
from engine.models import AuditEvent, ProcessInstance

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_migrations_build_exactly_the_models(backend, factory):
    """Alembic's upgrade yields exactly the tables, columns and types the models declare (no drift)."""
    for package in ("engine", "handlers", "web"):  # every module that may declare a table
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(info.name)
    bind = factory.kw["bind"]
    with bind.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.Base.metadata)
    assert diffs == []


def test_aware_datetimes_round_trip_as_the_same_utc_instant(backend, session):
    """A Shanghai-time value is stored as its UTC instant and read back aware, in UTC."""
    local = dt.datetime(2027, 12, 31, 23, 30, tzinfo=SHANGHAI)  # 15:30 UTC, still 2027 in UTC
    session.add(AuditEvent(at=local, actor="tz", action="probe", data={}))
    commit(session)
    session.expire_all()
    stored = session.scalars(select(AuditEvent).where(AuditEvent.actor == "tz")).one()
    assert stored.at == local and stored.at.tzinfo == dt.UTC
    assert stored.at.replace(tzinfo=None) == dt.datetime(2027, 12, 31, 15, 30)
    later = session.scalars(select(AuditEvent.actor).where(
        AuditEvent.at > dt.datetime(2027, 12, 31, 15, 29, tzinfo=dt.UTC))).all()
    assert later == ["tz"], "comparisons must use the UTC instant, not the server's local time"


def test_naive_datetimes_are_refused(backend, session):
    """Storing a naive datetime is a bug on either backend, caught before it reaches the database."""
    session.add(AuditEvent(at=dt.datetime(2027, 1, 1), actor="naive", action="probe", data={}))
    with pytest.raises(Exception, match="naive datetimes are not stored"):
        session.flush()


def test_json_columns_keep_unicode_nesting_and_types(backend, session):
    """JSON columns round-trip Chinese text, nesting, numbers, booleans and null unchanged."""
    data = {"项目": "龙岗区保障房", "amounts": [1, 2.5, -3], "ok": True, "none": None,
            "nested": {"a": [{"b": "c"}]}}
    session.add(AuditEvent(at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC), actor="json", action="probe",
                           data=data))
    commit(session)
    session.expire_all()
    assert session.scalars(select(AuditEvent.data).where(AuditEvent.actor == "json")).one() == data


def test_audit_event_ids_are_64_bit(backend, session):
    """The audit trail can outgrow 32-bit ids (BIGINT on PostgreSQL; SQLite's INTEGER is 64-bit)."""
    big = 2**40
    session.add(AuditEvent(id=big, at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC), actor="big", action="probe",
                           data={}))
    commit(session)
    session.add(AuditEvent(at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC), actor="next", action="probe", data={}))
    commit(session)
    assert session.scalars(select(AuditEvent.id).where(AuditEvent.actor == "big")).one() == big


@pytest.mark.postgres
def test_runtime_lock_holds_the_row_until_commit(backend, factory, session, deploy):
    """PostgreSQL: runtime.lock's SELECT ... FOR UPDATE keeps a second locker out until the first commits."""
    deploy("simple.bpmn")
    inst = instances.start_instance(session, "simple", {"amount": 7}, "starter")
    commit(session)

    first = factory()
    runtime.lock(first, inst.id)
    outcome: dict[str, object] = {}

    def second_locker():
        with factory() as other:
            other.execute(text("SET lock_timeout = '300ms'"))
            try:
                runtime.lock(other, inst.id)
                outcome["locked"] = True
            except OperationalError as err:
                outcome["error"] = err.orig
            other.rollback()

    thread = threading.Thread(target=second_locker)
    thread.start()
    thread.join(30)
    assert isinstance(outcome.get("error"), psycopg.errors.LockNotAvailable), outcome
    first.commit()
    first.close()

    outcome.clear()
    thread = threading.Thread(target=second_locker)
    thread.start()
    thread.join(30)
    assert outcome.get("locked") is True
    assert "error" not in outcome
    assert session.get(ProcessInstance, inst.id).status == "running"
