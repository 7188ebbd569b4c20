"""Shared fixtures: a fresh database per test, a no-commit guard, bundles from tests/bpmn, PostgreSQL.

Every test that uses `db_url` (and so `factory`, `session`, `deploy`) runs on each backend: SQLite and a
real PostgreSQL that the session starts itself (tests/pg.py). `--backend sqlite` (or IDIFLOW_TEST_BACKENDS)
narrows that; `@pytest.mark.backends("sqlite")` pins one test; `-m "not postgres"` skips the PostgreSQL runs.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event

from engine import clock, db, definitions, roles

BPMN_DIR = Path(__file__).parent / "bpmn"

TEST_ROLES = {"reviewer": "Reviewer", "supervisor": "Supervisor", "clerk": "Clerk"}

BACKENDS = ("sqlite", "postgres")


def in_ci() -> bool:
    """True on CI, where the PostgreSQL tests must run rather than be skipped."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--backend", action="append", choices=BACKENDS, default=None,
                     help="database backend(s) for tests that use db_url/factory/session (default: both)")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test only on these database backends")


def _selected_backends(config) -> list[str]:
    chosen = config.getoption("--backend") or os.environ.get("IDIFLOW_TEST_BACKENDS", "").split(",")
    chosen = [b.strip() for b in chosen if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {sorted(unknown)}; use {' or '.join(BACKENDS)}")
    return chosen or list(BACKENDS)


def pytest_generate_tests(metafunc):
    """Parametrize every test that reaches `backend` over the selected backends (postgres marked)."""
    if "backend" not in metafunc.fixturenames:
        return
    if any("backend" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        return
    names = _selected_backends(metafunc.config)
    pinned = metafunc.definition.get_closest_marker("backends")
    if pinned:
        names = [n for n in names if n in pinned.args]
    elif metafunc.definition.get_closest_marker("postgres"):
        names = [n for n in names if n == "postgres"]
    params = [pytest.param(n, marks=[pytest.mark.postgres] if n == "postgres" else [], id=n) for n in names]
    if not params:
        params = [pytest.param("none", marks=pytest.mark.skip(reason="no selected backend fits this test"),
                               id="none")]
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request) -> str:
    """The database backend of this test run: 'sqlite' or 'postgres'."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def pg_server():
    """The session's own PostgreSQL server (started on first use, stopped at the end)."""
    import pg

    try:
        server = pg.PostgresServer()
    except pg.PostgresUnavailable as err:
        if in_ci():
            pytest.fail(f"CI=true but {err}", pytrace=False)
        pytest.skip(str(err))
    atexit.register(server.stop)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server) -> str:
    """A database migrated once with engine.db.upgrade; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    name = pg_server.create_database()
    engine = db.make_engine(pg_server.url(name))
    db.upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture(autouse=True)
def _test_roles():
    """Roles the test diagrams use as lanes."""
    roles.register_roles(TEST_ROLES)
    yield


@pytest.fixture
def fixed_clock():
    """A clock frozen at 2027-03-01 09:00 Asia/Shanghai that tests move by hand."""
    fc = clock.FixedClock(dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC))
    previous = clock.install(fc)
    yield fc
    clock.install(previous)


#: URLs handed out already migrated (copies of a session template): `make_db`/`factory` skip the upgrade.
MIGRATED_URLS: set[str] = set()


def make_db(url: str):
    """An upgraded engine and its session factory."""
    engine = db.make_engine(url)
    if url not in MIGRATED_URLS:
        db.upgrade(engine)
    return engine, db.make_session_factory(engine)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy (~1 ms instead of ~180 ms)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def db_url(request, backend, tmp_path):
    """A fresh migrated database per test: a copy of the SQLite template, or a PostgreSQL TEMPLATE copy."""
    if backend != "postgres":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "test.db")
        url = f"sqlite:///{tmp_path}/test.db"
        MIGRATED_URLS.add(url)
        yield url
        MIGRATED_URLS.discard(url)
        return
    server = request.getfixturevalue("pg_server")
    name = server.create_database(template=request.getfixturevalue("pg_template"))
    url = server.url(name)
    MIGRATED_URLS.add(url)
    yield url
    MIGRATED_URLS.discard(url)
    server.drop_database(name)


@pytest.fixture
def factory(db_url):
    """Session factory bound to a fresh, migrated database."""
    engine, fac = make_db(db_url)
    yield fac
    engine.dispose()
    definitions.clear_cache()


class CommitGuard:
    """Fails any commit that the test did not ask for: engine functions must never commit."""

    def __init__(self, session):
        self.allowed = False
        event.listen(session, "before_commit", self._check)

    def _check(self, session):
        # Releasing a SAVEPOINT (a handler's begin_nested) also fires before_commit; it is not a commit.
        if not self.allowed and not session.in_nested_transaction():
            raise AssertionError("an engine function committed; only the caller may commit")


@pytest.fixture
def session(factory):
    """A session for one test; call `commit(session)` to commit like a caller would."""
    s = factory()
    s.info["guard"] = CommitGuard(s)
    yield s
    s.rollback()
    s.close()


def commit(session) -> None:
    """Commit as the caller of a unit of work."""
    guard = session.info.get("guard")
    if guard:
        guard.allowed = True
    try:
        db.commit(session)  # as engine.db.unit_of_work does (workflows are kept once committed: engine/live.py)
    finally:
        if guard:
            guard.allowed = False


def bundle(*names: str) -> dict[str, str]:
    """Files from tests/bpmn (and every form schema in tests/bpmn/forms) as a deploy bundle."""
    files = {name: (BPMN_DIR / name).read_text() for name in names}
    for form in (BPMN_DIR / "forms").glob("*.json"):
        files[f"forms/{form.name}"] = form.read_text()
    return files


@pytest.fixture
def deploy(session):
    """Deploy test diagrams by file name and commit; returns the deployed versions."""

    def _deploy(*names: str):
        result = definitions.deploy(session, bundle(*names), "tester")
        commit(session)
        return result

    return _deploy
