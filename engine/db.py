"""Database engines, sessions and schema upgrades (SQLite file by default, PostgreSQL by URL)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
import functools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.event.attr import _EmptyListener
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from .errors import conflict_from_database

DEFAULT_URL = "sqlite:///var/idiflow.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: SQLite has no SELECT ... FOR UPDATE; a writing unit of work takes the write lock at BEGIN instead.
_sqlite_begin = contextvars.ContextVar("sqlite_begin", default="BEGIN")


class Base(DeclarativeBase):
    """Declarative base shared by the engine's tables and the domain tables in handlers/."""


def database_url(url: str | None = None) -> str:
    """The configured database URL: argument, then IDIFLOW_DATABASE_URL, then the SQLite default."""
    return url or os.environ.get("IDIFLOW_DATABASE_URL") or DEFAULT_URL


def is_sqlite(bind) -> bool:
    """True when `bind` (engine, connection or session) talks to SQLite."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name == "sqlite"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and real transactions (savepoints work)."""
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        if _is_sqlite_file(make_url(url)):  # a file: QueuePool
            # Every thread holds one connection between units of work (SessionFactory), so the pool has no
            # fixed bound to wait on: SQLite connections live in this process and end with their threads.
            kwargs.setdefault("max_overflow", -1)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", json_loads)
    engine = create_engine(url, **kwargs)
    engine.cache_key = uuid.uuid4().hex  # keys per-database caches (parsed specs) safely across engines
    _cursor_savepoints(engine)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            CHECKPOINTER.watch(engine, database)
    return engine


def _cursor_savepoints(engine: Engine) -> None:
    """SAVEPOINT, RELEASE and ROLLBACK TO on the DBAPI cursor: SQLAlchemy compiles and runs each through its
    full execution path (a SAVEPOINT + RELEASE pair: ~280 us of CPU on PostgreSQL, ~75 us on the cursor),
    and the sweeper takes one per timer fire, the service call one per handler call. psycopg is told not to
    prepare them: every savepoint name would take a slot of its 100 prepared statements, evicting hot ones."""
    options = {"prepare": False} if engine.dialect.driver == "psycopg" else {}

    def run(connection: Connection, sql: str) -> None:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, **options)
        except Exception as err:  # noqa: BLE001 - re-raised by SQLAlchemy's handler, wrapped as its errors
            connection._handle_dbapi_exception(err, sql, (), cursor, None)
        finally:
            cursor.close()

    dialect = engine.dialect
    dialect.do_savepoint = lambda connection, name: run(connection, f"SAVEPOINT {name}")
    dialect.do_release_savepoint = lambda connection, name: run(connection, f"RELEASE SAVEPOINT {name}")
    dialect.do_rollback_to_savepoint = lambda connection, name: run(connection, f"ROLLBACK TO SAVEPOINT {name}")


def _is_sqlite_file(url) -> bool:
    """True for a SQLite database in a file (not in memory: SQLAlchemy gives those a connection per thread
    already, and closes them when the engine is disposed)."""
    database = url.database
    return (url.get_backend_name() == "sqlite" and bool(database) and database != ":memory:"
            and url.query.get("mode") != "memory")


