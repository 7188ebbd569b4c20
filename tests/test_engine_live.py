"""Live workflows (engine/live.py): a committed workflow is kept for the next unit of work on its instance,
and the database row stays the truth: anything the row does not say exactly is rebuilt from it."""

from __future__ import annotations

import datetime as dt
import decimal
import tracemalloc
import uuid
import zoneinfo

import pytest
from conftest import BPMN_DIR, bundle, commit
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update

from engine import (
    db,
    definitions,
    incidents,
    instances,
    live,
    migration,
    runtime,
    serialization,
    suspension,
    tasks,
    timers,
)
from engine.errors import TaskNotReady
from engine.messages import correlate_message
from engine.models import HumanTask, ProcessInstance
from engine.parsing import EngineParser
from engine.services import handler


@pytest.fixture(autouse=True)
def _empty_cache(monkeypatch):
    """An empty cache with the default budget, whatever IDIFLOW_LIVE_CACHE_MB says for the rest of the run."""
    monkeypatch.setattr(live, "CACHE", live.LiveWorkflows(64 * 1024 * 1024))


@pytest.fixture
def loads(monkeypatch):
    """Counts the workflows rebuilt from stored state."""
    counted = []
    real = serialization.load_state

    def counting(*args, **kwargs):
        counted.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(serialization, "load_state", counting)
    return counted


def _open_task(session, instance_id: int) -> HumanTask:
    return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status == "open")).one()


def _started(session, data=None):
    inst = instances.start_instance(session, "eng_waits", data or {"applicant": "Li"}, "alice", business_key="L-1")
    commit(session)
    return inst


def test_the_next_unit_of_work_takes_the_workflow_its_instance_committed(session, deploy, loads):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    assert len(live.CACHE) == 1
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "done"}, "carl")
    commit(session)
    correlate_message(session, "eng_docs", {"pages": 4}, business_key="L-1")
    commit(session)
    assert loads == []  # neither the completion nor the message rebuilt the workflow
    stored = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == inst.id))
    wf = serialization.load_state(stored, *_specs(session, inst))
    assert wf.last_task.data["docs"] == {"pages": 4} and wf.last_task.data["note"] == "done"


def _specs(session, inst):
    loaded = definitions.load(session, inst.definition_id)
    return loaded.spec, loaded.subprocess_specs


def test_a_unit_of_work_that_rolls_back_after_saving_leaves_nothing_kept(session, deploy, loads):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "undone"}, "carl")
    session.rollback()  # saved, never committed
    db.forget_after_commit(session)
    assert len(live.CACHE) == 0  # the completion took the kept workflow, and kept nothing back
    tasks.complete_task(session, task.id, {"note": "again"}, "carl")  # rebuilt from the row: still open
    commit(session)
    assert len(loads) == 1
    row = session.get(ProcessInstance, inst.id, populate_existing=True)
    wf = serialization.load_state(row.state, *_specs(session, inst))
    assert wf.last_task.data["note"] == "again"


def test_a_row_changed_elsewhere_is_rebuilt_from_the_database_not_taken_from_memory(session, deploy, loads):
    """Another process (or a restore) wrote the row: its text differs from the kept one, so it wins."""
    deploy("eng_waits.bpmn")
    inst = _started(session)
    before = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == inst.id))
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "first"}, "carl")
    commit(session)
    assert len(live.CACHE) == 1  # kept: waiting for the message
    # Put the instance back where it was before the completion, as a restore from backup would.
    session.execute(update(ProcessInstance).where(ProcessInstance.id == inst.id).values(state=before))
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(status="open", completed_at=None,
                                                                            completed_by=None))
    commit(session)
    tasks.complete_task(session, task.id, {"note": "second"}, "carl")  # the kept one is past this task
    commit(session)
    assert loads == [before]
    row = session.get(ProcessInstance, inst.id, populate_existing=True)
    assert serialization.load_state(row.state, *_specs(session, inst)).last_task.data["note"] == "second"


