"""Held SQLite sessions (engine.db.SessionFactory): each thread reuses one session on one connection between
units of work, and nothing of one unit of work reaches the next."""

from __future__ import annotations

import gc
import os
import threading
import weakref

import pytest
from sqlalchemy import event, func, select

from engine import audit, db
from engine.models import AuditEvent


def _factory(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'held.db'}")
    db.upgrade(engine)
    return engine, db.make_session_factory(engine)


def _events(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_thread_gets_its_session_back_after_closing_it(tmp_path):
    engine, factory = _factory(tmp_path)
    with db.unit_of_work(factory) as first:
        audit.record(first, "alice", "test")
    with db.unit_of_work(factory) as second:
        audit.record(second, "alice", "test")
    assert second is first and isinstance(first, db.HeldSession)
    assert engine.pool.checkedout() == 1  # the thread's held connection, nothing else
    assert _events(factory) == 2
    engine.dispose()


def test_a_second_session_while_the_first_is_open_comes_from_the_pool(tmp_path):
    engine, factory = _factory(tmp_path)
    with factory() as outer:
        outer.connection()
        with factory() as inner:
            assert inner is not outer and not isinstance(inner, db.HeldSession)
            inner.connection()
            assert engine.pool.checkedout() == 2
        assert engine.pool.checkedout() == 1
    assert factory() is outer  # closed: handed out again
    engine.dispose()


def test_uncommitted_writes_are_rolled_back_before_the_session_is_reused(tmp_path):
    engine, factory = _factory(tmp_path)
    session = factory()
    audit.record(session, "mallory", "never committed")
    session.close()
    with db.unit_of_work(factory) as again:
        assert again is session
        assert again.scalar(select(func.count()).select_from(AuditEvent)) == 0
    engine.dispose()


def test_a_session_left_with_info_or_listeners_is_not_handed_out_again(tmp_path):
    engine, factory = _factory(tmp_path)
    tagged = factory()
    tagged.info["guard"] = object()
    tagged.close()
    fresh = factory()
    assert fresh is not tagged and isinstance(fresh, db.HeldSession) and not fresh.info
    event.listen(fresh, "before_commit", lambda _s: None)
    fresh.close()
    third = factory()
    assert third is not fresh and third is not tagged
    third.close()
    assert engine.pool.checkedout() == 1  # all three on the one held connection
    engine.dispose()


def test_dispose_makes_every_thread_connect_anew(tmp_path):
    engine, factory = _factory(tmp_path)
    with factory() as before:
        held_connection = before.connection()
    engine.dispose()
    with factory() as after:
        assert after is not before and after.connection() is not held_connection
    engine.dispose()


def test_a_finished_thread_returns_its_connection_to_the_pool(tmp_path):
    engine, factory = _factory(tmp_path)

    def work():
        with db.unit_of_work(factory) as session:
            audit.record(session, "bob", "from a thread")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
        t.join()
    gc.collect()
    assert engine.pool.checkedout() == 0
    assert _events(factory) == 3
    engine.dispose()


def test_postgres_sessions_are_never_held():
    engine = db.make_engine("postgresql://nobody@127.0.0.1:1/none")  # never connects in this test
    factory = db.make_session_factory(engine)
    first, second = factory(), factory()
    assert not factory.hold and first is not second and not isinstance(first, db.HeldSession)
    first.close()
    second.close()
    engine.dispose()


def test_a_forked_child_never_uses_the_parents_held_connection(tmp_path):
    engine, factory = _factory(tmp_path)
    with factory() as parent_session:
        parent_connection = parent_session.connection()
    pid = os.fork()
    if pid == 0:  # the child: a session of its own, on a connection of its own
        ok = False
        try:
            with factory() as child_session:
                ok = child_session is not parent_session and child_session.connection() is not parent_connection
                ok = ok and child_session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with factory() as again:  # the parent's own is untouched
        assert again is parent_session and again.connection() is parent_connection
    engine.dispose()


def test_dispose_returns_idle_connections_of_other_threads_and_lets_the_engine_go(tmp_path):
    """A thread that used the factory and lives on (a web worker thread) does not keep the connection, nor
    the engine and its files, after dispose (a sandbox reset drops its engine this way)."""
    engine, factory = _factory(tmp_path)
    used, finish = threading.Event(), threading.Event()
    handed = [factory]

    def worker():
        work = handed.pop()
        with db.unit_of_work(work) as session:
            audit.record(session, "bob", "from a thread")
        del work, session  # as a request ends: nothing of it stays in the thread but its held connection
        used.set()
        finish.wait(timeout=10)

    thread = threading.Thread(target=worker)
    thread.start()
    used.wait(timeout=10)
    (held,) = list(factory._held)
    engine.dispose()
    assert held.connection is None and held.session is None
    engine_ref = weakref.ref(engine)
    del engine, factory, held
    gc.collect()
    assert engine_ref() is None, "the disposed engine is still referenced"
    finish.set()
    thread.join()


def test_execution_options_left_on_the_connection_do_not_reach_the_next_unit_of_work(tmp_path):
    engine, factory = _factory(tmp_path)
    with factory() as first:
        first.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    with factory() as second:
        assert not second.connection().get_execution_options()
    assert second is not first
    engine.dispose()


def test_more_threads_than_the_pool_size_each_hold_a_connection(tmp_path):
    """Twenty threads holding their sessions at once (the pool's default bound is 5 + 10) never wait."""
    engine, factory = _factory(tmp_path)
    ready, release = threading.Barrier(21), threading.Event()
    errors: list[BaseException] = []

    def hold():
        try:
            with factory() as session:
                session.connection()
                ready.wait(timeout=10)
                release.wait(timeout=10)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=hold) for _ in range(20)]
    for t in threads:
        t.start()
    ready.wait(timeout=10)
    assert engine.pool.checkedout() == 20
    release.set()
    for t in threads:
        t.join()
    gc.collect()
    assert not errors and engine.pool.checkedout() == 0
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_databases_keep_sqlalchemys_own_pool(url):
    """Only file databases get an unbounded QueuePool and held sessions; in-memory ones keep the pool
    SQLAlchemy picks (a connection per thread, closed by dispose) and plain sessions."""
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    with factory() as session:
        assert session.scalar(select(1)) == 1
    assert not factory.hold and not isinstance(session, db.HeldSession)
    engine.dispose()


def test_set_committed_leaves_the_object_clean_with_the_new_values(tmp_path):
    """db.set_committed is set_committed_value for several columns at once: new values, nothing to flush."""
    from sqlalchemy import inspect

    engine, factory = _factory(tmp_path)
    with db.unit_of_work(factory) as session:
        audit.record(session, "alice", "test")
    with factory() as session:
        event_row = session.scalars(select(AuditEvent)).one()
        event_row.actor = "pending change"  # an unflushed change of one column is replaced as well
        db.set_committed(event_row, {"actor": "bob", "action": "changed"})
        assert (event_row.actor, event_row.action) == ("bob", "changed")
        assert not session.is_modified(event_row) and not inspect(event_row).attrs.actor.history.has_changes()
    engine.dispose()


def test_a_session_outlives_the_factory_that_handed_it_out(tmp_path):
    """`with make_session_factory(engine)() as session:` drops the factory at once; the session in use keeps
    its held connection (a fixture and scripts do this)."""
    engine, factory = _factory(tmp_path)
    del factory
    with db.make_session_factory(engine)() as session:
        gc.collect()
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    engine.dispose()
