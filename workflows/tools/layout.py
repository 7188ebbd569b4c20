"""Write BPMN diagram interchange (DI) for our diagrams: left-to-right, one horizontal band per lane.

Usage: python workflows/tools/layout.py workflows/*.bpmn   (rewrites each file's bpmndi in place)

Columns come from the longest path from the start event (back edges ignored), rows from the lanes;
nodes that share a lane and a column are stacked. Boundary events sit on their activity's lower edge.
Re-run it after editing the semantics by hand; a modeler may then polish the layout.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI}
FLOW_NODES = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "userTask",
    "serviceTask",
    "scriptTask",
    "businessRuleTask",
    "manualTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
}
COL_W, SLOT_H, POOL_X, LABEL_W, TOP = 160, 120, 160, 30, 80


def _size(tag: str) -> tuple[int, int]:
    if tag.endswith("Event"):
        return 36, 36
    if tag.endswith("Gateway"):
        return 50, 50
    return 100, 80


def _local(el) -> str:
    return etree.QName(el).localname


def _columns(nodes: dict, flows: list, attached: dict) -> dict[str, int]:
    """Longest-path column of every node, ignoring edges that close a loop."""
    succ = defaultdict(list)
    for _, src, dst in flows:
        succ[attached.get(src, src)].append(dst)
    starts = [n for n, el in nodes.items() if _local(el) == "startEvent"] or list(nodes)[:1]
    back, state = set(), {}

    def visit(n):
        state[n] = 1
        for m in succ[n]:
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = 2

    for s in starts:
        if s not in state:
            visit(s)
    for n in nodes:
        if n not in state and n not in attached:
            visit(n)
    col = {n: 0 for n in nodes if n not in attached}
    for _ in range(len(nodes) + 1):
        changed = False
        for _, src, dst in flows:
            s = attached.get(src, src)
            if (s, dst) in back or dst not in col:
                continue
            want = col.get(s, 0) + 1
            if want > col[dst]:
                col[dst], changed = want, True
        if not changed:
            break
    return col


def layout_process(process, plane, participant_id: str | None, y0: int) -> int:
    """Add shapes and edges for one process under `plane`; returns the y below it."""
    nodes = {el.get("id"): el for el in process if isinstance(el.tag, str) and _local(el) in FLOW_NODES}
    boundaries = {el.get("id"): el for el in process.iterfind("bpmn:boundaryEvent", NS)}
    attached = {bid: el.get("attachedToRef") for bid, el in boundaries.items()}
    flows = [
        (f.get("id"), f.get("sourceRef"), f.get("targetRef"))
        for f in process.iterfind("bpmn:sequenceFlow", NS)
    ]
    lanes = list(process.iterfind(".//bpmn:lane", NS)) or [None]
    lane_of = {}
    for i, lane in enumerate(lanes):
        if lane is not None:
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                lane_of[ref.text.strip()] = i
    col = _columns(nodes, flows, attached)
    slots: dict[tuple[int, int], list[str]] = defaultdict(list)
    for n in sorted(nodes, key=lambda n: (col[n], list(nodes).index(n))):
        slots[(lane_of.get(n, 0), col[n])].append(n)
    lane_slots = [max([len(v) for (li, _), v in slots.items() if li == i] or [1]) for i in range(len(lanes))]
    lane_y, y = [], y0
    for count in lane_slots:
        lane_y.append(y)
        y += count * SLOT_H + 20
    width = (max(col.values(), default=0) + 1) * COL_W + 2 * LABEL_W + 40
    bounds: dict[str, tuple[float, float, float, float]] = {}

    def shape(el_id, x, yy, w, h, **attrs):
        s = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNShape", id=f"{el_id}_di", bpmnElement=el_id, **attrs)
        etree.SubElement(
            s, f"{{{DC}}}Bounds", x=str(int(x)), y=str(int(yy)), width=str(int(w)), height=str(int(h))
        )
        bounds[el_id] = (x, yy, w, h)

    if participant_id:
        shape(participant_id, POOL_X, y0, width, y - y0, isHorizontal="true")
    for i, lane in enumerate(lanes):
        if lane is not None:
            shape(
                lane.get("id"),
                POOL_X + LABEL_W,
                lane_y[i],
                width - LABEL_W,
                lane_slots[i] * SLOT_H + 20,
                isHorizontal="true",
            )
    for (li, c), members in slots.items():
        for k, n in enumerate(members):
            w, h = _size(_local(nodes[n]))
            cx = POOL_X + 2 * LABEL_W + 20 + c * COL_W + 50
            cy = lane_y[li] + 10 + k * SLOT_H + SLOT_H / 2
            shape(n, cx - w / 2, cy - h / 2, w, h)
    per_host = defaultdict(int)
    for bid, host in attached.items():
        hx, hy, hw, hh = bounds[host]
        k = per_host[host]
        per_host[host] += 1
        shape(bid, hx + hw - 30 - k * 40, hy + hh - 18, 36, 36)
    for fid, src, dst in flows:
        sx, sy, sw, sh = bounds[src]
        tx, ty, tw, th = bounds[dst]
        e = etree.SubElement(plane, f"{{{BPMNDI}}}BPMNEdge", id=f"{fid}_di", bpmnElement=fid)
        if src in attached:
            pts = [(sx + sw / 2, sy + sh), (sx + sw / 2, ty + th / 2), (tx, ty + th / 2)]
            if tx < sx:
                pts = [
                    (sx + sw / 2, sy + sh),
                    (sx + sw / 2, max(sy + sh, ty + th) + 20),
                    (tx + tw / 2, max(sy + sh, ty + th) + 20),
                    (tx + tw / 2, ty + th),
                ]
        elif tx > sx:
            mx = (sx + sw + tx) / 2
            pts = [(sx + sw, sy + sh / 2), (mx, sy + sh / 2), (mx, ty + th / 2), (tx, ty + th / 2)]
        else:
            low = max(sy + sh, ty + th) + 20
            pts = [(sx + sw / 2, sy + sh), (sx + sw / 2, low), (tx + tw / 2, low), (tx + tw / 2, ty + th)]
        for px, py in pts:
            etree.SubElement(e, f"{{{DI}}}waypoint", x=str(int(px)), y=str(int(py)))
    return y + 40


def layout(path: Path) -> None:
    """Replace the diagram interchange of one BPMN file."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    tree = etree.parse(str(path), parser)
    root = tree.getroot()
    for old in root.iterfind("bpmndi:BPMNDiagram", NS):
        root.remove(old)
    collab = root.find("bpmn:collaboration", NS)
    diagram = etree.SubElement(root, f"{{{BPMNDI}}}BPMNDiagram", id=f"Diagram_{path.stem}")
    plane_ref = collab.get("id") if collab is not None else root.find("bpmn:process", NS).get("id")
    plane = etree.SubElement(
        diagram, f"{{{BPMNDI}}}BPMNPlane", id=f"Plane_{path.stem}", bpmnElement=plane_ref
    )
    participants = {p.get("processRef"): p.get("id") for p in root.iterfind(".//bpmn:participant", NS)}
    y = TOP
    for process in root.iterfind("bpmn:process", NS):
        y = layout_process(process, plane, participants.get(process.get("id")), y)
    etree.indent(tree, space="  ")
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        layout(Path(name))
        print(f"laid out {name}")
