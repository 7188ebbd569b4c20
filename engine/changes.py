"""What changed between two versions of a diagram, in plain words (elements compared by id)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from . import lint, parsing

ACTIVITIES = {"task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "sendTask",
              "receiveTask", "callActivity", "subProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
PROPERTY_PATH = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"


@dataclass
class ChangeSummary:
    """The differences between two versions, each a sentence a process owner can read."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    timers: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Every change, in a stable order."""
        return self.added + self.removed + self.renamed + self.timers + self.other

    def to_dict(self) -> dict:
        return {"added": self.added, "removed": self.removed, "renamed": self.renamed, "timers": self.timers,
                "other": self.other, "lines": self.lines()}


def _elements(xml: str) -> dict[str, dict]:
    root = parsing.parse_xml(xml.encode("utf-8"), "diagram").getroot()
    found = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.get("id"):
            continue
        kind = etree.QName(el).localname
        if kind not in ACTIVITIES | EVENTS:
            continue
        timer = None
        for timer_kind in TIMER_KINDS:
            node = el.find(f"bpmn:timerEventDefinition/bpmn:{timer_kind}", lint.NS)
            if node is not None:
                timer = f"{timer_kind} {(node.text or '').strip()}"
        op = el.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", lint.NS)
        form = None
        for prop in el.iterfind(PROPERTY_PATH, lint.NS):
            if prop.get("name") == "formJsonSchemaFilename":
                form = prop.get("value")
        found[el.get("id")] = {"kind": kind, "name": (el.get("name") or "").strip(), "timer": timer,
                               "operator": op.get("id") if op is not None else None, "form": form,
                               "called": el.get("calledElement")}
    lanes = {}
    for lane in root.iterfind(".//bpmn:lane", lint.NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", lint.NS):
            lanes[(ref.text or "").strip()] = lane.get("name")
    for element_id, info in found.items():
        info["lane"] = lanes.get(element_id)
    return found


def _label(element_id: str, info: dict) -> str:
    kind = "timer" if info["timer"] else ("task" if info["kind"] in ACTIVITIES else "event")
    return f"{kind} '{info['name'] or element_id}' ({element_id})"


def summarize(old_xml: str | None, new_xml: str) -> ChangeSummary:
    """Tasks and events added, removed or renamed; timers, forms, lanes and operators changed."""
    summary = ChangeSummary()
    new = _elements(new_xml)
    if old_xml is None:
        count = sum(i["kind"] in ACTIVITIES for i in new.values())
        summary.added.append(f"First version with {count} task(s).")
        return summary
    old = _elements(old_xml)
    for element_id in sorted(new.keys() - old.keys()):
        summary.added.append(f"Added {_label(element_id, new[element_id])}.")
    for element_id in sorted(old.keys() - new.keys()):
        summary.removed.append(f"Removed {_label(element_id, old[element_id])}.")
    for element_id in sorted(old.keys() & new.keys()):
        before, after = old[element_id], new[element_id]
        if before["name"] != after["name"]:
            summary.renamed.append(f"Renamed {element_id}: '{before['name']}' → '{after['name']}'.")
        if before["timer"] != after["timer"]:
            summary.timers.append(f"Timer {after['name'] or element_id} ({element_id}) changed: "
                                  f"{before['timer'] or 'none'} → {after['timer'] or 'none'}.")
        if before["kind"] != after["kind"]:
            summary.other.append(f"{element_id} changed type: {before['kind']} → {after['kind']}.")
        for key, what in (("form", "form"), ("lane", "lane"), ("operator", "service operator"),
                          ("called", "called process")):
            if before[key] != after[key]:
                summary.other.append(f"{after['name'] or element_id}: {what} {before[key] or 'none'} → "
                                     f"{after[key] or 'none'}.")
    return summary
