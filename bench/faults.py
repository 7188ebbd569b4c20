"""Fault run: scaled mode under SIGKILLs, a PostgreSQL restart and a flaky handler; then a consistency report.

Each case (bench/flows/bench_flaky.bpmn) is: review (a human task, completed over HTTP) -> a one-second
timer (fired by an `idiflow worker`) -> a service task `bench.flaky` that fails on its first call for one
case in three -> end. While case workers complete the reviews, this script
1. SIGKILLs a gunicorn web worker (gunicorn forks a new one),
2. SIGKILLs an `idiflow worker` (scripts/scaled.sh restarts it; its leased timers are taken over when the
   lease expires),
3. restarts PostgreSQL (`pg_ctl restart -m fast`: every connection is cut mid-transaction),
and the flaky handler leaves incidents, which an operator then retries through the API.
A client whose request died with the connection retries it; a 409 on the retry means the first attempt had
committed. Afterwards the database must show: every case completed, every review completed exactly once,
every timer fired exactly once, no open task left, every incident resolved by its retry.

Usage: .venv/bin/python bench/faults.py [--cases 300] [--deadline 180]
Last line: `faults instances=<n> timers_fired_once=<n> tasks_lost=0 duplicates=0 incidents_retried=<n>/<n> ok`.
This module is also the handler module the platform loads (IDIFLOW_HANDLER_MODULES=faults).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # before bench/ itself: bench/engine.py must not shadow the package

from sqlalchemy import select  # noqa: E402

from engine.models import Incident  # noqa: E402
from engine.services import HandlerContext, handler  # noqa: E402

FLAKY_EVERY = 3  # one case in three fails on its first call


@handler("bench.flaky", "Fault test: fails on the first call for one case in three, then succeeds.")
def flaky(ctx: HandlerContext) -> dict:
    """A downstream that is down the first time for some cases: the incident it leaves marks the retry."""
    retried = ctx.session.scalar(select(Incident.id).where(Incident.instance_id == ctx.instance_id).limit(1))
    if ctx.instance_id % FLAKY_EVERY == 0 and retried is None:
        raise ConnectionError(f"flaky downstream refused case {ctx.instance_id} (simulated outage)")
    return {"ok": True, "retried": retried is not None}


@dataclass
class Platform:
    """A scaled-mode platform started by scripts/scaled.sh in a private folder."""

    workdir: Path
    port: int
    pg_port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/idiflow"

    def gunicorn_workers(self) -> list[int]:
        master = int((self.workdir / "run" / "gunicorn.pid").read_text().strip())
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def timer_worker(self, index: int = 1) -> int:
        return int((self.workdir / "run" / f"worker-{index}.pid").read_text().strip())

    def restart_postgres(self) -> float:
        """pg_ctl restart -m fast (as the postgres user when root); returns the seconds it took."""
        import glob

        bin_dir = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))[-1]
        cmd = [f"{bin_dir}/pg_ctl", "-D", str(self.workdir / "pg" / "data"), "-m", "fast", "-w", "restart",
               "-l", str(self.workdir / "pg" / "server.log")]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        started = time.monotonic()
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_platform(workdir: Path, web: int = 2, workers: int = 2) -> Platform:
    """scripts/scaled.sh with this module as a handler module, short leases, a private cluster."""
    sys.path.append(str(HERE))
    from load import free_port, wait_ready

    port, pg_port = free_port(), free_port()
    env = {**os.environ, "IDIFLOW_PG_DIR": str(workdir / "pg"), "IDIFLOW_PG_PORT": str(pg_port),
           "IDIFLOW_RUN_DIR": str(workdir / "run"), "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
           "IDIFLOW_HANDLER_MODULES": "faults",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]),
           "IDIFLOW_WORKER_ARGS": "--lease 8 --poll 0.5 --batch 20"}
    env.pop("IDIFLOW_DATABASE_URL", None)
    log_path = workdir / "platform.log"
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "scaled.sh"), "--no-setup", "--port", str(port),
                                 "--web", str(web), "--workers", str(workers), "--threads", "2"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    platform = Platform(workdir, port, pg_port, proc, log_path)
    try:
        wait_ready(port, proc)
    except Exception:
        platform.stop()
        raise
    return platform


@dataclass
class Seeded:
    worker_token: str
    admin_token: str
    task_ids: list[str]
    instance_ids: list[int]


def seed(url: str, cases: int) -> Seeded:
    """The fault diagram, a case worker and an administrator with tokens, `cases` cases at their review."""
    import handlers  # noqa: F401 - roles
    from engine import db, definitions, instances
    from engine.models import HumanTask
    from web.accounts import create_user
    from web.auth_tokens import issue_token

    flows = HERE / "flows"
    files = {"bench_flaky.bpmn": (flows / "bench_flaky.bpmn").read_bytes()}
    files.update({f"forms/{p.name}": p.read_bytes() for p in (flows / "forms").glob("*.json")})
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    try:
        with db.unit_of_work(factory) as session:
            definitions.deploy(session, files, "faults")
            worker = issue_token(session, create_user(session, "fault_uw", ["underwriter"]), "faults")
            admin = issue_token(session, create_user(session, "fault_admin", ["administrator"]), "faults")
            ids = [instances.start_instance(session, "bench_flaky", {}, "faults", business_key=f"FAULT-{i:05d}").id
                   for i in range(cases)]
        with factory() as session:
            tasks = list(session.scalars(select(HumanTask.id).where(HumanTask.instance_id.in_(ids))))
        return Seeded(worker, admin, tasks, ids)
    finally:
        engine.dispose()
        definitions.clear_cache()


@dataclass
class ClientLog:
    completed: int = 0
    already_done: int = 0  # a retry answered 409: the attempt that lost its connection had committed
    retries: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def call(port: int, token: str, method: str, path: str, body: dict | None = None,
         timeout: float = 30) -> tuple[int, dict]:
    """One request on a fresh connection (a killed worker must not poison a kept-alive one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw or b"{}")
        except ValueError:
            return response.status, {"raw": raw[:200].decode(errors="replace")}
    finally:
        conn.close()


