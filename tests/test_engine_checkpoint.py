"""SQLite's write-ahead log is checkpointed by a background thread, not by the request that commits."""

from __future__ import annotations

import os
import time

from sqlalchemy import text

from engine import db


def _pages_in_database(path) -> int:
    """Pages the database file itself holds (the WAL's pages reach it only when checkpointed)."""
    return os.path.getsize(path) // 4096


def test_writers_leave_the_wal_to_the_checkpointer(tmp_path):
    """A committing connection no longer checkpoints every 1000 pages; the checkpointer copies them back."""
    path = tmp_path / "space dir" / "ck.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        assert str(path) in db.CHECKPOINTER.paths()
        db.CHECKPOINTER.unwatch(engine)  # the thread would race the assertions below: checkpoint by hand
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == db.WAL_BACKSTOP_PAGES
            conn.execute(text("CREATE TABLE t (x TEXT)"))
        for _ in range(30):  # ~1500 pages: past SQLite's default autocheckpoint of 1000
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 3000} for _ in range(50)])
        assert os.path.getsize(f"{path}-wal") > 1000 * 4096
        assert _pages_in_database(path) < 10  # nobody copied them back on the request path
        assert db.CHECKPOINTER.checkpoint(str(path)) is True
        assert _pages_in_database(path) > 1000
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1500
    finally:
        engine.dispose()


def test_the_thread_checkpoints_a_watched_database(tmp_path):
    """Within a few intervals of a commit, the thread has copied the whole WAL back."""
    path = tmp_path / "bg.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        time.sleep(3 * db.CHECKPOINT_SECONDS)  # the file does not exist yet: it stays watched all the same
        assert not path.exists() and str(path) in db.CHECKPOINTER.paths()
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 3000} for _ in range(100)])
        deadline = time.monotonic() + 20 * db.CHECKPOINT_SECONDS
        while _pages_in_database(path) < 100 and time.monotonic() < deadline:
            time.sleep(db.CHECKPOINT_SECONDS / 5)
        assert _pages_in_database(path) >= 100
    finally:
        engine.dispose()


def test_a_vanished_database_is_not_created_again(tmp_path):
    """Checkpointing a file that was deleted (a test's temporary database) reports it and creates nothing."""
    gone = tmp_path / "gone.db"
    assert db.CHECKPOINTER.checkpoint(str(gone)) is False
    assert not gone.exists()


def test_a_forked_child_checkpoints_with_its_own_thread(tmp_path):
    """After fork (gunicorn workers), the child gets a fresh lock and its own checkpoint thread."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'fork.db'}")
    try:
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            ok = db.CHECKPOINTER._thread is not None and db.CHECKPOINTER._thread.is_alive() \
                and db.CHECKPOINTER._lock.acquire(timeout=1)
            os._exit(0 if ok else 1)
        _pid, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        engine.dispose()
