"""Load test on loopback: case workers list their inbox, open and complete tasks, owners report defects,
while the timers that each completion arms (one second later) fire. Bounded: `--seconds` (60) per mode.

Modes, run one after the other:
- embedded: `idiflow serve` on a fresh SQLite file (one process; its embedded sweeper fires the timers),
- scaled:   `scripts/scaled.sh --web 2 --workers 2` on a private PostgreSQL cluster it starts itself.

Traffic (JSON API, bearer tokens, persistent HTTP/1.1 connections, one thread per user): 4 inbox users in
a closed loop (the next request as soon as the last is answered), 12 case workers who together open and
complete up to `--complete-rate` (110) tasks a second, one owner:
- inbox:    GET  /api/v1/tasks?limit=20           (`--inbox-threads`, underwriters' inbox)
- open:     GET  /api/v1/tasks/<id>               } `--complete-threads`, each over its own share of
- complete: POST /api/v1/tasks/<id>/complete      } the seeded tasks (so no two threads race for one)
- report:   POST /api/v1/claims                   (one owner, at most `--report-rate` per second)
The load generator is one lean process (http.client, a few threads) so it leaves the cores to the server.

Usage: .venv/bin/python bench/load.py [--seconds 60] [--modes embedded,scaled] [--tasks 9000]
Targets (2 cores): inbox >= 300 req/s with p99 <= 200 ms and 0 errors; complete >= 100 /s.
Last line (scaled mode): `load inbox_rps=<x> inbox_p99_ms=<y> complete_rps=<z> errors=<n>`.
Each mode also prints the server's CPU per request (web, timer workers, PostgreSQL), read from /proc: unlike
the rates, it hardly changes when other programs share the cores, so runs on a busy machine compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

import handlers  # noqa: E402, F401 - registers roles, domain tables and handlers
from engine import db, definitions, instances  # noqa: E402
from engine.errors import DefinitionInvalid  # noqa: E402
from engine.models import HumanTask, ProcessInstance, Timer  # noqa: E402
from handlers.dates import cover_dates  # noqa: E402
from handlers.models import Party, Policy, Project  # noqa: E402
from web.accounts import create_user  # noqa: E402
from web.auth_tokens import issue_token  # noqa: E402

FLOWS = HERE / "flows"
WORKFLOWS = ROOT / "workflows"
POLICY_NO = "IDI-BENCH-0001"
UNITS = tuple(f"{b}-{r}" for b in range(1, 5) for r in range(101, 111))
TARGETS = {"inbox_rps": 300, "inbox_p99_ms": 200, "complete_rps": 100, "errors": 0}
KINDS = ("inbox", "open", "complete", "report")
COOL_DOWN_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- seeding -------------------------------------------------------------------------------------------

def bundle() -> dict[str, bytes]:
    """The bench diagrams, plus the claim diagrams and their forms (the owners' reports start them)."""
    files = {"bench_case.bpmn": (FLOWS / "bench_case.bpmn").read_bytes()}
    files.update({f"forms/{p.name}": p.read_bytes() for p in (FLOWS / "forms").glob("*.json")})
    return files


def claim_bundle() -> dict[str, bytes]:
    """The claim diagrams and their forms (an owner's report starts them)."""
    files = {p.name: p.read_bytes() for p in WORKFLOWS.glob("claim*.bpmn")}
    files.update({f"forms/{p.name}": p.read_bytes() for p in (WORKFLOWS / "forms").glob("claim_*.json")})
    return files


def seed_policy(session) -> None:
    """One completed project with a policy in its contractor period, so owners can report defects."""
    if session.scalar(select(Policy.id).where(Policy.policy_no == POLICY_NO)):
        return
    dev = Party(credit_code="91330300DEVBENCH01", name="龙港城投置业", kind="developer")
    con = Party(credit_code="91330300CONBENCH01", name="浙江建工集团", kind="contractor")
    session.add_all([dev, con])
    session.flush()
    completion = dt.date.today() - dt.timedelta(days=200)
    d = cover_dates(completion)
    project = Project(project_no="LG-BENCH", name="龙港新城安置房", in_longgang=True,
                      project_type="new_residential", construction_cost=Decimal("100000000.00"),
                      developer_id=dev.id, contractor_id=con.id, completion_date=completion,
                      units=list(UNITS),
                      registered_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), status="completed")
    session.add(project)
    session.flush()
    session.add(Policy(policy_no=POLICY_NO, project_id=project.id, insurer_name="人保财险温州市分公司",
                       status="contractor_period", premium_base=Decimal("100000000.00"),
                       rate=Decimal("0.015"),
                       premium=Decimal("1500000.00"), contractor_start=completion,
                       contractor_end=d.contractor_end, cover_start=d.cover_start,
                       end_items_1_4=d.end_items_1_4, end_item_5=d.end_item_5, end_items_6_8=d.end_items_6_8))