def test_a_kept_workflow_is_never_handed_to_two_units_of_work(session, deploy):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    row = runtime.lock(session, inst.id)
    first = runtime.open_instance(session, inst.id, "carl", row=row)
    second = runtime.open_instance(session, inst.id, "carl", row=row)
    assert first.workflow is not second.workflow
    session.rollback()


def test_a_completed_instance_is_not_kept(session, deploy):
    deploy("eng_review.bpmn")
    inst = instances.start_instance(session, "eng_review", {}, "alice")
    commit(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"approved": True}, "rita")
    commit(session)
    assert len(live.CACHE) == 0


def test_data_that_would_read_back_differently_keeps_the_workflow_out(session, deploy, loads):
    """A tuple comes back from the stored state as a list: the next unit of work must see the list."""
    deploy("eng_waits.bpmn")
    inst = _started(session, {"applicant": "Li", "pair": (1, 2)})
    assert len(live.CACHE) == 0
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "ok"}, "carl")
    commit(session)
    assert len(loads) == 1


def test_what_the_caller_changes_after_submitting_does_not_reach_the_kept_workflow(session, deploy):
    deploy("eng_waits.bpmn")
    start = {"applicant": "Li", "parties": [{"name": "A"}]}
    inst = _started(session, start)
    form = {"note": "ok", "items": [{"qty": 1}]}
    tasks.complete_task(session, _open_task(session, inst.id).id, form, "carl")
    commit(session)
    start["parties"][0]["name"] = "changed"
    form["items"].append({"qty": 2})
    [(_state, _definition, wf, _cost)] = live.CACHE._entries.values()
    data = wf.last_task.data
    assert data["parties"] == [{"name": "A"}] and data["items"] == [{"qty": 1}]


def test_a_second_completion_of_a_kept_task_is_refused(session, deploy, loads):
    """The inbox row is opened again by hand, so that the refusal must come from the kept workflow itself."""
    deploy("eng_waits.bpmn")
    inst = _started(session)
    task = _open_task(session, inst.id)
    tasks.complete_task(session, task.id, {"note": "once"}, "carl")
    commit(session)
    session.execute(update(HumanTask).where(HumanTask.id == task.id).values(status="open", completed_at=None,
                                                                            completed_by=None))
    commit(session)
    with pytest.raises(TaskNotReady):
        tasks.complete_task(session, task.id, {"note": "twice"}, "carl")
    assert loads == []  # refused by the kept workflow, past the task


@pytest.mark.parametrize("value", [
    "text", 1, 2.5, True, None, dt.date(2027, 1, 2), dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.UTC),
    decimal.Decimal("1.50"), {"a": [1, {"b": None}]}, [],
])
def test_values_that_read_back_exactly(value):
    assert live.reads_back_exactly({"v": value})


@pytest.mark.parametrize("value", [
    (1, 2), {1, 2}, uuid.uuid4(), float("nan"), float("inf"), {1: "int key"}, {"typename": "x"},
    [("nested", "tuple")], b"bytes", dt.timedelta(days=1), object(),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=8), "CST")),
    dt.datetime(2027, 1, 2, 3, 4, fold=1),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(microseconds=5))),
])
def test_values_that_would_read_back_differently(value):
    assert not live.reads_back_exactly({"v": value})


_ROUND_TRIP_VALUES = [
    "text", 1, 2.5, -0.0, True, None, 10**30, "\ud800", dt.date(2027, 1, 2), decimal.Decimal("1.50"),
    dt.datetime(2027, 1, 2, 3, 4), dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=8))), {"a": [1, {"b": None}]}, [],
    (1, 2), {1, 2}, uuid.uuid4(), float("nan"), {1: "int key"}, {"typename": "x"}, [("nested", "tuple")],
    dt.timedelta(days=1), dt.datetime(2027, 1, 2, 3, 4, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=8), "CST")),
    dt.datetime(2027, 1, 2, 3, 4, fold=1),
    dt.datetime(2027, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(microseconds=5))),
]