def complete_all(port: int, token: str, task_ids: list[str], log: ClientLog, attempts: int = 40) -> None:
    """Complete each task, retrying what died with a connection or a server error."""
    for task_id in task_ids:
        for attempt in range(attempts):
            try:
                status, body = call(port, token, "POST", f"/api/v1/tasks/{task_id}/complete",
                                    {"data": {"approved": True, "comment": "fault run"}})
            except (OSError, http.client.HTTPException) as err:
                status, body = 0, {"error": f"{type(err).__name__}: {err}"}
            with log.lock:
                if status == 200:
                    log.completed += 1
                elif status == 409 and attempt > 0:
                    log.already_done += 1
                elif status in (0, 409, 500, 502, 503):
                    log.retries += 1
                    time.sleep(min(2.0, 0.2 * (attempt + 1)))
                    continue
                else:
                    log.failures.append(f"{task_id}: {status} {body}")
            break
        else:
            log.failures.append(f"{task_id}: gave up after {attempts} attempts")


@dataclass
class Report:
    instances: int
    completed: int
    reviews_completed_once: int
    duplicates: int
    tasks_lost: int
    timers_fired_once: int
    timers_not_once: int
    incidents: int
    incidents_resolved: int
    expected_incidents: int
    flagged: int
    problems: list[str]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(url: str, instance_ids: list[int]) -> Report:
    """Read the database: every case, task, timer and incident of the run."""
    from sqlalchemy import func

    from engine import db
    from engine.models import AuditEvent, HumanTask, ProcessInstance, Timer

    engine = db.make_engine(url)
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            ids = list(instance_ids)
            rows = conn.execute(select(ProcessInstance.id, ProcessInstance.status, ProcessInstance.has_incident)
                                .where(ProcessInstance.id.in_(ids))).all()
            completed = sum(1 for r in rows if r.status == "completed")
            flagged = sum(1 for r in rows if r.has_incident)
            tasks = conn.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.status)
                                 .where(HumanTask.instance_id.in_(ids))).all()
            per_instance: dict[int, int] = {}
            for t in tasks:
                per_instance[t.instance_id] = per_instance.get(t.instance_id, 0) + 1
            completions = dict(conn.execute(select(AuditEvent.task_id, func.count()).where(
                AuditEvent.action == "complete", AuditEvent.instance_id.in_(ids)).group_by(AuditEvent.task_id)).all())
            fires = dict(conn.execute(select(AuditEvent.task_id, func.count()).where(
                AuditEvent.action == "timer_fired", AuditEvent.instance_id.in_(ids))
                .group_by(AuditEvent.task_id)).all())
            timer_rows = conn.execute(select(Timer.id, Timer.status).where(Timer.instance_id.in_(ids))).all()
            incidents = conn.execute(select(Incident.id, Incident.instance_id, Incident.status, Incident.attempts)
                                     .where(Incident.instance_id.in_(ids))).all()
    finally:
        engine.dispose()
    lost = [t.id for t in tasks if t.status != "completed"] + [i for i in ids if per_instance.get(i, 0) == 0]
    duplicates = sum(1 for n in per_instance.values() if n > 1) + sum(1 for n in completions.values() if n > 1)
    once = sum(1 for t in tasks if completions.get(t.id) == 1)
    fired_once = sum(1 for t in timer_rows if t.status == "fired" and fires.get(t.id) == 1)
    timers_not_once = len(timer_rows) - fired_once + sum(1 for i in ids if i not in {r.id for r in rows})
    expected = sum(1 for i in ids if i % FLAKY_EVERY == 0)
    resolved = sum(1 for i in incidents if i.status == "resolved")
    if len(rows) != len(ids):
        problems.append(f"{len(ids) - len(rows)} case(s) missing")
    if completed != len(ids):
        problems.append(f"{len(ids) - completed} case(s) not completed: "
                        f"{[r.id for r in rows if r.status != 'completed'][:10]}")
    if lost:
        problems.append(f"{len(lost)} task(s) lost or still open: {lost[:5]}")
    if duplicates:
        problems.append(f"{duplicates} duplicate task(s) or completion(s)")
    if len(timer_rows) != len(ids) or fired_once != len(timer_rows):
        problems.append(f"timers: {len(timer_rows)} rows for {len(ids)} cases, {fired_once} fired exactly once")
    if resolved != len(incidents) or len(incidents) < expected:
        problems.append(f"incidents: {resolved}/{len(incidents)} resolved, {expected} expected at least")
    if flagged:
        problems.append(f"{flagged} case(s) still flagged with an incident")
    return Report(len(ids), completed, once, duplicates, len(lost), fired_once, timers_not_once, len(incidents),
                  resolved, expected, flagged, problems)


