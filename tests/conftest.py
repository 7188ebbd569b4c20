"""Shared fixtures: a fresh database per test, a no-commit guard, bundles from tests/bpmn, PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import event

from engine import clock, db, definitions, roles

BPMN_DIR = Path(__file__).parent / "bpmn"

TEST_ROLES = {"reviewer": "Reviewer", "supervisor": "Supervisor", "clerk": "Clerk"}


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


def make_db(url: str):
    """An upgraded engine and its session factory."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    return engine, db.make_session_factory(engine)


@pytest.fixture
def db_url(tmp_path):
    """A fresh SQLite file per test."""
    return f"sqlite:///{tmp_path}/test.db"


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
        if not self.allowed:
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
        session.commit()
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