@pytest.mark.parametrize("value", _ROUND_TRIP_VALUES, ids=repr)
def test_reads_back_exactly_says_what_the_serializer_does(value):
    """The predicate is held to engine/serialization.py: a value it passes comes back from dump_state and
    load_state with the same type and repr (tzinfo and fold included). It may refuse more than it must (a
    timedelta reads back whole only without microseconds)."""
    wf = _in_memory(_LINE)
    task = _ready(wf, "U")
    task.data["v"] = value
    try:
        back = serialization.load_state(serialization.dump_state(wf), wf.spec, {}).get_task_from_id(task.id)
        same = type(back.data["v"]) is type(value) and repr(back.data["v"]) == repr(value)
    except Exception:  # noqa: BLE001 - what cannot be written or read back does not read back
        same = False
    assert same or not live.reads_back_exactly({"v": value})


def test_the_budget_lets_go_of_the_least_recently_kept():
    cache = live.LiveWorkflows(budget_bytes=10 * live.BYTES_PER_STATE_BYTE)
    definition = object()
    cache.keep(1, "aaaa", definition, "wf1")
    cache.keep(2, "bbbb", definition, "wf2")
    cache.keep(3, "cccc", definition, "wf3")  # 12 bytes of state > 10: the oldest goes
    assert cache.take(1, "aaaa", definition) is None
    assert cache.take(3, "cccc", definition) == "wf3"
    assert cache.take(3, "cccc", definition) is None  # taken: gone
    assert cache.take(2, "bbbb", object()) is None  # another version of the process: not this workflow
    cache.keep(4, "x" * 11, definition, "too big")
    assert len(cache) == 0 and cache.used == 0


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "0")
    assert live._budget_from_env() == 0
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "1.5")
    assert live._budget_from_env() == 1536 * 1024
    monkeypatch.setenv("IDIFLOW_LIVE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="IDIFLOW_LIVE_CACHE_MB must be a number of megabytes, not 'lots'"):
        live._budget_from_env()


def test_with_no_budget_every_unit_of_work_rebuilds(session, deploy, loads, monkeypatch):
    monkeypatch.setattr(live, "CACHE", live.LiveWorkflows(0))
    deploy("eng_waits.bpmn")
    inst = _started(session)
    tasks.complete_task(session, _open_task(session, inst.id).id, {"note": "ok"}, "carl")
    commit(session)
    assert len(loads) == 1 and len(live.CACHE) == 0


# --- A kept workflow is the workflow load_state would rebuild, not merely an equal one ------------------------

_NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
       'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')


def _user(task_id: str, scripts: str = "") -> str:
    """A user task with the note form (and pre/post scripts) for the clerk lane."""
    return (f'<bpmn:userTask id="{task_id}" name="{task_id}"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="formJsonSchemaFilename" value="eng_note.schema.json" />'
            f'</spiffworkflow:properties>{scripts}</bpmn:extensionElements></bpmn:userTask>')


def _script(task_id: str, text: str, extra: str = "") -> str:
    return f'<bpmn:scriptTask id="{task_id}">{extra}<bpmn:script>{text}</bpmn:script></bpmn:scriptTask>'


def _flows(*pairs: tuple[str, str]) -> str:
    return "".join(f'<bpmn:sequenceFlow id="F_{a}_{b}" sourceRef="{a}" targetRef="{b}" />' for a, b in pairs)


def _process(process_id: str, clerk: list[str], body: str) -> str:
    """A diagram with one process; the user tasks named in `clerk` are in the clerk lane."""
    refs = "".join(f"<bpmn:flowNodeRef>{name}</bpmn:flowNodeRef>" for name in clerk)
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {_NS} id="D_{process_id}" '
            f'targetNamespace="http://idiflow/tests"><bpmn:process id="{process_id}" isExecutable="true">'
            f'<bpmn:laneSet id="LS_{process_id}"><bpmn:lane id="L_{process_id}" name="clerk">{refs}</bpmn:lane>'
            f'</bpmn:laneSet>{body}</bpmn:process></bpmn:definitions>')


def _deploy_inline(session, name: str, xml: str) -> None:
    files = {name: xml, "forms/eng_note.schema.json": (BPMN_DIR / "forms" / "eng_note.schema.json").read_text()}
    definitions.deploy(session, files, "tester")
    commit(session)


