"""Lint a bundle before it is stored: every problem names the file, the element and the fix."""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from . import roles, scripts, services
from .errors import Problem

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
#: SpiffWorkflow names its own internal task specs with these ids.
RESERVED_IDS = {"Start", "End", "Root"}
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _owner(el) -> str | None:
    """The id of the nearest element with an id (the BPMN element a problem belongs to).

    Event definitions are skipped: the modeler shows the event, not its definition's generated id.
    """
    while el is not None:
        if el.get("id") and not (isinstance(el.tag, str) and el.tag.endswith("EventDefinition")):
            return el.get("id")
        el = el.getparent()
    return None


def _text(el) -> str:
    return (el.text or "").strip()


def lint_bpmn(filename: str, tree, forms: dict[str, dict], known_process_ids: set[str]) -> list[Problem]:
    """Check one BPMN document against the engine's rules."""
    problems: list[Problem] = []
    root = tree.getroot() if hasattr(tree, "getroot") else tree

    def add(el, message, fix):
        problems.append(Problem(filename, _owner(el), message, fix, getattr(el, "sourceline", None)))

    lane_of: dict[str, str] = {}
    for lane in root.iterfind(".//bpmn:lane", NS):
        name = (lane.get("name") or "").strip()
        if not roles.is_role(name):
            known = ", ".join(sorted(roles.known_roles())) or "none registered"
            add(lane, f"Lane '{name or lane.get('id')}' is not a known role.",
                f"Name the lane after a role key ({known}).")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[_text(ref)] = name

    for el in root.iter():
        if el.get("id") in RESERVED_IDS and isinstance(el.tag, str) and el.tag.startswith("{" + NS["bpmn"]):
            add(el, f"The id '{el.get('id')}' is reserved by the engine and breaks the flow.",
                f"Rename it, e.g. '{el.get('id')}Event_1'.")

    for task in root.iterfind(".//bpmn:task", NS):
        add(task, "A plain task has no behaviour and would block the flow in every inbox.",
            "Make it a user task (with a form and lane), a service task or a script task.")

    for task in root.iterfind(".//bpmn:serviceTask", NS):
        op = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if op is None or not op.get("id"):
            add(task, "The service task names no operator.",
                "Choose a registered handler in the side panel (spiffworkflow:serviceTaskOperator id=…).")
        elif op.get("id") not in services.registered():
            known = ", ".join(sorted(services.registered())) or "none"
            add(task, f"Service operator '{op.get('id')}' has no registered handler.",
                f"Use one of: {known}; or register a handler with @handler('{op.get('id')}').")

    for task in root.iterfind(".//bpmn:userTask", NS):
        form = None
        props = "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
        for prop in task.iterfind(props, NS):
            if prop.get("name") == "formJsonSchemaFilename":
                form = (prop.get("value") or "").strip()
        if not form:
            add(task, "The user task has no form schema.",
                "Set the property formJsonSchemaFilename to a JSON Schema file in the bundle.")
        elif form.rsplit("/", 1)[-1] not in forms:
            add(task, f"The form schema '{form}' is not in the bundle.",
                f"Add {form} to the bundle (forms/…schema.json) or fix the file name.")
        if task.get("id") not in lane_of:
            add(task, "The user task is not in a lane, so no role would see it in the inbox.",
                "Put it in a lane named for the role that does the work.")

    for call in root.iterfind(".//bpmn:callActivity", NS):
        target = call.get("calledElement")
        if not target:
            add(call, "The call activity names no process.", "Set calledElement to a deployed process id.")
        elif target not in known_process_ids:
            add(call, f"The call activity calls process '{target}', which is neither in the bundle "
                "nor deployed.",
                f"Add the diagram of '{target}' to the bundle or deploy it first.")

    for kind in ("timeDate", "timeDuration", "timeCycle"):
        for el in root.iterfind(f".//bpmn:timerEventDefinition/bpmn:{kind}", NS):
            problems.extend(_check_timer(filename, el, kind))

    for el in root.iterfind(".//bpmn:conditionExpression", NS):
        reason = scripts.check_expression(_text(el)) if _text(el) else "The condition is empty."
        if reason:
            add(el, f"Condition: {reason}", "Write a Python expression on task data, e.g. amount > 1000.")

    for el in root.iterfind(".//bpmn:script", NS):
        _check_script(add, el)
    for tag in ("preScript", "postScript"):
        for el in root.iterfind(f".//spiffworkflow:{tag}", NS):
            _check_script(add, el)
    for el in root.iterfind(".//spiffworkflow:parameter", NS):
        reason = scripts.check_expression(el.get("value") or "")
        if reason:
            add(el, f"Parameter '{el.get('id')}': {reason}",
                "Parameter values are Python expressions; quote string literals (\"text\").")
    for el in root.iterfind(".//spiffworkflow:processVariableCorrelation/spiffworkflow:expression", NS):
        reason = scripts.check_expression(_text(el))
        if reason:
            add(el, f"Correlation expression: {reason}", "Use a task-data variable name, e.g. claim_no.")
    return problems


