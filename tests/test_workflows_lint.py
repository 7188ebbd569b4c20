"""Every file in workflows/ deploys and passes lint; diagrams carry DI, readable ids and rule ids."""

from __future__ import annotations

import re

import pytest
from lxml import etree
from test_policy_support import WORKFLOWS, deploy_workflows, workflow_bundle

from engine import lint

pytestmark = pytest.mark.backends("sqlite")
NS = {**lint.NS, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
FLOW_NODE_TAGS = (
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "boundaryEvent",
    "userTask",
    "serviceTask",
    "businessRuleTask",
    "callActivity",
    "exclusiveGateway",
    "parallelGateway",
)
READABLE_ID = re.compile(
    r"^(StartEvent|End|Task|Service|Rule|Gateway|Timer|Event|Boundary|Call|Flow|Lane|"
    r"LaneSet|Participant|Collaboration|Message|MessageDef|Error|ErrorDef|TimerDef|Loop|"
    r"Definitions|Diagram|Plane|orders?|idi)(_[a-z0-9_]+)?$"
)  # "orders": the loop input is a bpmn:property whose id is the task-data name (bpmn-js resolves it by id)
DIAGRAMS = sorted(WORKFLOWS.glob("*.bpmn"))


def test_every_workflow_file_deploys(session):
    """Deploy parses and lints every BPMN, DMN and form file of workflows/ (lint raises on any problem)."""
    deployed = {d.process_id for d in deploy_workflows(session)}
    assert deployed == {
        "idi_policy",
        "idi_inspection",
        "idi_rectification",
        "idi_agency_registration",
        "idi_cancellation",
        "idi_coverage_check",
        "idi_claim",
        "idi_quarterly_report",
    }
    assert len([n for n in workflow_bundle() if n.endswith(".schema.json")]) == len(
        list((WORKFLOWS / "forms").glob("*.schema.json"))
    )


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_has_interchange_for_every_element(path):
    """Every flow node, lane and participant has a shape and every flow an edge, so bpmn-js can open it."""
    root = etree.parse(str(path)).getroot()
    drawn = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    nodes = {
        el.get("id")
        for tag in (*FLOW_NODE_TAGS, "lane", "participant")
        for el in root.iterfind(f".//bpmn:{tag}", NS)
    }
    flows = {el.get("id") for el in root.iterfind(".//bpmn:sequenceFlow", NS)}
    assert nodes - drawn == set() and flows - edges == set()
    plane = root.find(".//bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == root.find("bpmn:collaboration", NS).get("id")


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_ids_are_readable_and_rules_documented(path):
    """Ids name what they are (no Activity_0x8f2k); every service task cites the rule it implements."""
    root = etree.parse(str(path)).getroot()
    ids = [
        el.get("id")
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id") and el.tag.startswith("{" + NS["bpmn"])
    ]
    assert [i for i in ids if not READABLE_ID.match(i)] == []
    undocumented = []
    for task in root.iterfind(".//bpmn:serviceTask", NS):
        doc = task.findtext("bpmn:documentation", default="", namespaces=NS)
        if not re.search(r"\b(LG|DEC)-[A-Z0-9-]+", doc):
            undocumented.append(task.get("id"))
    status_only = {"Service_record_decline"}  # an outcome record, no rule of its own
    assert set(undocumented) - status_only == set()
    lanes = {lane.get("name") for lane in root.iterfind(".//bpmn:lane", NS)}
    assert lanes <= {
        "developer",
        "contractor",
        "underwriter",
        "claims_handler",
        "risk_engineer",
        "authority_officer",
        "owner",
        "claims_supervisor",
        "appraiser",
        "repairer",
    }
