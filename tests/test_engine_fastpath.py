"""The engine's hot path (db.Prepared on the DBAPI cursor, db.adopt, one locked read in complete_task)
behaves like the ORM path it replaces: SQLAlchemy's errors, typed results, fresh session objects."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import commit
from sqlalchemy import bindparam, exc, insert, select

from engine import db, forms, instances, tasks
from engine.errors import FormInvalid, TaskNotFound
from engine.models import HumanTask, ProcessInstance


def _start_review(session, key: str = "F-1"):
    inst = instances.start_instance(session, "eng_review", {"amount": 7}, "alice", business_key=key)
    commit(session)
    [task] = [t for t in tasks.list_tasks(session) if t.instance_id == inst.id]
    return inst, task


def test_prepared_raises_sqlalchemy_integrity_error(session, deploy):
    """A driver error on the raw cursor surfaces as sqlalchemy.exc.IntegrityError, as connection.execute does."""
    deploy("eng_review.bpmn")
    _, task = _start_review(session)
    duplicate = {"id": task.id, "instance_id": task.instance_id, "process_id": "eng_review", "task_name": "x",
                 "title": "", "lane": None, "candidate_users": [], "assignee": None, "due_at": None,
                 "priority": 50, "form_ref": None, "business_key": None, "case_title": "", "status": "open",
                 "created_at": dt.datetime.now(dt.UTC)}
    statement = db.Prepared(insert(HumanTask.__table__), list(duplicate))
    with pytest.raises(exc.IntegrityError):
        statement.execute(session.connection(), duplicate)
    session.rollback()


def test_prepared_first_returns_typed_values_like_the_orm(session, deploy):
    """Datetimes come back aware UTC and JSON columns as Python objects, equal to what the ORM loads."""
    deploy("eng_review.bpmn")
    inst, _ = _start_review(session)
    table = ProcessInstance.__table__
    query = db.Prepared(select(table).where(table.c.id == bindparam("iid")))
    found = dict(zip([c.key for c in table.columns], query.first(session.connection(), {"iid": inst.id}),
                     strict=True))
    orm = session.get(ProcessInstance, inst.id, populate_existing=True)
    assert found["started_at"].tzinfo is not None and found["started_at"] == orm.started_at
    assert isinstance(found["waiting"], dict) and found["waiting"] == orm.waiting and found["waiting"]["tasks"]
    assert found["state"] == orm.state and found["version_id"] == orm.version_id
    assert query.first(session.connection(), {"iid": -1}) is None


def test_complete_task_refreshes_objects_the_session_already_holds(session, deploy):
    """Copies of the task and instance in the identity map are the objects updated and returned: values
    changed in the database behind them are read fresh, changes made to them before are flushed first
    (as the ORM's autoflush would), never silently dropped."""
    from sqlalchemy import update

    deploy("eng_review.bpmn")
    inst, task = _start_review(session)
    held_task = session.get(HumanTask, task.id)
    held_inst = session.get(ProcessInstance, inst.id)
    version = held_inst.version_id
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(case_title="changed in the database"),
                    execution_options={"synchronize_session": False})
    held_task.priority = 7  # a pending change of the caller's

    done = tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)

    assert done is held_task and done.status == "completed" and done.completed_by == "bob"
    assert done.case_title == "changed in the database" and done.priority == 7
    assert held_inst.status == "completed" and held_inst.version_id == version + 1
    assert done in session and held_inst in session
    session.expire_all()
    assert session.get(HumanTask, task.id).priority == 7


def test_complete_task_attaches_fresh_rows_to_the_session(session, deploy):
    """Without earlier loads, the returned row is persistent in the session and equals the stored one."""
    deploy("eng_review.bpmn")
    inst, task = _start_review(session)
    session.expunge_all()
    done = tasks.complete_task(session, task.id, {"approved": True}, "bob")
    commit(session)
    assert done in session and done.status == "completed"
    stored = session.get(ProcessInstance, inst.id)
    assert stored.status == "completed" and stored.ended_at is not None and stored.ended_at.tzinfo is not None
    with pytest.raises(TaskNotFound):
        tasks.complete_task(session, "no-such-task", {}, "bob")


def test_form_validator_is_built_once_per_schema_object():
    """The compiled validator is found by schema identity; an equal copy gets the same rules."""
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert forms._validator_for(schema) is forms._validator_for(schema)
    copy = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert forms._validator_for(copy) is forms._validator_for(schema)  # same canonical text, same validator
    forms.validate(schema, {"a": 1})
    with pytest.raises(FormInvalid) as caught:
        forms.validate(copy, {"a": "x"})
    assert [e.field for e in caught.value.errors] == ["a"]


def test_adopted_objects_flush_like_loaded_ones(session, deploy, factory):
    """An object adopted from a Core read is persistent: a change to it is flushed, version check included."""
    deploy("eng_review.bpmn")
    inst, _ = _start_review(session)
    session.expunge_all()
    table = ProcessInstance.__table__
    query = db.Prepared(select(table).where(table.c.id == bindparam("iid")))
    values = dict(zip([c.key for c in table.columns], query.first(session.connection(), {"iid": inst.id}),
                      strict=True))
    row = db.adopt(session, ProcessInstance, values)
    assert row in session and not session.dirty and db.adopt(session, ProcessInstance, values) is row
    row.title = "renamed"
    assert row in session.dirty
    commit(session)
    with factory() as other:
        stored = other.get(ProcessInstance, inst.id)
        assert (stored.title, stored.version_id) == ("renamed", values["version_id"] + 1)