def retry_incidents(platform: Platform, token: str) -> tuple[int, int]:
    """An operator retries every open incident through the API; returns (retried, resolved)."""
    status, body = call(platform.port, token, "GET", "/api/v1/incidents?limit=500")
    if status != 200:
        raise RuntimeError(f"GET /incidents answered {status}: {body}")
    retried = resolved = 0
    for incident in body["items"]:
        status, answer = call(platform.port, token, "POST", f"/api/v1/incidents/{incident['id']}/retry")
        retried += 1
        resolved += status == 200 and answer.get("status") == "resolved"
    return retried, resolved


def scrape_totals(port: int) -> dict[str, float]:
    """Totals from /metrics: API task completions, timers fired, service incidents."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    wanted = {("idiflow_task_completions_total", "api"): "completions",
              ("idiflow_timer_fires_total", "fired"): "timers_fired",
              ("idiflow_incidents_total", "service"): "incidents"}
    totals = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = sample.labels.get("channel") or sample.labels.get("outcome") or sample.labels.get("kind")
            key = wanted.get((sample.name, label))
            if key:
                totals[key] += sample.value
    return totals


def wait_until(predicate: Callable[[], bool], seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def counts(url: str, ids: list[int]) -> dict[str, int]:
    """Cases by state: waiting for a timer, failed (open incident), completed."""
    from sqlalchemy import func

    from engine import db
    from engine.models import ProcessInstance, Timer

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            pending = conn.scalar(select(func.count()).select_from(Timer).where(
                Timer.instance_id.in_(ids), Timer.status.in_(("waiting", "leased")))) or 0
            open_incidents = conn.scalar(select(func.count()).select_from(Incident).where(
                Incident.instance_id.in_(ids), Incident.status == "open")) or 0
            done = conn.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.id.in_(ids), ProcessInstance.status == "completed")) or 0
        return {"pending_timers": pending, "open_incidents": open_incidents, "completed": done}
    finally:
        engine.dispose()


def run(cases: int = 300, deadline: float = 180, workdir: Path | None = None,
        say: Callable[[str], None] = print) -> Report:
    """Start the platform, drive the cases through the faults, retry incidents, check; always stop it."""
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="idiflow-faults-")
        workdir = Path(own_tmp.name)
    os.chmod(workdir, 0o755)  # the PostgreSQL cluster inside runs as the postgres user
    try:
        platform = start_platform(workdir)
    except Exception as err:
        log_path = workdir / "platform.log"
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "(no platform log)"
        if own_tmp is not None:
            own_tmp.cleanup()
        raise RuntimeError(f"{err}\n--- platform log (tail) ---\n{tail}") from err
    try:
        seeded = seed(platform.url, cases)
        say(f"platform ready on 127.0.0.1:{platform.port}; {cases} cases at their review task")
        log = ClientLog()
        share = 3
        drivers = [threading.Thread(target=complete_all, args=(platform.port, seeded.worker_token,
                                                               seeded.task_ids[i::share], log), daemon=True)
                   for i in range(share)]
        for t in drivers:
            t.start()
        faults = inject_faults(platform, log, cases, say)
        for t in drivers:
            t.join(timeout=deadline)
        say(f"clients: {log.completed} completed, {log.already_done} answered 409 on a retry (had committed), "
            f"{log.retries} retried request(s), {len(log.failures)} failure(s)")
        for failure in log.failures[:5]:
            say(f"  client failure: {failure}")
        ids = seeded.instance_ids
        settled = wait_until(lambda: counts(platform.url, ids)["pending_timers"] == 0, deadline / 2)
        state = counts(platform.url, ids)
        say(f"after the faults: {state} (timers settled: {settled})")
        retried, resolved = retry_incidents(platform, seeded.admin_token)
        say(f"operator retried {retried} open incident(s) through the API: {resolved} resolved")
        wait_until(lambda: counts(platform.url, ids)["completed"] == len(ids), 30)
        report = check(platform.url, ids)
        report.problems[:0] = [f"client: {f}" for f in log.failures[:3]]
        report.metrics = scrape_totals(platform.port)
        say(f"/metrics (all processes, the killed ones included): {report.metrics}")
        say(f"faults injected: {', '.join(faults)}")
        return report
    finally:
        platform.stop()
        if own_tmp is not None:
            own_tmp.cleanup()


def inject_faults(platform: Platform, log: ClientLog, cases: int, say: Callable[[str], None]) -> list[str]:
    """Kill a web worker, kill a timer worker, restart PostgreSQL, each once completions are under way."""
    done: list[str] = []

    def progress() -> int:
        return log.completed + log.already_done

    steps = [(0.15, "SIGKILL web worker", lambda: _kill(platform.gunicorn_workers()[0])),
             (0.35, "SIGKILL idiflow worker", lambda: _kill(platform.timer_worker(1))),
             (0.55, "restart PostgreSQL", platform.restart_postgres)]
    for fraction, name, action in steps:
        wait_until(lambda f=fraction: progress() >= f * cases, 120, 0.05)
        result = action()
        detail = f" ({result:.1f} s)" if isinstance(result, float) else f" (pid {result})"
        say(f"  {name}{detail} after {progress()} completions")
        done.append(name)
    return done


def _kill(pid: int) -> int:
    os.kill(pid, signal.SIGKILL)
    return pid


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--deadline", type=float, default=180)
    args = parser.parse_args()
    report = run(args.cases, args.deadline, say=lambda line: print(line, flush=True))
    print("consistency report:")
    print(f"  instances checked:         {report.instances} ({report.completed} completed)")
    print(f"  reviews completed once:    {report.reviews_completed_once}")
    print(f"  timers fired exactly once: {report.timers_fired_once} (not once: {report.timers_not_once})")
    print(f"  tasks lost:                {report.tasks_lost}")
    print(f"  duplicates:                {report.duplicates}")
    print(f"  incidents:                 {report.incidents} ({report.expected_incidents} flaky cases), "
          f"{report.incidents_resolved} resolved by retry; cases still flagged: {report.flagged}")
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    print(f"faults instances={report.instances} timers_fired_once={report.timers_fired_once} "
          f"tasks_lost={report.tasks_lost} duplicates={report.duplicates} "
          f"incidents_retried={report.incidents_resolved}/{report.incidents} {'ok' if report.ok else 'FAILED'}")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