@dataclass
class Seeded:
    worker_tokens: list[str]
    owner_token: str
    task_ids: list[str]
    claims: bool = True


def seed(url: str, n_tasks: int, n_workers: int) -> Seeded:
    """Diagrams, a policy, users with tokens, and `n_tasks` bench cases waiting at their review task."""
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    try:
        claims_ok = True
        try:
            with db.unit_of_work(factory) as session:
                definitions.deploy(session, claim_bundle(), "bench")
        except DefinitionInvalid as err:
            claims_ok = False
            print(f"  owner reports skipped: the claim diagrams do not deploy ({err.problems[0]})"[:300])
        with db.unit_of_work(factory) as session:
            definitions.deploy(session, bundle(), "bench")
            seed_policy(session)
            tokens = [issue_token(session, create_user(session, f"uw{i}", ["underwriter"]), "bench")
                      for i in range(n_workers)]
            owner = issue_token(session, create_user(session, "bench_owner", ["owner"]), "bench")
        started = time.perf_counter()
        for start in range(0, n_tasks, 500):
            with db.unit_of_work(factory) as session:
                for i in range(start, min(n_tasks, start + 500)):
                    instances.start_instance(session, "bench_case", {}, "bench",
                                             business_key=f"BENCH-{i:06d}")
        with factory() as session:
            ids = list(session.scalars(select(HumanTask.id).where(HumanTask.status == "open",
                                                                  HumanTask.lane == "underwriter")))
        print(f"  seeded {len(ids)} open tasks in {time.perf_counter() - started:.1f} s", flush=True)
        # Statistics for the planner and no autovacuum of the fresh rows in the middle of the measurement.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
        time.sleep(COOL_DOWN_SECONDS)  # let the seeding's background work (WAL, checkpoints) settle
        return Seeded(tokens, owner, ids, claims_ok)
    finally:
        engine.dispose()
        definitions.clear_cache()


# --- the load --------------------------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
                if len(self.samples[kind]) < 3:
                    self.samples[kind].append(detail[:200])


class Client:
    """One persistent HTTP/1.1 connection with a token; reconnects when the server closes it."""

    def __init__(self, port: int, token: str, stats: Stats):
        self.port, self.stats = port, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, kind: str, method: str, path: str, body: dict | None = None, expect: int = 200):
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                              headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
            ok = response.status == expect
            self.stats.add(kind, time.perf_counter() - started, ok, f"{response.status} {data[:150]!r}")
            return json.loads(data) if ok else None
        except (OSError, http.client.HTTPException) as err:
            self.conn.close()
            self.stats.add(kind, time.perf_counter() - started, False, f"{type(err).__name__}: {err}")
            return None


def run_load(port: int, seeded: Seeded, seconds: float, inbox_threads: int, complete_threads: int,
             report_rate: float, complete_rate: float = 0.0) -> tuple[Stats, float]:
    """Run every kind of traffic until the deadline; returns the stats and the elapsed wall time."""
    stats, stop = Stats(), threading.Event()
    tokens = seeded.worker_tokens

    def inbox(i: int) -> None:
        client = Client(port, tokens[i % len(tokens)], stats)
        while not stop.is_set():
            client.call("inbox", "GET", "/api/v1/tasks?limit=20")

    def case_worker(i: int) -> None:
        client = Client(port, tokens[(i + inbox_threads) % len(tokens)], stats)
        # Each case worker opens and completes one task per `interval` at most (complete_rate in all);
        # a worker that falls behind goes on at once, so a slow server shows as fewer completions.
        interval = complete_threads / complete_rate if complete_rate > 0 else 0.0
        next_at = time.monotonic() + interval * i / complete_threads  # spread the workers' starts
        for task_id in seeded.task_ids[i::complete_threads]:
            if stop.wait(max(0.0, next_at - time.monotonic())):
                return
            next_at = max(next_at + interval, time.monotonic() - interval)
            if client.call("open", "GET", f"/api/v1/tasks/{task_id}") is not None:
                client.call("complete", "POST", f"/api/v1/tasks/{task_id}/complete",
                            {"data": {"approved": True, "comment": "load test"}})

    def owner() -> None:
        client = Client(port, seeded.owner_token, stats)
        n = 0
        while not stop.is_set():
            began = time.monotonic()
            client.call("report", "POST", "/api/v1/claims", {
                "policy_no": POLICY_NO, "unit": UNITS[n % len(UNITS)], "category": 1 + n % 8,
                "description": "卫生间渗漏 (load test)"}, expect=201)
            n += 1
            stop.wait(max(0.0, 1 / report_rate - (time.monotonic() - began)))

    threads = [threading.Thread(target=inbox, args=(i,), daemon=True) for i in range(inbox_threads)]
    threads += [threading.Thread(target=case_worker, args=(i,), daemon=True) for i in range(complete_threads)]
    if report_rate > 0 and seeded.claims:
        threads.append(threading.Thread(target=owner, daemon=True))
    started = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=35)
    return stats, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summarize(mode: str, stats: Stats, elapsed: float) -> dict[str, float]:
    """Print one line per request type; returns the figures of the last line."""
    heads = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"  {'type':9} " + " ".join(f"{h:>8}" for h in heads) + f" {'errors':>7}")
    for kind in KINDS:
        lat = stats.latencies[kind]
        print(f"  {kind:9} {len(lat):8d} {len(lat) / elapsed:8.1f} {pct(lat, .5):8.1f} {pct(lat, .95):8.1f} "
              f"{pct(lat, .99):8.1f} {stats.errors[kind]:7d}")
        for sample in stats.samples[kind]:
            print(f"    error sample: {sample}")
    inbox = stats.latencies["inbox"]
    return {"inbox_rps": len(inbox) / elapsed, "inbox_p99_ms": pct(inbox, .99),
            "complete_rps": (len(stats.latencies["complete"]) - stats.errors["complete"]) / elapsed,
            "errors": sum(stats.errors.values())}


