"""Engine benchmark: raw in-memory SpiffWorkflow against our durable path, same diagram, same machine.

Diagram (bench/simple.bpmn): start -> scriptTask -> exclusiveGateway -> userTask -> end.

Raw: plain SpiffWorkflow 3.2.0, SpiffBpmnParser, its default PythonScriptEngine, no database.
Durable: a fresh SQLite file, one commit per operation, through engine.instances.start_instance and
engine.tasks.complete_task with everything production runs (restricted scripts, form validation,
projections, audit trail, optimistic version check, and the workflows kept in memory between units of work
of engine/live.py, checked against the row each time; an info line gives complete without them too).

Usage: .venv/bin/python bench/engine.py [-n 1000] [--rounds 5]
Targets: durable >= 0.5x raw for start, >= 0.35x raw for complete, state <= 8 KB per waiting instance.
Logging stays unconfigured, as in section 9 of design/SPIFFWORKFLOW.md; the raw side runs with Spiff's loggers
at their shipped levels (see spiff_as_shipped).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import select  # noqa: E402

from engine import db, definitions, instances, live, roles, tasks  # noqa: E402
from engine.models import HumanTask, ProcessInstance  # noqa: E402

DIAGRAM = HERE / "simple.bpmn"
FORM = HERE / "review.schema.json"
START_DATA = {"amount": 7}  # 7 * 2 > 10: the gateway routes to the user task
FORM_DATA = {"approved": True, "comment": "ok"}
TARGETS = {"start": 0.5, "complete": 0.35, "state_bytes": 8192}


def raw_spec():
    """The process spec parsed by plain SpiffBpmnParser."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(DIAGRAM))
    return parser.get_spec("simple")


@contextlib.contextmanager
def spiff_as_shipped():
    """Spiff's own loggers at their shipped level (NOTSET) for the raw side.

    engine/runtime.py sets the own level of `spiff.workflow` and `spiff.task` (Spiff gathers extra log
    fields whenever that level is below INFO); being process-wide, that would speed up the raw side too,
    which is meant to be plain SpiffWorkflow with logging unconfigured (SPIFFWORKFLOW.md section 9).
    """
    loggers = [logging.getLogger(name) for name in ("spiff.workflow", "spiff.task")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def raw_round(spec, n: int) -> tuple[float, float, float, float]:
    """Start n instances to their user task, then complete each; (starts/s, completes/s, CPU ms each x2)."""
    with spiff_as_shipped():
        return _raw_round(spec, n)


def _raw_round(spec, n: int) -> tuple[float, float, float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    workflows = []
    for _ in range(n):
        wf = BpmnWorkflow(spec)
        wf.get_tasks(state=TaskState.READY)[0].data.update(START_DATA)
        wf.do_engine_steps()
        workflows.append(wf)
    c1, t1 = time.process_time(), time.perf_counter()
    for wf in workflows:
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.data.update(FORM_DATA)
        task.run()
        wf.do_engine_steps()
        assert wf.is_completed()
    c2, t2 = time.process_time(), time.perf_counter()
    return n / (t1 - t0), n / (t2 - t1), (c1 - c0) * 1000 / n, (c2 - c1) * 1000 / n


def durable_setup(path: Path):
    """A fresh migrated SQLite file with the diagram deployed; the session factory."""
    roles.register_roles({"reviewer": "Reviewer"})
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with db.unit_of_work(factory) as session:
        definitions.deploy(session, {"simple.bpmn": DIAGRAM.read_text(),
                                     "forms/review.schema.json": FORM.read_text()}, "bench")
    return engine, factory


def durable_round(factory, n: int, round_no: int):
    """Start n instances (one commit each), then complete their user tasks (one commit each)."""
    c0, t0 = time.process_time(), time.perf_counter()
    ids = []
    for i in range(n):
        with db.unit_of_work(factory) as session:
            ids.append(instances.start_instance(session, "simple", dict(START_DATA), "bench",
                                                business_key=f"BENCH-{round_no}-{i}").id)
    c1, t1 = time.process_time(), time.perf_counter()
    with factory() as session:
        task_ids = list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id.in_(ids),
                                                                   HumanTask.status == "open")))
        sizes = [len(s) for s in session.scalars(select(ProcessInstance.state)
                                                 .where(ProcessInstance.id.in_(ids)))]
    assert len(task_ids) == n, f"expected {n} open tasks, found {len(task_ids)}"
    c2, t2 = time.process_time(), time.perf_counter()
    for task_id in task_ids:
        with db.unit_of_work(factory) as session:
            tasks.complete_task(session, task_id, dict(FORM_DATA), "bench")
    c3, t3 = time.process_time(), time.perf_counter()
    return n / (t1 - t0), n / (t3 - t2), sizes, (c1 - c0) * 1000 / n, (c3 - c2) * 1000 / n


