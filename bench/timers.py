"""Timer benchmark: sweeper fires per second (SQLite, PostgreSQL), p99 lag, scheduler memory at 1M timers.

1. fires/s: N instances each waiting on one due timeDate timer; one Sweeper (one worker, one thread)
   fires them all through the full unit of work (load, Spiff, save, projections, audit); wall time, and
   the sweeper process's CPU per fire (time.process_time; the database server's CPU is not in it).
2. p99 lag: N timers due over a window at ~`--rate` per second, starting shortly after the scheduler
   (TimerScheduler: 1 s poll + next-due date job) starts; lag = fired_at - due_at from the timer table.
3. memory: RSS of a scheduler process (fresh interpreter, running ticks for a few seconds) on a database
   with 0 pending timers and on one with 1,000,000 pending (future) timers.

Usage: .venv/bin/python bench/timers.py [-n 3000] [--rate 500] [--pending 1000000] [--no-pg]
Targets: >= 500 fires/s per worker on SQLite, p99 lag <= 2 s, memory growth <= 50 MB.
Last line: `timers fires_per_s=<x> p99_lag_s=<y> mem_growth_mb=<z>` (SQLite figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from engine import clock, db, definitions, instances, scheduler, timers  # noqa: E402
from engine.models import ProcessInstance, Timer  # noqa: E402

DIAGRAM = (ROOT / "tests" / "bpmn" / "tmr_date.bpmn").read_text()
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TEMPLATE_DUE = "2021-01-01T00:00:00+08:00"
TARGETS = {"fires_per_s": 500, "p99_lag_s": 2.0, "mem_growth_mb": 50}


def fresh_db(url: str):
    engine = db.make_engine(url)
    db.upgrade(engine)
    return engine, db.make_session_factory(engine)


def template(factory) -> int:
    """One real tmr_date instance started in 2020, waiting on its timer."""
    with db.unit_of_work(factory) as session:
        definitions.deploy(session, {"tmr_date.bpmn": DIAGRAM}, "bench")
    with clock.use(clock.FixedClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))), db.unit_of_work(factory) as s:
        return instances.start_instance(s, "tmr_date", {"due_date": TEMPLATE_DUE}, "bench").id


def clone(factory, template_id: int, dues: list[dt.datetime], chunk: int = 1000) -> None:
    """Copy the template once per due time, with fresh Spiff task ids and that due time everywhere."""
    with db.unit_of_work(factory) as session:
        tpl = session.get(ProcessInstance, template_id)
        [tpl_timer] = session.scalars(select(Timer).where(Timer.instance_id == template_id)).all()
        base = {c.key: getattr(tpl, c.key) for c in ProcessInstance.__table__.columns if c.key != "id"}
        timer_base = {c.key: getattr(tpl_timer, c.key) for c in Timer.__table__.columns}
        ids = set(UUID_RE.findall(tpl.state))
        for start in range(0, len(dues), chunk):
            rows, timer_rows = [], []
            for due in dues[start:start + chunk]:
                mapping = {old: str(uuid.uuid4()) for old in ids}
                state = UUID_RE.sub(lambda m, mp=mapping: mp[m.group(0)], tpl.state)
                state = state.replace(TEMPLATE_DUE, due.isoformat())
                waiting = {"tasks": [], "timers": {mapping[tpl_timer.id]: due.isoformat()}, "subs": []}
                rows.append({**base, "state": state, "waiting": waiting})
                timer_rows.append({**timer_base, "id": mapping[tpl_timer.id], "due_at": due})
            returning = insert(ProcessInstance).returning(ProcessInstance.id, sort_by_parameter_order=True)
            new_ids = session.scalars(returning, rows).all()
            for row, iid in zip(timer_rows, new_ids, strict=True):
                row["instance_id"] = iid
            session.execute(insert(Timer), timer_rows)


def fires_per_second(url: str, n: int) -> tuple[float, float]:
    """(fires per second of wall time, ms of this process's CPU per fire) for one sweeper."""
    engine, factory = fresh_db(url)
    tid = template(factory)
    past = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    clone(factory, tid, [past] * (n - 1))
    sweeper = timers.Sweeper(factory, owner="bench", batch=500, chunk=100)
    started, cpu = time.perf_counter(), time.process_time()
    stats = sweeper.run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    assert stats.fired == n, f"fired {stats.fired} of {n}"
    return n / elapsed, cpu * 1000 / n


def p99_lag(url: str, n: int, rate: float) -> tuple[float, float]:
    """Timers due at `rate` per second from 3 s after start; returns (p99 lag s, max lag s)."""
    engine, factory = fresh_db(url)
    tid = template(factory)
    begin = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    dues = [begin + dt.timedelta(seconds=i / rate) for i in range(n)]
    clone(factory, tid, dues)
    with db.unit_of_work(factory) as session:  # the template (due in 2021) is not part of the load
        session.execute(Timer.__table__.update().where(Timer.instance_id == tid).values(status="cancelled"))
    worker = scheduler.TimerScheduler(factory, owner="bench", poll_seconds=1.0, batch=500).start()
    deadline = time.monotonic() + 60 + n / rate
    with factory() as session:
        while time.monotonic() < deadline:
            left = session.scalar(select(func.count()).select_from(Timer)
                                  .where(Timer.status.in_(("waiting", "leased"))))
            session.rollback()
            if left == 0:
                break
            time.sleep(0.2)
        lags = sorted(session.scalars(select(Timer.lag_ms).where(Timer.lag_ms.is_not(None))))
    worker.shutdown()
    engine.dispose()
    assert len(lags) == n, f"only {len(lags)} of {n} fired"
    return lags[int(0.99 * (len(lags) - 1))] / 1000, lags[-1] / 1000


def seed_pending(url: str, pending: int) -> None:
    """`pending` future timer rows on one instance (what a million dormant policies leave in the table)."""
    engine, factory = fresh_db(url)
    tid = template(factory)
    far = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    base = dict(instance_id=tid, task_name="Event_expiry", kind="date", expression="due_date",
                attached_to=None, interrupting=True, status="waiting", attempts=0)
    with db.unit_of_work(factory) as session:
        for start in range(0, pending, 50_000):
            session.execute(insert(Timer), [{**base, "id": str(uuid.uuid4()),
                                             "due_at": far + dt.timedelta(seconds=i)}
                                            for i in range(start, min(pending, start + 50_000))])
    engine.dispose()


def scheduler_rss_mb(url: str, seconds: float = 4.0) -> float:
    out = subprocess.run([sys.executable, str(Path(__file__)), "--rss-probe", url, str(seconds)],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return float(out.strip().split()[-1])


def rss_probe(url: str, seconds: float) -> None:
    """A scheduler process: start, tick for `seconds`, print its resident set size in MB."""
    engine = db.make_engine(url)
    clock.configure(engine)
    worker = scheduler.TimerScheduler(db.make_session_factory(engine), poll_seconds=0.2).start()
    time.sleep(seconds)
    assert worker.ticks >= 2 and len(worker.jobs()) <= 2
    worker.shutdown()
    status = Path("/proc/self/status").read_text()
    kb = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    print(f"rss_mb {kb / 1024:.1f}")


def postgres_url():
    """A throwaway PostgreSQL server (tests/pg.py), or None when PostgreSQL is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pg

    try:
        server = pg.PostgresServer()
    except pg.PostgresUnavailable as err:
        print(f"postgres: skipped ({err})")
        return None, None
    server.start()
    return server, server.url


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-probe":
        rss_probe(sys.argv[2], float(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3000, help="timers fired per measurement")
    ap.add_argument("--rate", type=float, default=500.0, help="due timers per second in the lag run")
    ap.add_argument("--pending", type=int, default=1_000_000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    lines = [f"machine: {platform.machine()} {platform.python_version()}, one sweeper thread, n={args.n}"]

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        sqlite_fps, sqlite_cpu = fires_per_second(f"sqlite:///{tmp}/fires.db", args.n)
        say(f"sqlite: {sqlite_fps:.0f} fires/s per worker ({sqlite_cpu:.2f} ms CPU per fire)")
        p99, worst = p99_lag(f"sqlite:///{tmp}/lag.db", args.n, args.rate)
        say(f"sqlite: lag at {args.rate:.0f} due/s: p99 {p99:.3f} s, max {worst:.3f} s")
        empty_url, full_url = f"sqlite:///{tmp}/empty.db", f"sqlite:///{tmp}/full.db"
        seed_pending(empty_url, 0)
        started = time.perf_counter()
        seed_pending(full_url, args.pending)
        say(f"seeded {args.pending:,} pending timers in {time.perf_counter() - started:.0f} s")
        rss0, rss1 = scheduler_rss_mb(empty_url), scheduler_rss_mb(full_url)
        growth = rss1 - rss0
        say(f"scheduler RSS: {rss0:.1f} MB with 0 pending, {rss1:.1f} MB with {args.pending:,} pending "
            f"(growth {growth:.1f} MB)")
        if not args.no_pg:
            server, make_url = postgres_url()
            if server is not None:
                try:
                    pg_fps, pg_cpu = fires_per_second(make_url(server.create_database()), args.n)
                    say(f"postgresql: {pg_fps:.0f} fires/s per worker ({pg_cpu:.2f} ms CPU per fire in the "
                        "sweeper's process)")
                    pg_p99, pg_worst = p99_lag(make_url(server.create_database()), args.n, args.rate)
                    say(f"postgresql: lag at {args.rate:.0f} due/s: p99 {pg_p99:.3f} s, max {pg_worst:.3f} s")
                finally:
                    server.stop()
    ok = (sqlite_fps >= TARGETS["fires_per_s"] and p99 <= TARGETS["p99_lag_s"]
          and growth <= TARGETS["mem_growth_mb"])
    say(f"targets: fires/s >= {TARGETS['fires_per_s']}, p99 lag <= {TARGETS['p99_lag_s']} s, memory growth "
        f"<= {TARGETS['mem_growth_mb']} MB: {'met' if ok else 'NOT met'}")
    say(f"timers fires_per_s={sqlite_fps:.0f} p99_lag_s={p99:.3f} mem_growth_mb={growth:.1f}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "timers.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
