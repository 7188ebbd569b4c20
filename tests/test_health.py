"""/healthz answers without the database; /readyz is ready only with a reachable database at the newest
migration, and says what to do otherwise."""

from __future__ import annotations

from conftest import make_db
from sqlalchemy import text

from engine import db
from web import create_app
from web.db import database


def test_healthz_answers_without_login_or_database(tmp_path):
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/none/x.db"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(db_url):
    engine, _ = make_db(db_url)
    engine.dispose()
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url})
    r = app.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "ready"
    assert r.json["checks"]["migrations"]["database"] == r.json["checks"]["migrations"]["head"]
    database(app).engine.dispose()


def test_readyz_refuses_an_unmigrated_database_and_names_init_db(tmp_path):
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"})
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["database"]["ok"] is True
    assert r.json["checks"]["migrations"]["ok"] is False
    assert "idiflow init-db" in r.json["checks"]["migrations"]["error"]


def test_readyz_refuses_a_schema_behind_head(db_url):
    engine, _ = make_db(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001_old'"))
    engine.dispose()
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url})
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["migrations"]["database"] == ["0001_old"]
    database(app).engine.dispose()


def test_readyz_reports_an_unreachable_database():
    app = create_app({"IDIFLOW_ENV": "test",
                      "IDIFLOW_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"})
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["database"]["ok"] is False
    assert "OperationalError" in r.json["checks"]["database"]["error"]
    assert db.is_sqlite(database(app).engine) is False