def server_errors(path: Path, limit: int = 3) -> None:
    """The server log's first few error lines (tracebacks, error records), so a failing run says why."""
    shown = 0
    for line in path.read_text(errors="replace").splitlines():
        if "Traceback" in line or '"ERROR"' in line or "Error:" in line:
            print(f"    server log: {line[:1500]}")
            shown += 1
            if shown >= limit:
                return


def server_cpu(session_id: int, pg_data: Path | None = None) -> dict[str, float]:
    """CPU seconds used so far by the platform's processes (those in the session `session_id` leads, and the
    PostgreSQL server of `pg_data`, which runs in its own session), by role: web (gunicorn), timers
    (`idiflow worker`), postgres, other. Processes that ended are not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    postmaster = -1
    if pg_data is not None and (pg_data / "postmaster.pid").exists():
        postmaster = int((pg_data / "postmaster.pid").read_text().split()[0])
    used = dict.fromkeys(("web", "timers", "postgres", "other"), 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) == postmaster or int(stat[1]) == postmaster:
            used["postgres"] += (int(stat[11]) + int(stat[12])) / tick
            continue
        if int(stat[3]) != session_id:
            continue
        role = ("web" if "gunicorn" in cmdline or " serve" in cmdline else "timers" if " worker" in cmdline
                else "postgres" if "postgres" in cmdline else "other")
        used[role] += (int(stat[11]) + int(stat[12])) / tick
    return used


def cpu_report(before: dict[str, float], after: dict[str, float], stats: Stats) -> None:
    """Server CPU per request during the run, by role: comparable between runs on a busy machine."""
    served = sum(len(v) for v in stats.latencies.values())
    if not served or not before:
        return
    parts = {k: 1000 * (after[k] - before[k]) / served for k in after}
    print(f"  server CPU per request (all {served} requests): {sum(parts.values()):.2f} ms = "
          + ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if k != "other" or v))


def timer_report(url: str, window_start: dt.datetime) -> None:
    """Timers the completions armed: how many fired during the run, and their lag."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            fired = conn.execute(select(func.count(), func.max(Timer.lag_ms)).where(
                Timer.status == "fired", Timer.fired_at >= window_start)).one()
            lags = sorted(r[0] for r in conn.execute(select(Timer.lag_ms).where(
                Timer.status == "fired", Timer.fired_at >= window_start)) if r[0] is not None)
            waiting = conn.scalar(select(func.count()).select_from(Timer).where(Timer.status.in_(("waiting",
                                                                                                  "leased"))))
            done = conn.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.process_id == "bench_case", ProcessInstance.status == "completed"))
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else 0
        print(f"  timers fired during the run: {fired[0]} (lag p99 {p99} ms, max {fired[1] or 0} ms); "
              f"pending now: {waiting}; bench cases completed: {done}")
    finally:
        engine.dispose()


# --- the two modes ----------------------------------------------------------------------------------------

