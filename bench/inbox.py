"""Inbox benchmark: 1,000,000 open human_task rows on SQLite; p50/p95 of the inbox page and key search.

Measured through the engine's own query path, engine.tasks.list_tasks, so the indexes and ORDER BY that
production uses are what is timed:
- inbox:  list_tasks(lanes=[X])            open tasks of one role, soonest due first (undated last), 50 rows
- search: list_tasks(business_key=prefix)  prefix search on the business key, same order, 50 rows

Rows are synthetic (bulk-inserted with sqlite3 into a fresh migrated file under /tmp): ~12 lanes, 70% with a
due date spread over +-60 days, 30% undated, one business key per instance, ~4 open tasks per instance.

Usage: .venv/bin/python bench/inbox.py [--rows 1000000] [--queries 200] [--keep PATH]
Target: p95 <= 20 ms for both on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine import db, tasks  # noqa: E402

LANES = ["clerk", "underwriter", "inspector", "risk_engineer", "claims", "supervisor", "finance", "legal",
         "developer", "contractor", "insurer_admin", "auditor"]
TASKS_PER_INSTANCE = 4
TARGET_MS = 20.0
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores (naive UTC) datetimes in SQLite


def business_key(n: int) -> str:
    """Keys like the IDI policy numbers: LG-IDI-2027-000123."""
    return f"LG-IDI-{2026 + n % 3}-{n:06d}"


def fill(path: Path, rows: int, seed: int = 7) -> None:
    """Create the schema with the engine's migrations, then bulk-insert instances and open tasks."""
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    rnd = random.Random(seed)
    now = dt.datetime(2027, 3, 1, 1, 0)
    stamp = now.strftime(SQLITE_FORMAT)
    instances = max(1, rows // TASKS_PER_INSTANCE)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    with con:
        con.execute("INSERT INTO deployment (id, bundle_hash, deployed_at, deployed_by, files, note) "
                    "VALUES (1, 'bench', ?, 'bench', '{}', '')", (stamp,))
        con.execute("INSERT INTO process_definition (id, process_id, version, name, content_hash, "
                    "deployment_id, source_file, spec_json, forms, serializer_version, deployed_at, "
                    "deployed_by) "
                    "VALUES (1, 'idi_policy', 1, 'IDI policy', 'bench', 1, 'idi.bpmn', '{}', '{}', '1.5', ?, "
                    "'bench')", (stamp,))
        con.executemany(
            "INSERT INTO process_instance (id, definition_id, process_id, business_key, title, status, "
            "has_incident, state, serializer_version, started_at, started_by, updated_at, waiting, "
            "version_id) "
            "VALUES (?, 1, 'idi_policy', ?, ?, 'running', 0, '{}', '1.5', ?, 'bench', ?, '{}', 1)",
            ((i, business_key(i), f"Project {i}", stamp, stamp) for i in range(1, instances + 1)))
        candidates = json.dumps([])

        def task_rows():
            for n in range(rows):
                instance = n % instances + 1
                lane = LANES[rnd.randrange(len(LANES))]
                due = None
                if rnd.random() < 0.7:
                    due = (now + dt.timedelta(minutes=rnd.randrange(-60 * 24 * 60, 60 * 24 * 60)))
                    due = due.strftime(SQLITE_FORMAT)
                created = (now - dt.timedelta(seconds=rnd.randrange(0, 90 * 86400))).strftime(SQLITE_FORMAT)
                yield (str(uuid.UUID(int=rnd.getrandbits(128))), instance, "idi_policy", f"Task_{lane}",
                       f"Review ({lane})", lane, candidates, None, due, 50, None, business_key(instance),
                       f"Project {instance}", "open", created)

        con.executemany(
            "INSERT INTO human_task (id, instance_id, process_id, task_name, title, lane, candidate_users, "
            "assignee, due_at, priority, form_ref, business_key, case_title, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", task_rows())
    con.execute("ANALYZE")
    con.close()


def measure(factory, queries: int, rows: int, seed: int = 11):
    """Timed list_tasks calls (ms): inbox pages per lane, business-key prefix searches, 3-role inboxes."""
    rnd = random.Random(seed)
    instances = max(1, rows // TASKS_PER_INSTANCE)
    inbox, search, multi, found = [], [], [], 0
    with factory() as session:
        for lane in LANES:  # warm the page cache and the statement cache once
            tasks.list_tasks(session, lanes=[lane])
        for i in range(queries):
            lane = LANES[i % len(LANES)]
            t0 = time.perf_counter()
            page = tasks.list_tasks(session, lanes=[lane])
            inbox.append((time.perf_counter() - t0) * 1000)
            assert len(page) == 50 and all(t.lane == lane for t in page)
            dues = [t.due_at for t in page]
            dated = [d for d in dues if d is not None]
            assert dated == sorted(dated) and dues[:len(dated)] == dated, "the page is not soonest-due first"
            session.expunge_all()

            key = business_key(rnd.randrange(1, instances + 1))
            prefix = key[:len(key) - rnd.choice((1, 2, 3))] if rnd.random() < 0.8 else key  # typed partially
            t0 = time.perf_counter()
            hits = tasks.list_tasks(session, business_key=prefix)
            search.append((time.perf_counter() - t0) * 1000)
            assert hits and all(t.business_key.startswith(prefix) for t in hits)
            found += len(hits)
            session.expunge_all()

            roles = rnd.sample(LANES, 3)  # a user holding several roles sees one merged inbox
            t0 = time.perf_counter()
            page = tasks.list_tasks(session, lanes=roles)
            multi.append((time.perf_counter() - t0) * 1000)
            assert len(page) == 50 and all(t.lane in roles for t in page)
            session.expunge_all()
    return inbox, search, multi, found


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="open human_task rows (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=200, help="timed queries of each kind (default 200)")
    ap.add_argument("--keep", help="fill (or reuse) this SQLite file instead of a temporary one")
    ap.add_argument("--out", default=str(HERE / "results" / "inbox.txt"), help="results file ('' = none)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="idiflow-inbox-") as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "inbox.db"
        t0 = time.perf_counter()
        if not path.exists():
            fill(path, args.rows)
        fill_s = time.perf_counter() - t0
        engine = db.make_engine(f"sqlite:///{path}")
        factory = db.make_session_factory(engine)
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM human_task WHERE status = 'open'").scalar()
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM human_task WHERE status = 'open' AND lane = 'clerk' "
                "AND due_at IS NOT NULL ORDER BY due_at, created_at LIMIT 50").fetchall()
        inbox, search, multi, found = measure(factory, args.queries, count)
        engine.dispose()

    p50, p95 = statistics.median(inbox), percentile(inbox, 95)
    s50, s95 = statistics.median(search), percentile(search, 95)
    ok = p95 <= TARGET_MS, s95 <= TARGET_MS
    lines = [
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, "
        f"{count:,} open tasks, {len(LANES)} lanes (filled in {fill_s:.0f} s), {args.queries} queries each",
        "inbox plan (dated part): " + "; ".join(str(r[-1]) for r in plan),
        f"inbox  list_tasks(lanes=[X])           p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
        f"(target p95 <= {TARGET_MS:g})  {'OK' if ok[0] else 'MISS'}",
        f"search list_tasks(business_key=prefix) p50 {s50:6.2f} ms  p95 {s95:6.2f} ms  "
        f"(target p95 <= {TARGET_MS:g})  {'OK' if ok[1] else 'MISS'}  ({found / len(search):.1f} hits avg)",
        f"(info) inbox of a user with 3 roles    p50 {statistics.median(multi):6.2f} ms  "
        f"p95 {percentile(multi, 95):6.2f} ms",
        f"inbox p95_ms={p95:.2f} search_p95_ms={s95:.2f}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
