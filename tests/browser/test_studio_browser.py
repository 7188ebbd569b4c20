"""The studio and the cockpit in Debian's chromium (headless, never downloaded): edit, lint in place,
deploy, run the sandbox past a timer; the cockpit highlights an instance waiting in a call activity."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent))
from test_cockpit import studio_bundle, unit  # noqa: E402
from web_factories import gen_app  # noqa: E402

from engine import definitions, instances  # noqa: E402
from engine.cli import collect_files  # noqa: E402
from engine.models import ProcessDefinition  # noqa: E402
from web.drafts import StudioDraft  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


@pytest.fixture
def live(db_url, tmp_path):
    """The web app served on 127.0.0.1 in a thread, with the wait diagram and the call diagrams deployed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh --system)")
    app = gen_app(db_url, IDIFLOW_SANDBOX_DIR=str(tmp_path / "sandbox"))
    with unit(app) as session:
        definitions.deploy(
            session, studio_bundle("studio_wait.bpmn", "eng_parent.bpmn", "eng_child.bpmn"), "owner"
        )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def workflows_live(db_url, tmp_path):
    """The web app with every diagram and decision table of workflows/ deployed (as `idiflow deploy`)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh --system)")
    app = gen_app(db_url, IDIFLOW_SANDBOX_DIR=str(tmp_path / "sandbox"))
    with unit(app) as session:
        definitions.deploy(session, collect_files([str(WORKFLOWS)]), "owner")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh --system)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1100}, locale="zh-CN")
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda err: errors.append(str(err)))
        yield tab
        browser.close()
        assert errors == [], errors


def log_in(page, base: str, who: str = "process_owner") -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", f"demo-{who}")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state()


def marker(page, canvas: str, element_id: str):
    return page.locator(f"{canvas} g.djs-element[data-element-id='{element_id}']").first


ADD_USER_TASK = """() => {
  const m = window.studio.modeler, reg = m.get('elementRegistry'), modeling = m.get('modeling');
  const timer = reg.get('Event_wait_30d'), end = reg.get('EndEvent_wait');
  modeling.removeConnection(reg.get('Flow_wait_end'));
  modeling.moveElements([end], {x: 200, y: 0});
  const task = modeling.appendShape(timer, {type: 'bpmn:UserTask'}, {x: timer.x + 170, y: timer.y + 18});
  modeling.connect(task, reg.get('EndEvent_wait'));
  modeling.updateProperties(task, {name: 'Review the file'});
  m.get('selection').select(task);
  return task.id;
}"""


LANES = """() => {
  const reg = window.studio.modeler.get('elementRegistry');
  const out = {};
  reg.filter(e => e.type === 'bpmn:Lane').forEach(l => {
    out[l.businessObject.name] = (l.businessObject.flowNodeRef || []).map(n => n.id);
  });
  return out;
}"""


def test_edit_lint_deploy_and_run_the_sandbox_past_a_timer(live, page):
    _app, base = live
    log_in(page, base)
    page.goto(f"{base}/studio/")
    page.locator("button.edit[data-process=studio_wait]").click()
    expect(page.locator("#modeler[data-ready=true]")).to_be_attached(timeout=15000)

    task_id = page.evaluate(ADD_USER_TASK)
    expect(page.locator(f"#panel[data-element='{task_id}']")).to_be_attached()
    # The lane picker offers every known role: one without a lane in the diagram gets a new lane.
    assert page.locator("#p-lane option[value=claims_handler]").count() == 1
    assert page.evaluate(LANES) == {"underwriter": ["StartEvent_wait", "Event_wait_30d", "EndEvent_wait", task_id]}
    page.select_option("#p-lane", "claims_handler")
    lanes = page.evaluate(LANES)
    assert lanes["claims_handler"] == [task_id] and task_id not in lanes["underwriter"]
    expect(marker(page, "#modeler", "Lane_claims_handler")).to_be_attached()

    page.click("#save")  # no form yet: the lint problem is listed and pinned to the new element
    expect(page.locator("#status[data-state=problems]")).to_be_attached(timeout=15000)
    problem = page.locator(f"#problems li[data-element='{task_id}']")
    expect(problem).to_contain_text("no form schema")
    expect(marker(page, "#modeler", task_id)).to_have_class(lambda_has("lint-error"))
    expect(page.locator(f".lint-pin[data-element='{task_id}']")).to_be_visible()
    page.evaluate("() => window.studio.modeler.get('selection').select([])")
    problem.click()  # a click on the problem selects the element
    expect(page.locator(f"#panel[data-element='{task_id}']")).to_be_attached()

    page.select_option("#p-form", "review.schema.json")
    page.click("#save")
    expect(page.locator("#status[data-state=clean]")).to_be_attached(timeout=15000)
    expect(page.locator("#lint-clean")).to_be_visible()
    expect(marker(page, "#modeler", task_id)).not_to_have_class(lambda_has("lint-error"))

    page.click("#deploy")
    expect(page.locator("#status[data-state=deployed][data-version='2']")).to_be_attached(timeout=15000)
    expect(page.locator("#deploy-changes")).to_contain_text("Review the file")

    page.fill("#sb-start", "2027-03-01")
    page.click("#sb-run")
    expect(page.locator("#sb-canvas[data-current='Event_wait_30d']")).to_be_attached(timeout=15000)
    expect(page.locator("#sb-timers tr[data-timer='Event_wait_30d']")).to_contain_text("2027-03-31 00:00")
    expect(marker(page, "#sb-canvas", "Event_wait_30d")).to_have_class(lambda_has("hl-current"))

    page.fill("#sb-delta", "31d")
    page.click("#sb-advance")  # the clock passes the timer: the token moves on to the new user task
    expect(page.locator(f"#sb-canvas[data-current='{task_id}']")).to_be_attached(timeout=15000)
    expect(marker(page, "#sb-canvas", task_id)).to_have_class(lambda_has("hl-current"))
    expect(marker(page, "#sb-canvas", "Event_wait_30d")).to_have_class(lambda_has("hl-done"))
    expect(page.locator("#sb-clock")).to_contain_text("2027-04-01")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "studio.png"), full_page=True)

    page.locator(f".sb-task[data-task='{task_id}'] .sb-complete").click()
    expect(page.locator("#sb-status[data-status=completed]")).to_be_attached(timeout=15000)


def test_cockpit_highlights_an_instance_waiting_in_a_call_activity(live, page):
    app, base = live
    with unit(app) as session:
        instance_id = instances.start_instance(session, "eng_parent", {}, "tester", business_key="CALL-7").id
    log_in(page, base)
    page.goto(f"{base}/cockpit/instances/{instance_id}")
    expect(page.locator("#diagrams[data-ready=true]")).to_be_attached(timeout=15000)
    expect(marker(page, "#canvas-eng_parent", "Call_child")).to_have_class(lambda_has("hl-current"))
    expect(marker(page, "#canvas-eng_parent", "StartEvent_parent")).to_have_class(lambda_has("hl-done"))
    expect(marker(page, "#canvas-eng_parent", "Task_after_child")).not_to_have_class(lambda_has("hl-current"))
    expect(marker(page, "#canvas-eng_child", "Task_child_fill")).to_have_class(lambda_has("hl-current"))
    expect(marker(page, "#canvas-eng_child", "StartEvent_child")).to_have_class(lambda_has("hl-done"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "cockpit.png"), full_page=True)


def test_decision_table_cell_is_edited_in_dmn_js_saved_linted_and_deployed_with_the_diagram(workflows_live, page):
    """DEC-RATE lives in a decision table process owners edit: the base rate cell of premium_rate.dmn is
    changed in dmn-js, saved into the draft (lint clean) and deployed with idi_policy as its next version."""
    app, base = workflows_live
    log_in(page, base)
    page.goto(f"{base}/studio/")
    page.locator("button.edit-decisions[data-process=idi_policy]").click()
    expect(page.locator("#dmn-editor[data-ready=true]")).to_be_attached(timeout=15000)
    assert page.locator("#dmn-editor").get_attribute("data-warnings") == "0"
    cell = page.locator("td[data-row-id=Rule_base_rate][data-col-id=Output_value] [contenteditable=true]")
    expect(cell).to_have_text('"0.0150"')
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"0.0160"')
    page.locator("h3").first.click()  # leave the cell so dmn-js commits the edit
    page.click("#save")
    expect(page.locator("#status[data-state=clean]")).to_be_attached(timeout=15000)
    expect(page.locator("#lint-clean")).to_be_visible()
    with unit(app) as session:
        [draft] = session.query(StudioDraft).all()
        saved = draft.dmn_files["dmn/premium_rate.dmn"]
    assert '"0.0160"' in saved and '"0.0150"' not in saved and 'id="Rule_base_rate"' in saved
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "studio-decisions.png"), full_page=True)

    page.click("#deploy")
    expect(page.locator("#status[data-state=deployed][data-version='2']")).to_be_attached(timeout=20000)
    with unit(app) as session:
        latest = definitions.resolve(session, "idi_policy")
        assert latest.version == 2 and latest.deployed_by == "process_owner"
        spec_json = session.get(ProcessDefinition, latest.id).spec_json
    assert "0.0160" in spec_json and "0.0150" not in spec_json


def lambda_has(css: str):
    """A regular expression matching a class attribute that contains `css`."""
    import re

    return re.compile(rf"(^|\s){re.escape(css)}(\s|$)")
