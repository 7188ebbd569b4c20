"""Browser-test fixtures: the app served on 127.0.0.1 (a free port, in a thread), Debian's chromium headless.

No browser is ever downloaded: Playwright drives /usr/bin/chromium (apt package `chromium`). Tests skip
when it or the Playwright package is missing, except on CI where they must run.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from conftest import in_ci  # noqa: E402
from web_factories import gen_app, gen_case, gen_deploy  # noqa: E402

from engine import clock, definitions  # noqa: E402
from web.db import database  # noqa: E402

CHROMIUM = os.environ.get("IDIFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--lang=zh-CN"]
SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
#: the inbox's clock: 2029-07-10 09:00 in Shanghai, so cases started a week or more earlier are overdue
NOW = dt.datetime(2029, 7, 10, 1, 0, tzinfo=dt.UTC)

CASES = [  # business key, title, days before NOW the case started
    ("CLM-20290701-0003", "3号楼2单元1202 卫生间渗水", 9),
    ("CLM-20290702-0011", "5号楼1单元0301 外墙开裂", 8),
    ("CLM-20290705-0002", "1号楼3单元0902 地下室渗漏", 5),
    ("CLM-20290706-0007", "7号楼1单元1501 阳台栏板裂缝", 4),
    ("CLM-20290708-0001", "2号楼2单元0602 空调系统故障", 2),
    ("CLM-20290709-0004", "6号楼1单元1102 给水管漏水", 1),
]


def _skip_or_fail(reason: str):
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright; per module, as only one sync Playwright may run at a time."""
    if not os.access(CHROMIUM, os.X_OK):
        _skip_or_fail(f"{CHROMIUM} is missing; `apt-get install -y chromium` (scripts/setup.sh --system)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is missing; `pip install -e .[test]`")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class LiveServer:
    """The app on a free port of 127.0.0.1, served by Werkzeug in a daemon thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live(tmp_path):
    """A fresh database with the demo users, the web claims diagram and a few cases; the app served live."""
    fixed = clock.FixedClock(NOW)
    previous = clock.install(fixed)
    try:
        app = gen_app(f"sqlite:///{tmp_path / 'browser.db'}")
        gen_deploy(app)
        for key, title, days in CASES:
            fixed.set(NOW - dt.timedelta(days=days))
            gen_case(app, key, title)
        fixed.set(NOW)
        with LiveServer(app) as server:
            yield server
        database(app).engine.dispose()
    finally:
        clock.install(previous)
        definitions.clear_cache()


@pytest.fixture
def page(browser):
    """A fresh browser context (its own cookies) with one page, desktop-sized."""
    context = browser.new_context(viewport={"width": 1360, "height": 860}, locale="zh-CN")
    yield context.new_page()
    context.close()


def shoot(page, name: str) -> Path:
    """Save a screenshot into docs/screenshots/ (committed, linked from the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def log_in(page, base: str, username: str, password: str | None = None) -> None:
    """Log in through the form."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password or f"demo-{username}")
    page.click("button[type=submit]")
    page.wait_for_load_state()

