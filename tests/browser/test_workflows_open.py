"""Every diagram in workflows/ opens in bpmn-js and every decision table in dmn-js, as the studio loads them
(issue 4: "opens in bpmn-js (has diagram interchange)"): headless Debian chromium, the libraries served by the
app from node_modules, importXML without errors or warnings, and a shape on the canvas for every flow node."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from browser_kit import LiveServer, browser  # noqa: E402, F401 - `browser` is a fixture used below
from web_factories import gen_app  # noqa: E402

from web.db import database  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.backends("sqlite")]
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
BPMN_FILES = sorted(WORKFLOWS.glob("*.bpmn"))
DMN_FILES = sorted((WORKFLOWS / "dmn").glob("*.dmn"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "transaction", "exclusiveGateway", "parallelGateway",
              "inclusiveGateway", "eventBasedGateway", "complexGateway"}
#: the moddle descriptor the studio hands bpmn-js (GET /studio/spiffworkflow-moddle.json serves this file)
DESCRIPTOR = json.loads((Path(__file__).resolve().parents[2] / "web" / "static" / "studio" / "spiffworkflow.json")
                        .read_text(encoding="utf-8"))
BLANK = "<!doctype html><html><body><div id='canvas' style='width:1600px;height:1000px'></div></body></html>"

#: the studio's modeler set-up (bpmn-js with the spiffworkflow moddle extension); answers what it drew
OPEN_BPMN = """async ([xml, descriptor]) => {
  const modeler = new BpmnJS({ container: '#canvas', moddleExtensions: { spiffworkflow: descriptor } });
  try {
    const result = await modeler.importXML(xml);
    const shapes = {};
    modeler.get('elementRegistry').getAll().forEach(e => {
      shapes[e.id] = { type: e.type, shape: e.waypoints ? false : e.width > 0 && e.height > 0,
                       connection: !!e.waypoints };
    });
    const saved = (await modeler.saveXML({ format: true })).xml;
    return { error: null, warnings: result.warnings.map(w => w.message), shapes: shapes, saved: saved };
  } catch (err) {
    return { error: err.message, warnings: (err.warnings || []).map(w => w.message), shapes: {} };
  } finally {
    modeler.destroy();
  }
}"""

#: the studio's decision editor set-up (dmn-js modeler); opens every decision table and lists its rows
OPEN_DMN = """async (xml) => {
  const editor = new DmnJS({ container: '#canvas' });
  try {
    const result = await editor.importXML(xml);
    const tables = {};
    for (const view of editor.getViews().filter(v => v.type === 'decisionTable')) {
      await editor.open(view);
      const rows = new Set([...document.querySelectorAll('#canvas td[data-row-id]')].map(td => td.dataset.rowId));
      tables[view.element.id] = [...rows];
    }
    return { error: null, warnings: result.warnings.map(w => w.message), tables: tables };
  } catch (err) {
    return { error: err.message, warnings: (err.warnings || []).map(w => w.message), tables: {} };
  } finally {
    editor.destroy();
  }
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on 127.0.0.1: it serves bpmn-js, dmn-js and the moddle descriptor from web/static."""
    path = tmp_path_factory.mktemp("open") / "open.db"
    app = gen_app(f"sqlite:///{path}", IDIFLOW_SCHEDULER="0")
    with LiveServer(app) as server:
        yield server.url
    database(app).engine.dispose()


@pytest.fixture(scope="module")
def tab(browser, served):  # noqa: F811 - the fixture imported from browser_kit
    """One blank page; scripts load from the app (nothing comes from the internet)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.set_content(BLANK)
    for script in ("bpmn-js/dist/bpmn-modeler.production.min.js", "dmn-js/dist/dmn-modeler.production.min.js"):
        page.add_script_tag(url=f"{served}/static/node_modules/{script}")
    yield page
    context.close()
    assert errors == [], errors


def test_every_workflow_file_is_checked():
    """The parametrized tests below cover the folder (a renamed folder must not silently test nothing)."""
    assert len(BPMN_FILES) >= 8 and len(DMN_FILES) >= 1


def _flow_nodes(path: Path) -> dict[str, str]:
    tree = etree.parse(str(path))
    return {el.get("id"): etree.QName(el).localname for el in tree.iter(f"{{{BPMN}}}*")
            if etree.QName(el).localname in FLOW_NODES}


def _flows(path: Path) -> set[str]:
    return {el.get("id") for el in etree.parse(str(path)).iter(f"{{{BPMN}}}sequenceFlow")}


@pytest.mark.parametrize("path", BPMN_FILES, ids=lambda p: p.name)
def test_diagram_opens_in_bpmn_js_with_a_shape_for_every_flow_node(tab, path):
    answer = tab.evaluate(OPEN_BPMN, [path.read_text(encoding="utf-8"), DESCRIPTOR])
    assert answer["error"] is None, answer["error"]
    assert answer["warnings"] == []
    nodes = _flow_nodes(path)
    assert nodes, f"{path.name} has no flow nodes"
    drawn = answer["shapes"]
    missing = sorted(node for node in nodes if not drawn.get(node, {}).get("shape"))
    assert missing == [], f"flow nodes without a shape in {path.name}: {missing}"
    assert all(drawn[node]["type"] == f"bpmn:{kind[0].upper()}{kind[1:]}" for node, kind in nodes.items())
    unrouted = sorted(flow for flow in _flows(path) if not drawn.get(flow, {}).get("connection"))
    assert unrouted == [], f"sequence flows without an edge in {path.name}: {unrouted}"
    # Saving in the studio keeps what the engine reads: every spiffworkflow element and every loop input.
    before, after = etree.parse(str(path)), etree.fromstring(answer["saved"].encode("utf-8")).getroottree()
    assert _engine_data(after) == _engine_data(before)


def _engine_data(tree) -> list[tuple[str, str, str]]:
    """(parent id, element, text) of every spiffworkflow element and loop data reference in a diagram."""
    found = []
    for el in tree.iter(f"{{{SPIFF}}}*", f"{{{BPMN}}}loopDataInputRef"):
        owner = next((a.get("id") for a in el.iterancestors() if a.get("id")), "")
        found.append((owner, etree.QName(el).localname, (el.text or "").strip()))
    return sorted(found)


@pytest.mark.parametrize("path", DMN_FILES, ids=lambda p: p.name)
def test_decision_table_opens_in_dmn_js_with_every_rule(tab, path):
    answer = tab.evaluate(OPEN_DMN, path.read_text(encoding="utf-8"))
    assert answer["error"] is None, answer["error"]
    assert answer["warnings"] == []
    tree = etree.parse(str(path))
    expected = {d.get("id"): [r.get("id") for r in d.iter("{*}rule")]
                for d in tree.iter("{*}decision") if next(d.iter("{*}decisionTable"), None) is not None}
    assert expected, f"{path.name} has no decision table"
    assert {k: sorted(v) for k, v in answer["tables"].items()} == {k: sorted(v) for k, v in expected.items()}
