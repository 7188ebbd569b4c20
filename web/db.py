"""The database as the web app sees it: one engine per app, one session per request."""

from __future__ import annotations

import functools
import select
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import db


@dataclass
class Database:
    """What `create_app` stores in `app.extensions["idiflow"]`."""

    engine: Engine
    session_factory: sessionmaker[Session]


def database(app: Flask | None = None) -> Database:
    """The app's database handle."""
    return (app or current_app).extensions["idiflow"]


def get_session() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = database().session_factory()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's session; an uncommitted transaction is rolled back."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def socket_ping(dbapi_connection) -> bool:
    """Pool pre-ping without a round trip: an idle PostgreSQL connection has nothing to read.

    A server that restarted or ended the session has sent its goodbye (or closed the socket), which makes
    the socket readable; False then makes the pool drop it (and every older connection) and connect anew.
    The default ping sends `;` to the server and waits for the answer, once for every request.
    """
    try:
        if dbapi_connection.closed or dbapi_connection.broken:
            return False
        poller = select.poll()
        poller.register(dbapi_connection.pgconn.socket, select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except Exception:  # noqa: BLE001 - whatever went wrong, this connection is not to be trusted
        return False


def init_app(app: Flask) -> None:
    """Create the engine and session factory for the configured URL and close sessions at teardown."""
    engine = db.make_engine(app.config["IDIFLOW_DATABASE_URL"])
    if engine.dialect.name == "postgresql":
        engine.dialect.do_ping = socket_ping  # this engine's own dialect object
    app.extensions["idiflow"] = Database(engine, db.make_session_factory(engine))
    app.teardown_appcontext(close_session)


def reads_only(view: Callable) -> Callable:
    """Mark a view that only reads: on PostgreSQL its statements run without a transaction (autocommit).

    That saves the BEGIN and ROLLBACK round trips of a hot read; each statement still sees committed data.
    SQLite keeps its transactions (they cost no round trip there, and its BEGIN is handled by engine.db).
    """
    view.reads_only = True
    return view


def begin_read(session: Session) -> None:
    """Take the session's connection in autocommit mode, on PostgreSQL; call before its first statement."""
    if not session.in_transaction() and not db.is_sqlite(session):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def begin_write(session: Session) -> None:
    """Begin the session's transaction as a writer (SQLite takes its write lock at BEGIN); idempotent."""
    if not session.in_transaction():
        with db.write_intent():
            session.connection()


def commits(view: Callable) -> Callable:
    """Make a view one unit of work: a writing transaction, one commit when the view returns."""

    @functools.wraps(view)
    def unit_of_work(*args, **kwargs):
        session = get_session()
        begin_write(session)
        result = view(*args, **kwargs)
        db.commit(session)
        return result

    return unit_of_work