def _complete(session, instance_id: int, name: str, data: dict | None = None) -> None:
    task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open",
                                                   HumanTask.task_name == name)).one()
    tasks.complete_task(session, task.id, data or {}, "carl")
    commit(session)


def _stored_data(session, instance_id: int, spec_name: str) -> dict:
    """The data of the task `spec_name` as the database holds it."""
    row = session.get(ProcessInstance, instance_id, populate_existing=True)
    wf = serialization.load_state(row.state, *_specs(session, row))
    [task] = [t for t in wf.get_tasks() if t.task_spec.name == spec_name]
    return task.data


_LINE = _process("live_line", ["U", "V"], '<bpmn:startEvent id="s" />' + _user("U") + _user("V")
                 + '<bpmn:endEvent id="e" />' + _flows(("s", "U"), ("U", "V"), ("V", "e")))


def _in_memory(xml: str):
    """A workflow of the diagram run to its first wait, without a database."""
    parser = EngineParser()
    parser.add_bpmn_str(xml.encode())
    [process_id] = parser.get_process_ids()
    wf = runtime.EngineWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id),
                                script_engine=runtime.SCRIPT_ENGINE)
    wf.do_engine_steps()
    return wf


def _ready(wf, name: str):
    [task] = [t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.name == name]
    return task


def test_a_list_held_under_two_names_reads_back_as_two_lists(session, loads):
    """`b = a` makes one list with two names; the stored state holds two. A script after the wait must see
    two, kept or not: the post-script appending to b must leave a alone."""
    _deploy_inline(session, "alias.bpmn", _process("live_alias", ["U", "V"], (
        '<bpmn:startEvent id="s" />'
        + _user("U", "<spiffworkflow:preScript>a = [1]\nb = a</spiffworkflow:preScript>"
                     "<spiffworkflow:postScript>b.append(2)\ncount = len(a)</spiffworkflow:postScript>")
        + _user("V") + '<bpmn:endEvent id="e" />' + _flows(("s", "U"), ("U", "V"), ("V", "e")))))
    inst = instances.start_instance(session, "live_alias", {}, "alice")
    commit(session)
    _complete(session, inst.id, "U")
    assert loads == []  # the kept workflow ran the post-script
    assert _stored_data(session, inst.id, "V")["count"] == 1


def test_data_shared_by_two_branches_is_not_shared_once_committed(session, loads):
    """Spiff's branches share nested values (its data inheritance copies one level); the stored state does
    not. A change in one branch after the wait must not show in the other, kept or not."""
    _deploy_inline(session, "branches.bpmn", _process("live_branches", ["UA", "UB", "V"], (
        '<bpmn:startEvent id="s" /><bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
        + _script("C", 'items.append({"q": 2})') + _user("UA") + _script("G", 'items[0]["q"] = 5')
        + _user("UB") + _script("R", 'seen = items[0]["q"]') + _user("V") + '<bpmn:endEvent id="e" />'
        + _flows(("s", "fork"), ("fork", "C"), ("C", "UA"), ("UA", "G"), ("G", "join"), ("fork", "UB"),
                 ("UB", "R"), ("R", "join"), ("join", "V"), ("V", "e")))))
    inst = instances.start_instance(session, "live_branches", {"items": [{"q": 1}]}, "alice")
    commit(session)
    _complete(session, inst.id, "UA")
    _complete(session, inst.id, "UB")
    assert loads == []
    assert _stored_data(session, inst.id, "R")["seen"] == 1


def test_a_value_equal_to_its_parents_reads_back_as_the_parents(session, loads):
    """The state stores a task's data as changes from its parent's, and Decimal("100.00") == Decimal("100"):
    the stored state says 100, so the script after the wait must see 100, kept or not."""
    _deploy_inline(session, "equal.bpmn", _process("live_equal", ["U", "V"], (
        '<bpmn:startEvent id="s" />' + _script("S1", 'amount = amount.quantize(Decimal("0.01"))') + _user("U")
        + _script("S2", "shown = str(amount)") + _user("V") + '<bpmn:endEvent id="e" />'
        + _flows(("s", "S1"), ("S1", "U"), ("U", "S2"), ("S2", "V"), ("V", "e")))))
    inst = instances.start_instance(session, "live_equal", {"amount": decimal.Decimal("100")}, "alice")
    commit(session)
    _complete(session, inst.id, "U")
    assert loads == []
    assert _stored_data(session, inst.id, "V")["shown"] == "100"