def _json_default(value):
    """JSON columns (audit data, form values) hold Decimal and dates as text instead of failing."""
    if isinstance(value, decimal.Decimal | dt.date | dt.datetime | dt.time | uuid.UUID):
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: A run of 19 digits may be an integer beyond 64 bits, which orjson would read as a float. Found by mapping
#: digits to "9" and everything else to a space, then a plain substring search (a regex costs ~20x more).
_DIGITS_ONLY = bytes(57 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"9" * 19


def has_long_number(text: str | bytes) -> bool:
    """True if `text` holds a run of 19 or more digits."""
    data = text.encode() if isinstance(text, str) else text
    return _LONG_RUN in data.translate(_DIGITS_ONLY)


def json_loads(text: str | bytes):
    """Parse stored JSON exactly as the standard parser would: orjson, except for text it refuses (NaN or
    Infinity written by the standard encoder) and text with a 19-digit run (a huge integer stays an int)."""
    if not has_long_number(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _json_dumps(value) -> str:
    """The text of a JSON column: orjson (several times faster than the standard encoder, which matters on
    every insert), or the standard encoder for what orjson refuses (dict keys that are not strings, integers
    beyond 64 bits, lone surrogates: written as \\u escapes). Non-finite floats are written as null."""
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, default=_json_default)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, emit BEGIN so that SAVEPOINT and BEGIN IMMEDIATE work.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # The WAL is copied back into the database by the checkpointer thread, off the committing
        # request; the writer checkpoints itself only if the WAL outgrows this (a backstop, ~80 MB).
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cur.close()

    # The dialect's own BEGIN hook rather than a "begin" event: any connection-level event listener
    # puts every statement on SQLAlchemy's slower event-dispatch path (~50 us per unit of work).
    def _do_begin(dbapi_conn):
        dbapi_conn.driver_connection.execute(_sqlite_begin.get())

    engine.dialect.do_begin = _do_begin


log = logging.getLogger(__name__)

#: Pages the WAL may hold before a committing connection checkpoints it itself. With pauses between writes
#: the checkpointer (every CHECKPOINT_SECONDS) keeps the WAL far below this. Under back-to-back writes it
#: cannot: the WAL only starts over once a checkpoint has copied every frame, and the writer appends new
#: ones during the checkpoint's fsyncs; so the WAL grows to this bound and the writer then checkpoints
#: itself, paying two fsyncs (15-60 ms on the benchmark machine: one device flush each, whatever is left to
#: copy). A larger bound makes that rarer per write. At 30,000 pages (~120 MB, below the size limit below)
#: a burst of ~1,100 task starts and completions (~17.5 and ~8.6 pages each) fits between two restarts.
#: A larger WAL makes each page read search more of the WAL index; bench/load.py showed no cost for it
#: (embedded, 3 interleaved 30 s pairs: 20,000 pages 312 inbox req/s at 2.00 ms server CPU per request,
#: 30,000 pages 314 req/s at 2.01 ms; the run-to-run spread was ~15%).
WAL_BACKSTOP_PAGES = 30000
#: A WAL file larger than this is cut back to it when the WAL starts over. Above the backstop's ~120 MB, so
#: that the writer that reaches the backstop does not also truncate the file (with a limit below the
#: backstop it did: ~10 ms more per stall); a single huge transaction's WAL is still cut back.
WAL_SIZE_LIMIT_BYTES = 128 * 1024 * 1024
CHECKPOINT_SECONDS = 0.5


class Checkpointer:
    """Copies the write-ahead log of every SQLite file this process writes back into the database, from one
    daemon thread, every CHECKPOINT_SECONDS.

    SQLite's default is that the commit that fills the WAL past 1000 pages does this itself: one request in
    every fifty or so then pays for copying pages and an fsync (about 150 us per operation on average on
    the benchmark machine). A PASSIVE checkpoint from another connection does the same work without
    blocking writers or readers; durability is unchanged (synchronous=NORMAL: commits survive a crash of
    the application, the checkpoint only moves pages already in the log).
    """

    def __init__(self, interval: float = CHECKPOINT_SECONDS):
        self.interval = interval
        self._files: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> database path
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def watch(self, engine: Engine, path: str) -> None:
        """Checkpoint `path` for as long as `engine` lives (starting the thread in this process if needed)."""
        with self._lock:
            self._files[engine] = os.path.abspath(path)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # a forked child has no thread of its parent's: start its own
                self._thread = threading.Thread(target=self._run, name="idiflow-sqlite-checkpoint", daemon=True)
                self._thread.start()

    def unwatch(self, engine: Engine) -> None:
        """Stop checkpointing the file of `engine` (its connections then fall back to the backstop)."""
        with self._lock:
            self._files.pop(engine, None)

    def paths(self) -> set[str]:
        """The database files currently watched."""
        with self._lock:
            return set(self._files.values())

    def checkpoint(self, path: str) -> bool:
        """One PASSIVE checkpoint of `path`; False if the file is gone (it is then no longer watched)."""
        try:
            conn = sqlite3.connect(f"file:{pathname2url(path)}?mode=rw", uri=True, timeout=1.0,
                                   isolation_level=None)  # mode=rw: a vanished file is not created again
        except sqlite3.Error:
            return False
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as err:  # busy or locked now: the next round tries again
            log.debug("checkpoint of %s skipped: %s", path, err)
        finally:
            conn.close()
        return True

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            for path in self.paths():  # an engine's file stays watched for as long as the engine lives
                if os.path.exists(path):  # (a new database's file appears at its first connection)
                    self.checkpoint(path)

    def _after_fork_in_child(self) -> None:
        """A forked child has none of its parent's threads, and the lock may have been held at the fork."""
        self._lock = threading.Lock()
        self._thread = None
        if self._files:
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="idiflow-sqlite-checkpoint", daemon=True)
            self._thread.start()