def test_task_id_cache_gives_the_same_state_as_parsing(session, deploy):
    """Loading with the shared task-id maps warm or emptied rebuilds the same workflow, saved identically."""
    import uuid

    from engine import definitions, serialization

    deploy("eng_review.bpmn")
    inst, _ = _start_review(session)
    loaded = definitions.load(session, inst.definition_id)
    warm = serialization.load_state(inst.state, loaded.spec, loaded.subprocess_specs)
    serialization._IDS.clear()
    serialization._NAMES.clear()
    cold = serialization.load_state(inst.state, loaded.spec, loaded.subprocess_specs)
    assert set(warm.tasks) == set(cold.tasks) and serialization._IDS == {}
    assert serialization.dump_state(warm) == serialization.dump_state(cold) == inst.state
    assert serialization._NAMES and all(str(uuid.UUID(int=k)) == v for k, v in serialization._NAMES.items())


def test_json_columns_keep_typed_values_readable(session):
    """JSON column text (orjson, the standard encoder for int keys): Decimal, dates, sets and Chinese text
    are stored as readable JSON and come back as the values the standard encoder always gave."""
    import decimal
    import json

    from engine import audit
    from engine.models import AuditEvent

    data = {"fee": decimal.Decimal("1.50"), "day": dt.date(2027, 6, 30), "at": dt.datetime(2027, 6, 30, 8,
            tzinfo=dt.UTC), "tags": {"a"}, "note": "龙岗区"}
    audit.record(session, "alice", "probe", data=data)
    audit.record(session, "alice", "probe", data={"by_year": {2027: 1}})
    commit(session)
    rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "probe").order_by(AuditEvent.id)).all()
    assert rows[0].data == {"fee": "1.50", "day": "2027-06-30", "at": "2027-06-30T08:00:00+00:00", "tags": ["a"],
                            "note": "龙岗区"}
    assert rows[1].data == {"by_year": {"2027": 1}}
    stored = session.connection().exec_driver_sql(
        "SELECT CAST(data AS TEXT) FROM audit_event WHERE action = 'probe' ORDER BY id").scalars().all()
    assert "龙岗区" in stored[0] and json.loads(stored[1]) == {"by_year": {"2027": 1}}


def test_sqlite_timestamps_are_written_as_sqlalchemy_writes_them():
    """UTCDateTime's one-step SQLite writer gives exactly SQLAlchemy DATETIME's text (naive UTC, 6 digits),
    so stored rows compare and sort as before; naive datetimes are still refused."""
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    from engine.models import UTCDateTime

    dialect = sqlite.dialect()
    reference = DateTime()._cached_bind_processor(dialect)
    fast = UTCDateTime()._cached_bind_processor(dialect)
    china = dt.timezone(dt.timedelta(hours=8))
    for value in (dt.datetime(2027, 6, 30, tzinfo=dt.UTC), dt.datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
                  dt.datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=china)):
        assert fast(value) == reference(value.astimezone(dt.UTC).replace(tzinfo=None))
    assert fast(dt.datetime(2028, 2, 29, 7, 30, tzinfo=china)) == "2028-02-28 23:30:00.000000"
    assert fast(None) is None
    with pytest.raises(ValueError, match="naive"):
        fast(dt.datetime(2027, 1, 1))


def test_json_columns_keep_huge_integers_and_odd_text(session):
    """A JSON column holding an integer beyond 64 bits reads back as that integer; a lone surrogate is stored
    as an escape (not as text the database would refuse)."""
    from engine import audit
    from engine.models import AuditEvent

    audit.record(session, "alice", "probe-big", data={"n": 2**70, "odd": "a\ud800"})
    commit(session)
    [row] = session.scalars(select(AuditEvent).where(AuditEvent.action == "probe-big")).all()
    session.expire(row)
    assert row.data == {"n": 2**70, "odd": "a\ud800"} and isinstance(row.data["n"], int)


def test_the_instance_lock_keeps_pending_changes(session, deploy):
    """runtime.lock reads the row with Core; changes made to the object before are flushed, not undone."""
    from engine import runtime

    deploy("eng_review.bpmn")
    inst, _task = _start_review(session, "F-9")
    row = runtime.lock(session, inst.id)
    row.title = "changed before the second lock"
    again = runtime.lock(session, inst.id)
    assert again is row and row.title == "changed before the second lock"
    commit(session)
    session.expire_all()
    assert instances.get_instance(session, inst.id).title == "changed before the second lock"


def test_long_digit_runs_are_found_in_text_and_bytes():
    """The 19-digit check that sends huge integers to the standard parser: runs only, in str or bytes."""
    assert db.has_long_number('{"n": 1180591620717411303424}') and db.has_long_number(b"x" + b"1" * 19)
    assert db.has_long_number("龙岗" + "9" * 19)
    assert not db.has_long_number("1" * 18 + "x" + "1" * 18) and not db.has_long_number('{"t": 1795488764.8095582}')