def test_a_subprocess_data_object_that_reads_back_differently_keeps_the_workflow_out(session, loads):
    """A data object of an embedded subprocess lives in the subprocess's own data, not in any task's."""
    sub = (
        '<bpmn:subProcess id="sub"><bpmn:dataObject id="pair" />'
        '<bpmn:dataObjectReference id="pair_ref" dataObjectRef="pair" /><bpmn:startEvent id="ss" />'
        + _script("make", "pair = (1, 2)", '<bpmn:dataOutputAssociation id="out">'
                  "<bpmn:targetRef>pair_ref</bpmn:targetRef></bpmn:dataOutputAssociation>")
        + _user("U")
        + _script("use", "shown = str(pair)\ndel pair", '<bpmn:dataInputAssociation id="in">'
                  "<bpmn:sourceRef>pair_ref</bpmn:sourceRef></bpmn:dataInputAssociation>")
        + '<bpmn:endEvent id="se" />' + _flows(("ss", "make"), ("make", "U"), ("U", "use"), ("use", "se"))
        + "</bpmn:subProcess>")
    xml = _process("live_subdata", ["sub", "V"], '<bpmn:startEvent id="s" />' + sub + _user("V")
                   + '<bpmn:endEvent id="e" />' + _flows(("s", "sub"), ("sub", "V"), ("V", "e")))
    xml = xml.replace('<bpmn:subProcess id="sub">', '<bpmn:subProcess id="sub"><bpmn:laneSet id="LS_sub">'
                      '<bpmn:lane id="L_sub" name="clerk"><bpmn:flowNodeRef>U</bpmn:flowNodeRef></bpmn:lane>'
                      '</bpmn:laneSet>')
    _deploy_inline(session, "subdata.bpmn", xml)
    inst = instances.start_instance(session, "live_subdata", {}, "alice")
    commit(session)
    assert len(live.CACHE) == 0
    _complete(session, inst.id, "U")
    assert len(loads) == 1
    assert _stored_data(session, inst.id, "V")["shown"] == "[1, 2]"


def test_correlations_are_kept_only_as_plain_json():
    """Correlations are stored as they are, not through the registry: a date comes back as a typed dict."""
    wf = _in_memory(_LINE)
    wf.correlations = {"order": {"placed": dt.date(2027, 1, 2)}}
    back = serialization.load_state(serialization.dump_state(wf), wf.spec, {})
    assert back.correlations != wf.correlations
    assert live.as_loaded(wf) is None
    wf.correlations = {"order": {"placed": "2027-01-02", "number": 7}}
    assert live.as_loaded(wf) is not None


