"""Factories for the web tests (pages and browser): an app on a fresh database, users, a claims diagram."""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from pathlib import Path

from werkzeug.security import generate_password_hash

from engine import clock, db, definitions, instances
from handlers.models import Engagement, Party, Policy, Project
from handlers.roles import IDI_ROLES
from web import create_app
from web.accounts import create_user
from web.auth_tokens import issue_token
from web.db import database

WEBFLOWS = Path(__file__).parent / "webflows"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_bundle() -> dict[str, str]:
    """web_claim.bpmn and its forms as a deploy bundle."""
    files = {"web_claim.bpmn": (WEBFLOWS / "web_claim.bpmn").read_text()}
    for form in (WEBFLOWS / "forms").glob("*.json"):
        files[f"forms/{form.name}"] = form.read_text()
    return files


def gen_app(db_url: str, **config):
    """A web app on a migrated database, with one demo user per IDI role (password demo-<role>)."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    engine.dispose()
    app = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url, **config})
    with db.unit_of_work(database(app).session_factory) as session:
        for role, label in IDI_ROLES.items():
            gen_user(session, role, [role], label)
        gen_user(session, "handler2", ["claims_handler"], "李理赔")
        gen_user(session, "owner2", ["owner"], "王业主")
    return app


def gen_api_app(db_url: str, **config):
    """A web app on a migrated database with no users (API tests make their own with `token_headers`)."""
    from conftest import make_db  # migrates unless the URL is a copy of the session's migrated template

    engine, _ = make_db(db_url)
    engine.dispose()
    return create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url, **config})


def close_app(app) -> None:
    """Release an app's database and forget the specs parsed for it."""
    database(app).engine.dispose()
    definitions.clear_cache()


def token_headers(app, username: str, *roles: str) -> dict[str, str]:
    """Create a user with `roles` and return request headers carrying a fresh bearer token for them."""
    with db.unit_of_work(database(app).session_factory) as session:
        token = issue_token(session, create_user(session, username, list(roles)))
    return {"Authorization": f"Bearer {token}"}


@functools.cache
def password_hash(password: str) -> str:
    """A scrypt hash, computed once per password per test session (hashing is slow on purpose)."""
    return generate_password_hash(password)


def gen_user(session, username: str, roles: list[str], display_name: str = ""):
    """A user whose password is demo-<username>."""
    user = create_user(session, username, roles, None, display_name)
    user.password_hash = password_hash(f"demo-{username}")
    return user


def gen_deploy(app) -> None:
    """Deploy the web claims diagram."""
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, web_bundle(), "tester")


def inspect_bundle() -> dict[str, str]:
    """web_inspect.bpmn (one task in the risk_engineer lane) and its form as a deploy bundle."""
    return {"web_inspect.bpmn": (WEBFLOWS / "web_inspect.bpmn").read_text(),
            "forms/web_inspect.schema.json": (WEBFLOWS / "forms" / "web_inspect.schema.json").read_text()}


def gen_engaged_project(app, project_no: str, agency_code: str, status: str = "active") -> int:
    """A project with its policy and an engagement of the agency `agency_code` (in the domain tables), and a
    web_inspect case on it (business key = project number); returns the case's instance id."""
    with db.unit_of_work(database(app).session_factory) as session:
        definitions.deploy(session, inspect_bundle(), "tester")
        parties = {}
        for kind, code in (("developer", f"DEV-{project_no}"), ("contractor", f"CON-{project_no}"),
                           ("agency", agency_code)):
            parties[kind] = session.query(Party).filter_by(credit_code=code).first() or Party(
                credit_code=code, name=f"{kind} {code}", kind=kind)
            session.add(parties[kind])
        session.flush()
        project = Project(project_no=project_no, name=f"项目 {project_no}", in_longgang=True,
                          project_type="new_residential", construction_cost=Decimal("1000000.00"),
                          developer_id=parties["developer"].id, contractor_id=parties["contractor"].id,
                          registered_at=clock.now())
        session.add(project)
        session.flush()
        policy = Policy(policy_no=f"IDI-{project_no}", project_id=project.id, insurer_name="人保财险",
                        status="effective", premium_base=Decimal("1000000.00"), rate=Decimal("0.015"),
                        premium=Decimal("15000.00"))
        session.add(policy)
        session.flush()
        session.add(Engagement(policy_id=policy.id, agency_id=parties["agency"].id, status=status,
                               checked_at=clock.now() - dt.timedelta(days=1)))
        return instances.start_instance(session, "web_inspect", {}, "tester", business_key=project_no,
                                        title=f"{project_no} 风险巡查").id


def gen_case(app, business_key: str, title: str = "", data: dict | None = None) -> int:
    """Start a web_claim case; returns the instance id."""
    with db.unit_of_work(database(app).session_factory) as session:
        return instances.start_instance(session, "web_claim", data or {}, "tester", business_key=business_key,
                                        title=title or business_key).id


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    found = CSRF_RE.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def login(client, username: str, password: str | None = None):
    """Log a test client in (fetching the login page's CSRF token first)."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password or f"demo-{username}",
                                       "csrf_token": token})
