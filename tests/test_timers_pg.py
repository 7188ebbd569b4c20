"""PostgreSQL: sweepers in separate processes fire every timer exactly once, even when one is SIGKILLed.

Run as a script (`python tests/test_timers_pg.py sweep URL OWNER ...`) it is the sweeper process the
tests start.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from engine import clock, db, definitions, instances, runtime, timers
from engine.models import AuditEvent, ProcessInstance, Timer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HERE = Path(__file__).resolve()


def seed_due_timers(factory, n: int) -> None:
    """`n` instances of tmr_date, each with one timer already due: one real start, then clones."""
    from conftest import bundle

    with db.unit_of_work(factory) as session:
        definitions.deploy(session, bundle("tmr_date.bpmn"), "tester")
    long_ago = clock.FixedClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with clock.use(long_ago), db.unit_of_work(factory) as session:
        data = {"due_date": "2021-01-01T00:00:00+08:00"}
        template = instances.start_instance(session, "tmr_date", data, "t")
    with db.unit_of_work(factory) as session:
        clone_instances(session, template.id, n - 1)


def clone_instances(session, template_id: int, n: int, chunk: int = 1000) -> None:
    """Copy an instance and its timer rows `n` times with fresh Spiff task ids (fast bulk set-up)."""
    tpl = session.get(ProcessInstance, template_id)
    tpl_timers = session.scalars(select(Timer).where(Timer.instance_id == template_id)).all()
    base = {c.key: getattr(tpl, c.key) for c in ProcessInstance.__table__.columns if c.key != "id"}
    timer_base = [{c.key: getattr(t, c.key) for c in Timer.__table__.columns} for t in tpl_timers]
    ids = set(UUID_RE.findall(tpl.state))
    for start in range(0, n, chunk):
        rows, maps = [], []
        for _ in range(min(chunk, n - start)):
            mapping = {old: str(uuid.uuid4()) for old in ids}
            state = UUID_RE.sub(lambda m, mp=mapping: mp.get(m.group(0), m.group(0)), tpl.state)
            waiting = {"tasks": [mapping.get(t, t) for t in tpl.waiting.get("tasks", [])],
                       "timers": {mapping.get(k, k): v for k, v in tpl.waiting.get("timers", {}).items()},
                       "subs": [mapping.get(s, s) for s in tpl.waiting.get("subs", [])]}
            rows.append({**base, "state": state, "waiting": waiting})
            maps.append(mapping)
        new_ids = session.scalars(insert(ProcessInstance).returning(ProcessInstance.id,
                                                                    sort_by_parameter_order=True), rows).all()
        timer_rows = [{**t, "id": mapping[t["id"]], "instance_id": iid}
                      for iid, mapping in zip(new_ids, maps, strict=True) for t in timer_base]
        session.execute(insert(Timer), timer_rows)


def start_sweeper(url: str, owner: str, lease: float = 60, delay: float = 0.0, batch: int = 200,
                  chunk: int = 50) -> subprocess.Popen:
    args = [sys.executable, str(HERE), "sweep", url, owner, str(lease), str(delay), str(batch), str(chunk)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=HERE.parent.parent)


def fire_counts(session) -> dict[str, int]:
    query = select(AuditEvent.task_id, func.count()).where(AuditEvent.action == "timer_fired")
    return dict(session.execute(query.group_by(AuditEvent.task_id)).all())


def leased_to(session, owner: str) -> int:
    return session.scalar(select(func.count()).select_from(Timer).where(Timer.lease_owner == owner))


def test_two_sweeper_processes_fire_ten_thousand_timers_each_exactly_once(factory, db_url):
    n = 10_000
    seed_due_timers(factory, n)
    procs = [start_sweeper(db_url, f"sweeper-{i}") for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    fired = [int(out.split()[0]) for out, _err in outputs]
    assert sum(fired) == n and min(fired) > 0, f"both sweepers worked: {fired}"
    with factory() as session:
        counts = fire_counts(session)
        assert len(counts) == n and set(counts.values()) == {1}, "each timer fired exactly once"
        assert session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired")) == n
        assert session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.status == "completed")) == n


def test_a_sweeper_killed_mid_batch_loses_nothing_and_its_timers_fire_once_after_the_lease(factory, db_url):
    n, lease = 400, 4.0
    seed_due_timers(factory, n)
    victim = start_sweeper(db_url, "victim", lease=lease, delay=0.02, batch=200, chunk=10)
    deadline = time.monotonic() + 120
    with factory() as session:
        while time.monotonic() < deadline:
            done = session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
            session.rollback()
            if done >= 20:
                break
            time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    killed_at = time.monotonic()
    with factory() as session:
        orphaned = leased_to(session, "victim")
        fired_before = session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired"))
    assert orphaned > 0 and 20 <= fired_before < n, "killed mid-batch: some fired, some still leased"

    rescuer = timers.Sweeper(factory, owner="rescuer", batch=500, lease_seconds=60)
    rescuer.run_once()
    with factory() as session:
        if time.monotonic() - killed_at < lease:
            assert leased_to(session, "victim") == orphaned, "a live lease is not taken before it expires"
    time.sleep(max(0.0, lease - (time.monotonic() - killed_at)) + 0.5)
    rescuer.run()
    with factory() as session:
        counts = fire_counts(session)
        assert len(counts) == n and set(counts.values()) == {1}, "every timer fired, none twice"
        assert session.scalar(select(func.count()).select_from(ProcessInstance)
                              .where(ProcessInstance.status == "completed")) == n


def _sweep_main(url: str, owner: str, lease: str, delay: str, batch: str, chunk: str) -> None:
    """The sweeper process: fire everything due, optionally slowly, and print how many it fired."""
    if float(delay):
        real_advance = runtime.advance

        def slow_advance(*args, **kwargs):
            time.sleep(float(delay))
            return real_advance(*args, **kwargs)

        runtime.advance = slow_advance
    engine = db.make_engine(url)
    stats = timers.Sweeper(db.make_session_factory(engine), owner=owner, batch=int(batch), chunk=int(chunk),
                           lease_seconds=float(lease)).run()
    print(stats.fired, stats.skipped, stats.failed, flush=True)


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "sweep":
    _sweep_main(*sys.argv[2:8])