def test_waiting_events_are_kept_in_the_order_the_loader_gives(session):
    """Timers are refreshed and events offered in the event manager's order: a loop makes a timer that
    began waiting first come later in the task tree."""
    timer = ('<bpmn:intermediateCatchEvent id="{0}"><bpmn:timerEventDefinition id="TD_{0}"><bpmn:timeDuration>'
             '"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
    _deploy_inline(session, "order.bpmn", _process("live_order", ["U1", "U2", "V"], (
        '<bpmn:startEvent id="s" /><bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
        + _user("U1") + _user("U2") + _user("V") + timer.format("T1") + timer.format("T2")
        + '<bpmn:exclusiveGateway id="gw" default="F_gw_T2" /><bpmn:endEvent id="e" />'
        + _flows(("s", "fork"), ("fork", "U1"), ("U1", "T1"), ("T1", "join"), ("fork", "U2"), ("U2", "gw"),
                 ("gw", "T2"), ("T2", "join"), ("join", "V"), ("V", "e"))
        + '<bpmn:sequenceFlow id="F_back" sourceRef="gw" targetRef="U2">'
          '<bpmn:conditionExpression>note == "again"</bpmn:conditionExpression></bpmn:sequenceFlow>')))
    inst = instances.start_instance(session, "live_order", {"note": ""}, "alice")
    commit(session)
    _complete(session, inst.id, "U2", {"note": "again"})
    _complete(session, inst.id, "U2", {"note": "done"})
    _complete(session, inst.id, "U1", {"note": "x"})
    [(state, definition, kept, _cost)] = live.CACHE._entries.values()
    rebuilt = serialization.load_state(state, definition.spec, definition.subprocess_specs)
    assert [t.id for t in kept.event_manager.tasks.values()] == [t.id for t in rebuilt.event_manager.tasks.values()]


def _loop_xml(rounds: int) -> str:
    return _process("live_loop", ["U"], (
        '<bpmn:startEvent id="s" />' + _user("U") + _script("inc", "n = n + 1")
        + '<bpmn:exclusiveGateway id="gw" default="F_gw_e" /><bpmn:endEvent id="e" />'
        + _flows(("s", "U"), ("U", "inc"), ("inc", "gw"), ("gw", "e"))
        + f'<bpmn:sequenceFlow id="F_back" sourceRef="gw" targetRef="U"><bpmn:conditionExpression>n &lt; {rounds}'
          '</bpmn:conditionExpression></bpmn:sequenceFlow>'))


def test_the_budget_counts_what_a_kept_workflow_takes(session):
    """Each task holds its own copy of the data the state stores once: a loop over a long list takes many
    times the length of its state text, and the budget must count it (within a factor of two)."""
    _deploy_inline(session, "loop.bpmn", _loop_xml(100))
    inst = instances.start_instance(session, "live_loop", {"n": 0, "rows": list(range(2000))}, "alice")
    commit(session)
    for _ in range(20):
        _complete(session, inst.id, "U")
    [(state, definition, _kept, cost)] = live.CACHE._entries.values()
    serialization.load_state(state, definition.spec, definition.subprocess_specs)  # warm: specs, id maps
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rebuilt = serialization.load_state(state, definition.spec, definition.subprocess_specs)
        measured = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert rebuilt is not None and measured > 20 * len(state)  # the shape this test is about
    assert measured / 2 <= cost <= measured * 2


def test_a_failure_while_keeping_leaves_the_committed_work_alone(session, deploy, monkeypatch):
    def broken(workflow):
        raise RuntimeError("cannot keep")

    monkeypatch.setattr(live, "as_loaded", broken)
    deploy("eng_waits.bpmn")
    inst = _started(session)  # committed, not kept
    assert len(live.CACHE) == 0
    tasks.complete_task(session, _open_task(session, inst.id).id, {"note": "ok"}, "carl")
    commit(session)
    assert _stored_data(session, inst.id, "Task_fill")["note"] == "ok"


def test_a_unit_of_work_that_fails_after_saving_keeps_nothing(session, deploy, factory, loads):
    """engine.db.unit_of_work forgets what a failed unit registered: a later commit on the same (held)
    session must not keep the workflow of the undone save."""
    deploy("eng_waits.bpmn")
    inst = _started(session)
    task_id = _open_task(session, inst.id).id
    session.close()  # the thread's held session goes back, for the units of work below
    with pytest.raises(RuntimeError), db.unit_of_work(factory) as uow:
        tasks.complete_task(uow, task_id, {"note": "undone"}, "carl")
        raise RuntimeError("after the save")
    with db.unit_of_work(factory) as uow:
        tasks.claim_task(uow, task_id, "carl")
    assert len(live.CACHE) == 0
    with db.unit_of_work(factory) as uow:
        tasks.complete_task(uow, task_id, {"note": "again"}, "carl")
    assert len(loads) == 1


def test_a_timer_fire_undone_by_its_savepoint_is_rebuilt_from_the_row(session, deploy, loads, fixed_clock,
                                                                      monkeypatch):
    """The sweeper fires each timer in a savepoint; one rolled back after its save leaves the outer commit
    to keep a workflow past the timer, which the row does not hold: the next unit of work rebuilds."""
    deploy("eng_waits.bpmn")
    inst = _started(session)
    tasks.complete_task(session, _open_task(session, inst.id).id, {"note": "done"}, "carl")
    commit(session)
    correlate_message(session, "eng_docs", {"pages": 4}, business_key="L-1")
    commit(session)  # waits for the one-day timer, kept
    fixed_clock.advance(dt.timedelta(days=1, minutes=1))

    def lost(*args, **kwargs):
        raise RuntimeError("timer row gone")

    monkeypatch.setattr(timers, "_mark_fired", lost)
    [result] = timers.fire_due(session)
    commit(session)
    assert result.outcome == "failed" and loads == []  # the fire took the kept workflow
    loaded = runtime.open_instance(session, inst.id, "probe")
    [cooldown] = [t for t in loaded.workflow.get_tasks() if t.task_spec.name == "Event_cooldown"]
    assert cooldown.state == TaskState.WAITING and len(loads) == 1
    session.rollback()


def test_timers_messages_suspension_and_retries_run_on_kept_workflows(session, deploy, loads, fixed_clock):
    deploy("eng_waits.bpmn")
    inst = _started(session)
    suspension.suspend_instance(session, inst.id, "ops")
    commit(session)
    suspension.resume_instance(session, inst.id, "ops")
    commit(session)
    tasks.complete_task(session, _open_task(session, inst.id).id, {"note": "done"}, "carl")
    commit(session)
    correlate_message(session, "eng_docs", {"pages": 4}, business_key="L-1")
    commit(session)
    fixed_clock.advance(dt.timedelta(days=1, minutes=1))
    assert [r.outcome for r in timers.fire_due(session)] == ["fired"]
    commit(session)
    assert loads == []
    assert _open_task(session, inst.id).task_name == "Task_approve"


FLAKY = {"fail": True}


@handler("live.flaky", "Fails while FLAKY['fail'] is set (tests/test_engine_live.py).")
def _flaky(ctx) -> dict:
    if FLAKY["fail"]:
        raise RuntimeError("not yet")
    return {"ok": True}


def test_an_incident_retry_runs_on_the_kept_workflow(session, loads, fixed_clock):
    service = ('<bpmn:serviceTask id="svc"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator '
               'id="live.flaky" resultVariable="result" /></bpmn:extensionElements></bpmn:serviceTask>')
    _deploy_inline(session, "flaky.bpmn", _process("live_flaky", ["U"], (
        '<bpmn:startEvent id="s" />' + service + _user("U") + '<bpmn:endEvent id="e" />'
        + _flows(("s", "svc"), ("svc", "U"), ("U", "e")))))
    FLAKY["fail"] = True
    inst = instances.start_instance(session, "live_flaky", {}, "alice")
    commit(session)
    assert len(live.CACHE) == 1  # waits on its incident, kept
    [incident] = incidents.list_incidents(session, instance_id=inst.id)
    FLAKY["fail"] = False
    incidents.retry_incident(session, incident.id, "operator")
    commit(session)
    assert loads == []
    assert _stored_data(session, inst.id, "U")["result"] == {"ok": True}


def test_a_migrated_instance_runs_on_its_new_version(session, deploy, loads):
    deploy("eng_waits.bpmn")
    inst = _started(session)  # kept on version 1
    v2 = (BPMN_DIR / "eng_waits.bpmn").read_text().replace('name="Fill in the application"',
                                                            'name="Fill in the form"')
    definitions.deploy(session, {**bundle(), "eng_waits.bpmn": v2}, "tester")
    commit(session)
    target = definitions.resolve(session, "eng_waits", 2)
    migration.migrate_instance(session, inst.id, target.id, "owner")
    commit(session)
    loads.clear()
    _complete(session, inst.id, "Task_fill", {"note": "on v2"})
    assert loads == []  # the migrated workflow, kept under version 2
    row = session.get(ProcessInstance, inst.id, populate_existing=True)
    assert row.definition_id == target.id
    wf = serialization.load_state(row.state, *_specs(session, row))
    assert wf.spec is definitions.load(session, target.id).spec


def _sharing(wf) -> list:
    """Which dicts and lists of the tasks' data are one object: each container numbered at first sight, task
    by task in tree order, path by path (the loader itself shares what lies below the first level)."""
    seen: dict[int, int] = {}
    marks: list = []

    def walk(value, where) -> None:
        if type(value) in (dict, list):
            marks.append((where, seen.setdefault(id(value), len(seen))))
            items = value.items() if type(value) is dict else enumerate(value)
            for key, item in items:
                walk(item, (*where, key))

    for task in wf.tasks.values():
        walk(task.data, (task.task_spec.name, str(task.id)))
    return marks


def _assert_kept_as_loaded(wf) -> None:
    """as_loaded makes `wf` what load_state gives from its dump: every task's data equal in value, type and
    form, the same objects shared (and only those), waiting events and subprocesses in the loader's order."""
    state = serialization.dump_state(wf)
    rebuilt = serialization.load_state(state, wf.spec, wf.subprocess_specs)
    assert live.as_loaded(wf) is not None
    assert serialization.dump_state(wf) == state  # still the workflow the row holds
    for task_id, task in wf.tasks.items():
        assert repr(task.data) == repr(rebuilt.tasks[task_id].data), task.task_spec.name
    assert _sharing(wf) == _sharing(rebuilt)
    assert repr(wf.data) == repr(rebuilt.data)
    assert list(wf.event_manager.tasks) == list(rebuilt.event_manager.tasks)
    assert list(wf.subprocesses) == list(rebuilt.subprocesses)


def _run_user(wf, name: str, data: dict) -> None:
    task = _ready(wf, name)
    task.data.update(data)
    task.run()
    wf.do_engine_steps()


def test_a_kept_workflow_is_the_one_the_loader_rebuilds_at_every_wait():
    """Differential: branches sharing a nested list, a list under two names, a value equal to its parent's
    in another form, deletions, nested dicts; checked at each wait, and the run goes on from the kept one."""
    xml = _process("live_diff", ["UA", "UB", "V"], (
        '<bpmn:startEvent id="s" /><bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
        + _script("C", 'items.append({"q": 2})\nflag = 1\nb = items\ngone = "x"')
        + _user("UA", "<spiffworkflow:postScript>flag = True\ndel gone</spiffworkflow:postScript>")
        + _script("G", 'items[0]["q"] = 5\nmeta = {"k": [1, {"z": None}]}') + _user("UB")
        + _script("R", 'seen = items[0]["q"]\namount = amount.quantize(Decimal("0.01"))') + _user("V")
        + '<bpmn:endEvent id="e" />'
        + _flows(("s", "fork"), ("fork", "C"), ("C", "UA"), ("UA", "G"), ("G", "join"), ("fork", "UB"),
                 ("UB", "R"), ("R", "join"), ("join", "V"), ("V", "e"))))
    parser = EngineParser()
    parser.add_bpmn_str(xml.encode())
    wf = runtime.EngineWorkflow(parser.get_spec("live_diff"), {}, script_engine=runtime.SCRIPT_ENGINE)
    wf.get_tasks(state=TaskState.READY)[0].data.update({"items": [{"q": 1}], "amount": decimal.Decimal("100")})
    wf.do_engine_steps()
    _assert_kept_as_loaded(wf)
    _run_user(wf, "UA", {"note": "a", "rows": [[1, 2], {"x": 1}]})
    _assert_kept_as_loaded(wf)
    _run_user(wf, "UB", {"note": "b"})
    _assert_kept_as_loaded(wf)
    _run_user(wf, "V", {"note": "v"})
    assert wf.is_completed()


@pytest.mark.parametrize("key", [7, True, None, 2.5])
def test_a_key_that_is_not_text_in_a_tasks_own_data_keeps_the_workflow_out(key):
    """JSON writes such a key as its text ("7", "true"): the rebuilt task would have another key, and the
    parent's key would survive in every later task with no data of its own."""
    wf = _in_memory(_LINE)
    _ready(wf, "U").data[key] = "value"
    back = serialization.load_state(serialization.dump_state(wf), wf.spec, {})
    assert key not in back.get_task_from_id(_ready(wf, "U").id).data
    assert live.as_loaded(wf) is None
