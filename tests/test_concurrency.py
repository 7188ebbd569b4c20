"""Concurrency proofs on SQLite and PostgreSQL: two users racing for one task, and stale updates.

ARCHITECTURE.md "Units of work": two users completing the same task → one succeeds, the other gets a
clear 409 (InstanceConflict or its subclass TaskNotReady) and nothing is half-written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from conftest import commit
from sqlalchemy import func, select

from engine import db, instances, runtime, tasks
from engine.errors import InstanceConflict, InstanceNotActive, TaskNotReady
from engine.models import AuditEvent, HumanTask, ProcessInstance

ROUNDS = 20
JOIN_SECONDS = 60


@dataclass
class Outcome:
    """What one racing thread got: the completed task row, or the error it raised."""

    actor: str
    completed_by: str | None = None
    error: BaseException | None = None
    events: list[str] = field(default_factory=list)


def _start_review(session, process_id: str) -> tuple[int, str]:
    """A fresh instance waiting at its Review task ('simple' gets amount 7 → total 14 > 10)."""
    inst = instances.start_instance(session, process_id, {"amount": 7}, "starter")
    commit(session)
    [task_id] = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == inst.id,
                                                          HumanTask.status == "open")).all()
    session.rollback()  # end this read transaction: a SQLite snapshot held open would hide the race's writes
    return inst.id, task_id


def _complete_in_own_unit_of_work(factory, task_id: str, outcome: Outcome, start: threading.Barrier) -> None:
    """One user's request: its own session and transaction (write intent on SQLite), committed at the end."""
    try:
        start.wait()
        with db.unit_of_work(factory) as session:
            row = tasks.complete_task(session, task_id, {"approved": outcome.actor == "alice"}, outcome.actor)
            outcome.completed_by = row.completed_by
    except BaseException as err:  # noqa: BLE001 - the test inspects whatever the thread raised
        outcome.error = err


def _race(factory, task_id: str, start: threading.Barrier) -> list[Outcome]:
    """Run two completions of the same task at once and return both outcomes."""
    outcomes = [Outcome("alice"), Outcome("bob")]
    threads = [threading.Thread(target=_complete_in_own_unit_of_work, args=(factory, task_id, o, start))
               for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), "a racing completion hung (deadlock or lock wait)"
    return outcomes


def _assert_one_winner(session, instance_id: int, task_id: str, outcomes: list[Outcome]) -> str:
    """One completion won, the loser got a 409 before doing any work, the winner's work is there once."""
    winners = [o for o in outcomes if o.error is None]
    losers = [o for o in outcomes if o.error is not None]
    assert len(winners) == 1, f"expected one winner, got {[(o.actor, repr(o.error)) for o in outcomes]}"
    [winner], [loser] = winners, losers
    assert isinstance(loser.error, InstanceConflict), f"loser got {loser.error!r}, not a 409 InstanceConflict"
    assert loser.error.http_status == 409
    session.rollback()
    inst = session.get(ProcessInstance, instance_id)
    # The loser must be turned away because the task (or the instance) is done, never by the optimistic
    # lock after re-running the task on a stale workflow (a plain InstanceConflict would mean that).
    expected = TaskNotReady if inst.status == "running" else (TaskNotReady, InstanceNotActive)
    assert isinstance(loser.error, expected), f"loser got {loser.error!r} with the instance {inst.status}"
    assert winner.completed_by == winner.actor

    row = session.get(HumanTask, task_id)
    assert (row.status, row.completed_by) == ("completed", winner.actor)
    completions = session.scalars(select(AuditEvent).where(AuditEvent.task_id == task_id,
                                                           AuditEvent.action == "complete")).all()
    assert [e.actor for e in completions] == [winner.actor]
    assert completions[0].data["changed"]["approved"] is (winner.actor == "alice")
    assert instances.variables(session, instance_id)["approved"] is (winner.actor == "alice")
    if inst.process_id == "simple":
        assert inst.status == "completed"
        ends = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.action == "complete_instance"))
        assert ends == 1
    else:
        assert inst.status == "running"
        next_tasks = session.scalars(select(HumanTask.task_name).where(HumanTask.instance_id == instance_id,
                                                                       HumanTask.status == "open")).all()
        assert next_tasks == ["Task_file"], "the winner's completion must move the instance on exactly once"
    return winner.actor