def _check_script(add, el) -> None:
    source = el.text or ""
    if source.strip():
        reason = scripts.check_script(source)
        if reason:
            add(el, f"Script: {reason}", "Scripts may use task data and the safe helpers only; "
                "put real work in a service-task handler.")


def _check_timer(filename: str, el, kind: str) -> list[Problem]:
    source = _text(el)
    line = getattr(el, "sourceline", None)
    fix = {"timeDate": 'An expression giving an ISO date-time string, e.g. "2030-01-01T00:00:00+08:00" '
                       "or cover_start (a variable).",
           "timeDuration": 'A quoted ISO 8601 duration, e.g. "P2D", or an expression giving one.',
           "timeCycle": 'A quoted ISO 8601 repetition, e.g. "R/P1Y" or '
                        '"R3/2027-03-01T00:00:00+08:00/P1Y".'}[kind]
    if not source:
        return [Problem(filename, _owner(el), f"The {kind} timer is empty.", fix, line)]
    if kind == "timeDuration" and _ISO_DURATION.match(source) or kind == "timeCycle" and source[:1] == "R" \
            and "/" in source:
        # Unquoted, P2D is a variable name: it compiles, then fails with NameError when the timer is reached.
        return [Problem(filename, _owner(el), f"The {kind} timer {source} is not quoted, so it would be "
                        f'read as a variable name. Write "{source}" (with quotes).', fix, line)]
    reason = scripts.check_expression(source)
    if reason:
        return [Problem(filename, _owner(el), f"Timer {kind}: {reason}", fix, line)]
    constant = _constant_value(source)
    if constant is None:
        return []
    if not isinstance(constant, str):
        return [Problem(filename, _owner(el), f"The {kind} timer gives {constant!r}, not a string.", fix,
                        line)]
    if kind == "timeDuration" and not _ISO_DURATION.match(constant):
        return [Problem(filename, _owner(el), f"'{constant}' is not an ISO 8601 duration.", fix, line)]
    if kind == "timeDate":
        try:
            dt.datetime.fromisoformat(constant)
        except ValueError:
            return [Problem(filename, _owner(el), f"'{constant}' is not an ISO date-time.", fix, line)]
    if kind == "timeCycle" and not constant.upper().startswith("R"):
        return [Problem(filename, _owner(el), f"'{constant}' is not an ISO repetition (R…/…).", fix, line)]
    return []


def _constant_value(source: str):
    """The value of a literal expression (e.g. a quoted duration); None when it depends on data."""
    import ast

    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return None


def lint_dmn(filename: str, tree) -> list[Problem]:
    """Check the expressions in a decision table compile under the restricted compiler."""
    problems = []
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).localname != "text":
            continue
        source = _text(el)
        parent = etree.QName(el.getparent()).localname
        if not source or source == "-" or parent not in {"inputExpression"}:
            continue
        reason = scripts.check_expression(source)
        if reason:
            problems.append(Problem(filename, _owner(el), f"Decision input: {reason}",
                                    "Use a task-data variable or a simple expression.", el.sourceline))
    return problems
