"""Web login: hashed passwords, cookie flags, CSRF, login throttling, logout, language and local formats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from web_factories import csrf_of, gen_app, login

from engine import db, definitions
from web import create_app, i18n
from web.auth import LoginThrottle
from web.db import database
from web.models import LoginFailure, User

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def app(db_url):
    app = gen_app(db_url)
    yield app
    database(app).engine.dispose()
    definitions.clear_cache()


def test_passwords_are_stored_hashed_and_login_sets_a_safe_cookie(app):
    with db.unit_of_work(database(app).session_factory) as session:
        user = session.query(User).filter_by(username="claims_handler").one()
        assert user.password_hash.startswith("scrypt:") and "demo-claims_handler" not in user.password_hash
    client = app.test_client()
    r = login(client, "claims_handler")
    assert r.status_code == 302 and r.headers["Location"] == "/inbox"
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("idiflow_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    token = csrf_of(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    r = client.post("/login", base_url="https://localhost", data={
        "username": "owner", "password": "demo-owner", "csrf_token": token})
    assert "Secure" in next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("idiflow_session="))


def test_wrong_password_is_refused_and_five_failures_lock_the_name_for_a_while(app):
    client = app.test_client()
    for _ in range(5):
        r = login(client, "claims_handler", "wrong")
        assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    r = login(client, "claims_handler")  # even the right password waits now
    assert r.status_code == 429 and "请等待 5 分钟后再试" in r.get_data(as_text=True)
    assert login(client, "owner").status_code == 302  # another name from the same address is not blocked


def test_login_throttle_forgets_failures_after_the_window(app):
    now = [dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)]
    throttle = LoginThrottle(limit=2, window=60, now=lambda: now[0])
    key = ("ann", "127.0.0.1")
    with db.unit_of_work(database(app).session_factory) as session:
        throttle.fail(session, key)
        throttle.fail(session, key)
        assert throttle.wait_seconds(session, key) == 61
        assert throttle.wait_seconds(session, ("ann", "10.0.0.9")) == 0  # per (name, address)
        now[0] += dt.timedelta(seconds=61)
        assert throttle.wait_seconds(session, key) == 0
        throttle.fail(session, ("bob", "127.0.0.1"))  # also prunes ann's failures, now past the window
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


def test_failed_logins_are_counted_across_web_workers(app, db_url):
    """Two apps on one database stand for two gunicorn workers: failures on either count for both."""
    other = create_app({"IDIFLOW_ENV": "test", "IDIFLOW_DATABASE_URL": db_url})
    try:
        workers = [app.test_client(), other.test_client()]
        for attempt in range(5):
            assert login(workers[attempt % 2], "claims_handler", "wrong").status_code == 401
        for worker in workers:
            r = login(worker, "claims_handler")
            assert r.status_code == 429 and "请等待 5 分钟后再试" in r.get_data(as_text=True)
    finally:
        database(other).engine.dispose()


def test_a_successful_login_forgets_the_earlier_failures(app):
    client = app.test_client()
    for _ in range(4):
        login(client, "claims_handler", "wrong")
    assert login(client, "claims_handler").status_code == 302
    with db.unit_of_work(database(app).session_factory) as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0
    for _ in range(4):  # a fresh allowance of five
        assert login(app.test_client(), "claims_handler", "wrong").status_code == 401
    assert login(app.test_client(), "claims_handler").status_code == 302


def test_post_without_csrf_token_is_refused_even_when_logged_in(app):
    client = app.test_client()
    login(client, "administrator")
    r = client.post("/logout")
    assert r.status_code == 400 and "表单已过期" in r.get_data(as_text=True)
    assert client.get("/inbox").status_code == 200  # still logged in
    r = client.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 400


def test_logout_ends_the_session(app):
    client = app.test_client()
    login(client, "claims_handler")
    token = csrf_of(client.get("/inbox").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    r = client.get("/inbox")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_changing_a_password_ends_the_users_other_sessions(app):
    client = app.test_client()
    login(client, "claims_handler")
    with db.unit_of_work(database(app).session_factory) as session:
        session.query(User).filter_by(username="claims_handler").one().password_hash = "scrypt:changed"
    assert client.get("/inbox").status_code == 302


def test_demo_users_log_in_with_demo_role_password_and_land_on_their_page(app):
    for username, landing in (("owner", "/portal"), ("underwriter", "/inbox"), ("administrator", "/inbox")):
        r = login(app.test_client(), username, f"demo-{username}")
        assert r.headers["Location"] == landing, username


def test_chinese_by_default_and_english_switch_sticks(app):
    client = app.test_client()
    login(client, "claims_handler")
    assert "组内待认领" in client.get("/inbox").get_data(as_text=True)
    r = client.get("/lang/en?next=/inbox")
    assert r.status_code == 302 and r.headers["Location"] == "/inbox"
    assert "My groups' unclaimed" in client.get("/inbox").get_data(as_text=True)
    assert "My groups' unclaimed" in client.get("/inbox?tab=all").get_data(as_text=True)  # it sticks
    client.get("/lang/zh_CN")
    assert "组内待认领" in client.get("/inbox").get_data(as_text=True)


def test_switch_never_redirects_to_another_site(app):
    r = app.test_client().get("/lang/en?next=//evil.example/x")
    assert r.headers["Location"] == "/"


def test_dates_and_money_follow_chinese_conventions(app):
    with app.test_request_context("/"):
        assert i18n.local_date(dt.date(2029, 7, 4)) == "2029年7月4日"
        # 2029-07-03 16:30 UTC is already 4 July in Shanghai
        assert i18n.local_date(dt.datetime(2029, 7, 3, 16, 30, tzinfo=dt.UTC)) == "2029年7月4日"
        assert i18n.local_datetime(dt.datetime(2029, 7, 3, 16, 30, tzinfo=dt.UTC)) == "2029年7月4日 00:30"
        assert i18n.money(Decimal("1234.56")) == "¥1,234.56"
    with app.test_request_context("/", headers={"Cookie": f"{i18n.LANG_COOKIE}=en"}):
        assert i18n.local_date(dt.date(2029, 7, 4)) == "July 4, 2029"