@pytest.mark.parametrize("process_id", ["race", "simple"])
def test_two_users_complete_one_task_at_once_one_wins_other_gets_409(backend, factory, session, deploy,
                                                                     process_id):
    """Two threads, two sessions, started together by a barrier: one completion and one 409, 20 times.

    'race' keeps running after the task (the loser gets TaskNotReady); 'simple' ends with it."""
    deploy("simple.bpmn", "race.bpmn")
    winners = []
    for _ in range(ROUNDS):
        instance_id, task_id = _start_review(session, process_id)
        outcomes = _race(factory, task_id, threading.Barrier(2, timeout=JOIN_SECONDS))
        winners.append(_assert_one_winner(session, instance_id, task_id, outcomes))
    assert len(winners) == ROUNDS


@pytest.mark.postgres
def test_both_users_saw_the_task_open_then_for_update_serializes(backend, factory, session, deploy,
                                                                 monkeypatch):
    """PostgreSQL: both requests read the task as open, then meet at runtime.lock; FOR UPDATE lets one in
    and the other, once the lock is released, reloads the row, sees the task done and gets TaskNotReady."""
    deploy("race.bpmn")
    meet = threading.Barrier(2, timeout=JOIN_SECONDS)
    real_lock = runtime.lock

    def lock_after_both_arrive(s, instance_id):
        meet.wait()  # both transactions have read human_task.status == 'open' by now
        return real_lock(s, instance_id)

    monkeypatch.setattr(runtime, "lock", lock_after_both_arrive)
    for _ in range(ROUNDS):
        instance_id, task_id = _start_review(session, "race")
        meet.reset()
        outcomes = _race(factory, task_id, threading.Barrier(2, timeout=JOIN_SECONDS))
        _assert_one_winner(session, instance_id, task_id, outcomes)


def test_stale_instance_update_is_refused_by_version_id(backend, factory, session, deploy):
    """A holds an instance loaded before B completed its task; A's save is refused (409), B's work stays."""
    deploy("simple.bpmn")
    instance_id, task_id = _start_review(session, "simple")

    a = factory()
    try:
        stale = runtime.open_instance(a, instance_id, "alice")
        a.commit()  # A's transaction ends (no lock held) but A keeps its loaded, soon stale, objects
        version_seen = stale.row.version_id

        with db.unit_of_work(factory) as b:
            tasks.complete_task(b, task_id, {"approved": False}, "bob")

        spiff_task = runtime.find_task(stale.workflow, task_id)
        spiff_task.data["approved"] = True
        spiff_task.run()
        runtime.advance(a, stale)
        with db.write_intent(), pytest.raises(InstanceConflict, match="changed by someone else") as caught:
            runtime.save(a, stale)
        assert caught.value.http_status == 409 and caught.value.detail["instance_id"] == instance_id
        a.rollback()
    finally:
        a.close()

    session.rollback()
    inst = session.get(ProcessInstance, instance_id)
    assert inst.version_id > version_seen and inst.status == "completed"
    assert instances.variables(session, instance_id)["approved"] is False
    row = session.get(HumanTask, task_id)
    assert (row.status, row.completed_by) == ("completed", "bob")
    actors = session.scalars(select(AuditEvent.actor).where(AuditEvent.task_id == task_id,
                                                            AuditEvent.action == "complete")).all()
    assert actors == ["bob"]


@pytest.mark.postgres
def test_a_deadlock_in_a_unit_of_work_is_a_409_instance_conflict(backend, factory, session, deploy):
    """Second line of defence: should two units of work ever lock rows in opposite orders, PostgreSQL undoes
    one of them whole, and its caller gets the 409 of a lost race (InstanceConflict), not a driver error."""
    deploy("simple.bpmn")
    first, _ = _start_review(session, "simple")
    second, _ = _start_review(session, "simple")
    both_hold_one = threading.Barrier(2, timeout=JOIN_SECONDS)
    results: dict[str, object] = {}

    def lock_in_order(name: str, order: tuple[int, int]) -> None:
        try:
            with db.unit_of_work(factory) as s:
                runtime.lock(s, order[0])
                both_hold_one.wait()
                runtime.lock(s, order[1])
            results[name] = "ok"
        except BaseException as err:  # noqa: BLE001 - the test inspects whatever the thread raised
            results[name] = err

    threads = [threading.Thread(target=lock_in_order, args=("ab", (first, second))),
               threading.Thread(target=lock_in_order, args=("ba", (second, first)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    [loser] = [v for v in results.values() if v != "ok"]
    assert len(results) == 2, results
    assert type(loser) is InstanceConflict and loser.http_status == 409, repr(loser)
    assert "reload and try again" in loser.message and loser.detail == {"database_error": "deadlock"}
    assert getattr(loser.__cause__, "orig", None).sqlstate == "40P01"