def wait_ready(port: int, proc: subprocess.Popen, limit: float = 180) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.5)
    raise RuntimeError(f"the server on port {port} was not ready after {limit} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_mode(mode: str, args, workdir: Path) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(workdir / f"{mode}.log", "w")  # noqa: SIM115 - closed below
    if mode == "embedded":
        url = f"sqlite:///{workdir}/embedded.db"
        env["IDIFLOW_DATABASE_URL"] = url
        subprocess.run([str(ROOT / ".venv/bin/idiflow"), "init-db"], env=env, check=True, stdout=log)
        seeded = seed(url, args.tasks, args.inbox_threads + args.complete_threads)
        proc = subprocess.Popen([str(ROOT / ".venv/bin/idiflow"), "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    else:
        pg_port = free_port()
        url = f"postgresql://postgres@127.0.0.1:{pg_port}/idiflow"
        env.pop("IDIFLOW_DATABASE_URL", None)
        env.update(IDIFLOW_PG_DIR=str(workdir / "pg"), IDIFLOW_PG_PORT=str(pg_port),
                   PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"), IDIFLOW_RUN_DIR=str(workdir / "run"))
        proc = subprocess.Popen(["bash", str(ROOT / "scripts/scaled.sh"), "--no-setup", "--port", str(port),
                                 "--web", str(args.web), "--workers", str(args.workers),
                                 "--threads", str(args.threads)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, proc)
        if mode == "scaled":
            seeded = seed(url, args.tasks, args.inbox_threads + args.complete_threads)
        offered = f"{args.complete_rate:g} completions/s offered" if args.complete_rate > 0 else "unpaced"
        print(f"  {mode}: server ready on 127.0.0.1:{port}; {args.seconds:.0f} s of load ({args.inbox_threads} "
              f"inbox users, {args.complete_threads} case workers, {offered})", flush=True)
        window = dt.datetime.now(dt.UTC)
        pg_data = workdir / "pg" / "data" if mode == "scaled" else None
        cpu_before, server_before = time.process_time(), server_cpu(proc.pid, pg_data)
        stats, elapsed = run_load(port, seeded, args.seconds, args.inbox_threads, args.complete_threads,
                                  args.report_rate, args.complete_rate)
        client_cpu, server_after = time.process_time() - cpu_before, server_cpu(proc.pid, pg_data)
        figures = summarize(mode, stats, elapsed)
        print(f"  load generator CPU: {100 * client_cpu / elapsed:.0f}% of one core; load average at the end "
              f"{os.getloadavg()[0]:.1f} (other processes on the machine count too)")
        cpu_report(server_before, server_after, stats)
        if figures["errors"]:
            log.flush()
            server_errors(workdir / f"{mode}.log")
        time.sleep(2)  # the last completions' timers are due one second later
        timer_report(url, window)
        return figures
    finally:
        stop(proc)
        log.close()


class _Tee:
    """Write what the bench prints to the terminal and to the results file."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--modes", default="embedded,scaled")
    parser.add_argument("--tasks", type=int, default=9000, help="review tasks seeded for the completers")
    # Inbox users are a closed loop (each waits for every answer): they take whatever the server has left.
    # Case workers open and complete at --complete-rate in all (0: as fast as they can), enough of them that
    # each has time for a slow answer: the test asks whether the server sustains that rate and how much
    # inbox traffic it serves beside it.
    parser.add_argument("--inbox-threads", type=int, default=4)
    parser.add_argument("--complete-threads", type=int, default=12)
    parser.add_argument("--complete-rate", type=float, default=110.0,
                        help="task completions per second offered by all case workers together (0: unpaced)")
    parser.add_argument("--report-rate", type=float, default=5.0, help="owner reports per second (0: none)")
    parser.add_argument("--web", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn web worker")
    parser.add_argument("--out", default=str(HERE / "results" / "load.txt"),
                        help="also write everything printed to this file ('' to skip)")
    args = parser.parse_args()
    if args.out:
        sys.stdout = _Tee(sys.stdout, open(args.out, "w", encoding="utf-8"))  # noqa: SIM115 - lives to exit
    print(f"idiflow load test: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="idiflow-load-") as tmp:
        os.chmod(tmp, 0o755)  # the PostgreSQL cluster inside runs as the postgres user
        for mode in args.modes.split(","):
            print(f"== {mode}" + (f" ({args.web} web + {args.workers} workers, PostgreSQL)"
                                  if mode == "scaled" else " (one process, SQLite)"), flush=True)
            results[mode] = run_mode(mode, args, Path(tmp))
    final = results.get("scaled") or results[list(results)[-1]]
    misses = [k for k, target in TARGETS.items()
              if (final[k] > target if k in ("inbox_p99_ms", "errors") else final[k] < target)]
    print(f"targets: inbox >= 300/s, p99 <= 200 ms, 0 errors, complete >= 100/s; "
          f"{'met' if not misses else 'missed: ' + ', '.join(misses)}")
    print(f"load inbox_rps={final['inbox_rps']:.1f} inbox_p99_ms={final['inbox_p99_ms']:.1f} "
          f"complete_rps={final['complete_rps']:.1f} errors={final['errors']}")


if __name__ == "__main__":
    main()