def check_completed(factory) -> None:
    """Every benchmarked instance really finished (guards against measuring a broken path)."""
    with factory() as session:
        statuses = set(session.scalars(select(ProcessInstance.status).distinct()))
    assert statuses == {"completed"}, f"unexpected instance statuses {statuses}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000, help="instances per round (default 1000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported (default 5)")
    ap.add_argument("--out", default=str(HERE / "results" / "engine.txt"), help="results file ('' = none)")
    args = ap.parse_args(argv)

    spec = raw_spec()
    raw_s, raw_c, dur_s, dur_c, sizes, rebuilt = [], [], [], [], [], []
    cpu: dict[str, list[float]] = {"raw_s": [], "raw_c": [], "dur_s": [], "dur_c": []}
    with tempfile.TemporaryDirectory(prefix="idiflow-bench-") as tmp:
        engine, factory = durable_setup(Path(tmp) / "bench.db")
        raw_round(spec, min(args.n, 200))  # warm-ups: imports, caches, compiled scripts
        durable_round(factory, min(args.n, 200), 0)
        for r in range(1, args.rounds + 1):  # interleaved, so both sides see the same machine load
            gc.collect()
            s, c, cs, cc = raw_round(spec, args.n)
            raw_s.append(s)
            raw_c.append(c)
            cpu["raw_s"].append(cs)
            cpu["raw_c"].append(cc)
            gc.collect()
            s, c, sz, cs, cc = durable_round(factory, args.n, r)
            dur_s.append(s)
            dur_c.append(c)
            sizes += sz
            cpu["dur_s"].append(cs)
            cpu["dur_c"].append(cc)
        # The same rounds with nothing kept: every operation rebuilds its workflow from the stored row.
        kept, live.CACHE = live.CACHE, live.LiveWorkflows(0)
        try:
            for r in range(args.rounds + 1, 2 * args.rounds + 1):
                gc.collect()
                rebuilt.append(durable_round(factory, args.n, r)[1])
        finally:
            live.CACHE = kept
        check_completed(factory)
        engine.dispose()

    med = statistics.median
    rs, rc, ds, dc = med(raw_s), med(raw_c), med(dur_s), med(dur_c)
    state_bytes = int(med(sizes))
    ratio_s, ratio_c = ds / rs, dc / rc
    ok = (ratio_s >= TARGETS["start"], ratio_c >= TARGETS["complete"], state_bytes <= TARGETS["state_bytes"])
    lines = [
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"N={args.n} x {args.rounds} rounds, medians",
        f"raw start     {rs:8.0f}/s   ({1000 / rs:.3f} ms each)",
        f"raw complete  {rc:8.0f}/s   ({1000 / rc:.3f} ms each)",
        f"durable start    {ds:8.0f}/s   ({1000 / ds:.3f} ms each)  ratio {ratio_s:.3f} "
        f"(target >= {TARGETS['start']})  {'OK' if ok[0] else 'MISS'}",
        f"durable complete {dc:8.0f}/s   ({1000 / dc:.3f} ms each)  ratio {ratio_c:.3f} "
        f"(target >= {TARGETS['complete']})  {'OK' if ok[1] else 'MISS'}",
        f"state bytes per waiting instance: median {state_bytes}, max {max(sizes)} "
        f"(target <= {TARGETS['state_bytes']})  {'OK' if ok[2] else 'MISS'}",
        f"(info) CPU time per operation, ms: raw start {med(cpu['raw_s']):.3f} complete {med(cpu['raw_c']):.3f}, "
        f"durable start {med(cpu['dur_s']):.3f} complete {med(cpu['dur_c']):.3f}; CPU-time ratios "
        f"start {med(cpu['raw_s']) / med(cpu['dur_s']):.3f} complete {med(cpu['raw_c']) / med(cpu['dur_c']):.3f}",
        f"(info) complete with every workflow rebuilt from its row (IDIFLOW_LIVE_CACHE_MB=0): "
        f"{med(rebuilt):.0f}/s, ratio {med(rebuilt) / rc:.3f}",
        f"(info) load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
        f"ratio start={ratio_s:.3f} complete={ratio_c:.3f} state_bytes={state_bytes}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