CHECKPOINTER = Checkpointer()
os.register_at_fork(after_in_child=CHECKPOINTER._after_fork_in_child)


def _bind(p: dict, procs: list, positional: bool, fixed: dict):
    """The driver's parameters for one execution: each value through its type's bind processor."""
    if fixed:
        p = {**fixed, **p}
    if positional:
        return tuple([p[n] if proc is None else proc(p[n]) for n, proc in procs])
    return {n: p[n] if proc is None else proc(p[n]) for n, proc in procs}


class Prepared:
    """A hot statement, compiled once per dialect and run on the DBAPI cursor of the unit of work.

    The SQL and the bind processing (each column type's own processor: UTC datetimes, JSON) are exactly
    what `connection.execute(statement, params)` would use, and driver errors are raised as SQLAlchemy's
    (IntegrityError, OperationalError, disconnect handling) by the connection's own handler. What is
    skipped is SQLAlchemy's per-execution machinery (compile-cache lookup, execution context, result
    setup, cursor events), which on SQLite costs several times the statement itself: nothing in this
    project listens to cursor events. `keys` are the parameter names every execution passes (the columns
    an INSERT or UPDATE sets); a SELECT or an INSERT ... RETURNING also processes its result columns.
    """

    def __init__(self, statement, keys: Sequence[str] = ()):
        self.statement = statement
        self.keys = list(keys)
        self._by_dialect: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._results: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compiled(self, dialect):
        found = self._by_dialect.get(dialect)
        if found is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.keys or None)
            names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
            procs = [(n, compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names]
            # literal values in the statement (a LIMIT) are bound too: they keep their own value
            fixed = {n: compiled.binds[n].effective_value for n in names if not compiled.binds[n].required}
            results = [col[3] for col in compiled._result_columns]  # (key, name, objects, type)
            found = (compiled.string, procs, compiled.positional, results, fixed)
            self._by_dialect[dialect] = found
        return found

    def _cursor(self, connection: Connection, params):
        sql, procs, positional, _results, fixed = self._compiled(connection.dialect)
        if not connection.in_transaction():
            connection.begin()  # what connection.execute would do (autobegin)
        many = isinstance(params, list)
        values = [_bind(p, procs, positional, fixed) for p in params] if many else \
            _bind(params, procs, positional, fixed)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            if many:
                cursor.executemany(sql, values)
            else:
                cursor.execute(sql, values)
        except Exception as err:  # noqa: BLE001 - re-raised by SQLAlchemy's handler, wrapped as its errors
            connection._handle_dbapi_exception(err, sql, values, cursor, None)
        return cursor

    def execute(self, connection: Connection, params: dict | list[dict]) -> int:
        """Run with one parameter dict (execute) or a list of them (executemany); the rowcount."""
        cursor = self._cursor(connection, params)
        count = cursor.rowcount
        cursor.close()
        return count

    def last_row_id(self, connection: Connection, params: dict) -> int:
        """Run an INSERT and return the rowid SQLite gave the new row (no RETURNING result to process)."""
        cursor = self._cursor(connection, params)
        row_id = cursor.lastrowid
        cursor.close()
        return row_id

    def _processors(self, dialect, cursor) -> list:
        """Each result column's type processor (None: the driver's value as is), as a CursorResult would apply
        it; found once per dialect (the cursor's description, which psycopg builds anew on every call, is read
        only then)."""
        processors = self._results.get(dialect)
        if processors is None:
            types = self._compiled(dialect)[3]
            processors = self._results[dialect] = [
                type_._cached_result_processor(dialect, desc[1]) for type_, desc in zip(types, cursor.description,
                                                                                         strict=True)]
        return processors

    def first(self, connection: Connection, params: dict) -> tuple | None:
        """Run a SELECT (or INSERT ... RETURNING) and return its first row, result types processed."""
        cursor = self._cursor(connection, params)
        try:
            row = cursor.fetchone()
            if row is None:
                return None
            processors = self._processors(connection.dialect, cursor)
        finally:
            cursor.close()
        return tuple([value if proc is None or value is None else proc(value)
                      for value, proc in zip(row, processors, strict=True)])

    def all(self, connection: Connection, params: dict) -> list[tuple]:
        """Run a SELECT and return all its rows, result types processed."""
        cursor = self._cursor(connection, params)
        try:
            rows = cursor.fetchall()
            if not rows:
                return []
            processors = self._processors(connection.dialect, cursor)
        finally:
            cursor.close()
        active = [(at, proc) for at, proc in enumerate(processors) if proc is not None]
        if not active:
            return [tuple(row) for row in rows]
        found = []
        for row in rows:
            values = list(row)
            for at, proc in active:
                if values[at] is not None:
                    values[at] = proc(values[at])
            found.append(tuple(values))
        return found


def adopt(session: Session, cls, values: dict):
    """The session's object for a row read with Core: refreshed if the session holds it, else attached.

    Equivalent to an ORM load with populate_existing for rows whose every column is in `values` (and
    without relationships), minus the ORM's per-query loading machinery: a new object is attached the way
    the ORM's own loader does it (state dict, identity key, identity map), as a clean persistent object.
    """
    mapper = cls.__mapper__
    if not mapper.configured:  # no ORM query has run in this process yet: set the mappers up as one would
        mapper.registry.configure()
    key = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    obj = session.identity_map.get(key)
    if obj is None:
        obj = mapper.class_manager.new_instance()
        state = instance_state(obj)
        state.dict.update(values)
        state.key = key
        state.session_id = session.hash_key
        session.identity_map._add_unpresent(state, key)
    else:
        set_committed(obj, values)
    return obj


def set_committed(obj, values: dict) -> None:
    """Tell a persistent object the column values its row now holds, as `set_committed_value` does for one
    (value in the state dict, no pending change), for all of them in one step. Column attributes only."""
    state = instance_state(obj)
    state.dict.update(values)
    state._commit(state.dict, list(values))


def flush_pending(session: Session) -> None:
    """Flush pending ORM changes, as the ORM's autoflush does before a query (Core reads skip it)."""
    if session.dirty or session.new or session.deleted:
        session.flush()


_COLUMN_KEYS: dict[type, list[str]] = {}


def read_objects(session: Session, statement: Prepared, params: dict, *classes) -> list | None:
    """One row read with a prepared statement, attached to the session as one object per class (their
    columns in table order, one class after the other); None when there is no row. Pending ORM changes are
    flushed first, so that the read cannot undo them."""
    flush_pending(session)
    found = statement.first(session.connection(), params)
    if found is None:
        return None
    objects, at = [], 0
    for cls in classes:
        keys = _COLUMN_KEYS.get(cls)
        if keys is None:
            keys = _COLUMN_KEYS[cls] = [c.key for c in cls.__table__.columns]
        objects.append(adopt(session, cls, dict(zip(keys, found[at:at + len(keys)], strict=True))))
        at += len(keys)
    return objects


@contextlib.contextmanager
def write_intent() -> Iterator[None]:
    """Transactions begun inside this block take SQLite's write lock at once (no-op elsewhere)."""
    token = _sqlite_begin.set("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        _sqlite_begin.reset(token)


class HeldSession(Session):
    """The session a thread keeps between units of work on SQLite, bound to a connection it keeps too.

    Closing it ends its transaction (a rollback if one is open) and empties it; the factory hands it out
    again unless its user left something on it (`info` entries or event listeners of its own).
    """

    #: None: not handed out by a factory; False: in use; True: closed, ready for the thread's next call
    idle: bool | None = None
    holder: _Held | None = None

    def close(self) -> None:
        forget_after_commit(self)
        try:
            super().close()
        finally:
            if self.idle is False:
                self.idle = True

    def reusable(self) -> bool:
        """True if closed and as clean as a new session (nothing in `info`, no listeners of its own)."""
        if not self.idle or self.info:
            return False
        # Each event of the session's own dispatcher is an _EmptyListener (the class's listeners only) until
        # someone listens on this session. A type check, not bool(): that is a Python call per event.
        dispatch = self.dispatch
        for name in dispatch._event_names:
            if getattr(dispatch, name).__class__ is not _EmptyListener:
                return False
        return True


class _Held:
    """One thread's held SQLite connection and session. The connection goes back to the pool when the
    engine is disposed (if idle), when the thread or the factory is gone, or at exit; never in a forked
    child (a SQLite connection must not cross a fork). The thread's local, its session (while in use) and
    the factory's weak registry refer to it, so that it goes with its thread."""

    def __init__(self, engine: Engine, options: dict, generation: int):
        self.generation = generation  # the engine's dispose count when connected
        self.pid = os.getpid()
        self.options = options
        self.connection: Connection | None = engine.connect()
        self.session: HeldSession | None = self.new_session()
        self.finalizer = weakref.finalize(self, _release, self.connection, self.pid)

    def new_session(self) -> HeldSession:
        """A session on the held connection (a new one replaces a session left unclean). The session keeps
        its holder alive while someone uses it, even if the factory and the thread are gone."""
        session = HeldSession(bind=self.connection, join_transaction_mode="control_fully", **self.options)
        session.idle = True
        session.holder = self
        self.session = session
        return session

    def usable(self, generation: int) -> bool:
        """True if this connection may serve the next unit of work: not released, not from a disposed
        pool, and with no execution options left on it (an isolation level would outlive its unit)."""
        return (self.connection is not None and self.generation == generation and self.pid == os.getpid()
                and not self.connection.get_execution_options())

    def release(self) -> None:
        """Close the session, return the connection to its pool and drop both (and so the engine)."""
        try:
            if self.session is not None and self.pid == os.getpid():
                self.session.close()
        finally:
            self.finalizer()
            if self.session is not None:
                self.session.holder = None
            self.connection = self.session = None


def _release(connection: Connection, pid: int) -> None:
    """Return a held connection to its pool (ending any transaction), in the process that opened it only."""
    if os.getpid() == pid:
        connection.close()


def _engine_disposed(factory_ref: weakref.ref, _engine) -> None:
    factory = factory_ref()
    if factory is not None:
        factory._disposed()


class SessionFactory(sessionmaker):
    """A sessionmaker whose sessions never expire objects on commit (views read after commit).

    On SQLite every thread keeps one session on one connection of its own and gets it back from each call
    while it is not in use (a unit of work or a request at a time): a checkout from the pool, a new
    Session and its teardown cost more than a small transaction itself (~55 us of a ~0.8 ms task
    completion). A second session while the thread's own is open (or any call with options) is a fresh one
    from the pool, as before. PostgreSQL sessions always come from the pool: there, a held connection
    would outlive a server restart unnoticed and hold a server process per thread.
    """

    def __init__(self, engine: Engine):
        super().__init__(bind=engine, expire_on_commit=False, autoflush=True)
        self.hold = _is_sqlite_file(engine.url)
        self._local = threading.local()
        self._generation = 0
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()  # every thread's, for dispose
        self._lock = threading.Lock()
        _FACTORIES.add(self)
        if self.hold:  # (a weak reference: the engine's listeners must not keep the factory alive)
            event.listen(engine, "engine_disposed", functools.partial(_engine_disposed, weakref.ref(self)))

    def _disposed(self) -> None:
        """engine.dispose(): idle held connections go back now; every thread connects anew on its next call."""
        with self._lock:
            self._generation += 1
            idle = [held for held in self._held if held.session is not None and held.session.idle]
            for held in idle:
                held.release()

    def __call__(self, **local_kw) -> Session:
        if not self.hold or local_kw:
            return super().__call__(**local_kw)
        held = getattr(self._local, "held", None)
        if held is not None and held.session is not None and not held.session.idle:
            return super().__call__()  # the thread's own session is open: a second one, from the pool
        with self._lock:
            if held is None or not held.usable(self._generation):
                if held is not None:
                    held.release()  # released already, from a disposed pool, or left with options
                options = {k: v for k, v in self.kw.items() if k != "bind"}
                held = self._local.held = _Held(self.kw["bind"], options, self._generation)
                self._held.add(held)
            session = held.session if held.session.reusable() else held.new_session()
            session.idle = False
        return session


_FACTORIES: weakref.WeakSet[SessionFactory] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child starts with fresh locks (another thread may have held one at the fork); held
    connections inherited from the parent are never used there (`_Held.usable` compares the pid)."""
    for factory in list(_FACTORIES):
        factory._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def make_session_factory(engine: Engine) -> SessionFactory:
    """The session factory of an engine (see SessionFactory)."""
    return SessionFactory(engine)


_AFTER_COMMIT = "_idiflow_after_commit"


def after_commit(session: Session, key, callback: Callable[[], Any]) -> None:
    """Call `callback` once the session's transaction has committed (through `commit` below); a later
    callback under the same key replaces it. A rollback or close forgets them all."""
    callbacks = session.__dict__.get(_AFTER_COMMIT)
    if callbacks is None:
        callbacks = session.__dict__[_AFTER_COMMIT] = {}
    callbacks[key] = callback


def forget_after_commit(session: Session) -> None:
    """Drop the callbacks registered by `after_commit` (the transaction did not commit)."""
    session.__dict__.pop(_AFTER_COMMIT, None)


def rollback(session: Session) -> None:
    """Roll the session's transaction back, forgetting what `after_commit` registered for it."""
    forget_after_commit(session)
    session.rollback()


def commit(session: Session) -> None:
    """Commit the session's transaction, then run what `after_commit` registered for it. The work is
    committed by then: a callback that fails is logged, never raised to the caller."""
    session.commit()
    callbacks = session.__dict__.pop(_AFTER_COMMIT, None)
    if callbacks:
        for callback in callbacks.values():
            try:
                callback()
            except Exception:  # noqa: BLE001 - see the docstring
                log.exception("a callback after a commit failed (the commit stands)")


@contextlib.contextmanager
def unit_of_work(factory: sessionmaker[Session], write: bool = True) -> Iterator[Session]:
    """One session, one commit at the end, rollback on any error. A PostgreSQL deadlock or serialization
    failure (the database undid the transaction whole) is raised as InstanceConflict, as a lost race is."""
    token = _sqlite_begin.set("BEGIN IMMEDIATE") if write else None  # write_intent, inline (hot path)
    try:
        session = factory()
        try:
            yield session
            commit(session)
        except BaseException as err:
            rollback(session)
            conflict = conflict_from_database(err)
            if conflict is None:
                raise
            log.warning("the database undid a unit of work for a concurrent one: %s", err)
            raise conflict from err
        finally:
            session.close()
    finally:
        if token is not None:
            _sqlite_begin.reset(token)


def alembic_config(url: str):
    """An Alembic config pointing at our migrations folder and `url`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
