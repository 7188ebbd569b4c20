"""The owner withdraws while the handler completes the survey: one wins, the other gets a clear conflict and
the claim is never half-written (ARCHITECTURE.md "One unit of work"; LG-CLM-CENTER, LG-CLM-PROC)."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import commit
from sqlalchemy import func, select, text
from test_claim_support import SURVEY, at, claim_of, deploy_claims, gen_policy, report, task_row

from engine import db, runtime, tasks
from engine.errors import InstanceConflict, InstanceNotActive, TaskNotReady
from engine.models import HumanTask
from handlers import intake
from handlers.claim_models import Claim, Survey
from handlers.intake import ClaimNotWithdrawable

ROUNDS = 6


def _withdraw(factory, claim_no: str, out: dict, start: threading.Barrier | None = None) -> None:
    try:
        if start:
            start.wait()
        with db.unit_of_work(factory) as session:
            intake.withdraw_claim(session, claim_no, "owner1", "已自行修好")
        out["withdraw"] = "ok"
    except BaseException as err:  # noqa: BLE001 - the test inspects what the loser got
        out["withdraw"] = err


def _survey(factory, task_id: str, out: dict, start: threading.Barrier | None = None) -> None:
    try:
        if start:
            start.wait()
        with db.unit_of_work(factory) as session:
            tasks.complete_task(session, task_id, SURVEY, "handler1")
        out["survey"] = "ok"
    except BaseException as err:  # noqa: BLE001
        out["survey"] = err


def _assert_consistent(factory, claim_no: str, out: dict) -> str:
    """Exactly one side won; the loser's error is a conflict; the claim's rows match the winner."""
    winners = [k for k, v in out.items() if v == "ok"]
    assert len(winners) == 1, out
    loser = next(v for v in out.values() if v != "ok")
    assert isinstance(loser, InstanceConflict), repr(loser)
    with factory() as session:
        claim = session.scalars(select(Claim).where(Claim.claim_no == claim_no)).one()
        surveys = session.scalar(select(func.count()).select_from(Survey).where(Survey.claim_id == claim.id))
        if winners == ["withdraw"]:
            assert isinstance(loser, TaskNotReady | InstanceNotActive)  # task gone, or instance already ended
            assert (claim.status, claim.outcome, surveys) == ("closed", "withdrawn", 0)
        else:
            assert isinstance(loser, ClaimNotWithdrawable) and "can be withdrawn" in loser.message
            assert (claim.status, claim.outcome, surveys) == ("surveyed", "", 1)
    return winners[0]


def _new_claim(session, fixed_clock, hour: int) -> tuple[str, str]:
    claim_no = report(session, fixed_clock, at(2030, 1, 10, hour), category=5)
    task_id = task_row(session, claim_no, "Task_survey").id
    session.rollback()  # end the read transaction so the racing units of work see each other's commits
    return claim_no, task_id


def test_withdraw_then_survey_is_a_conflict_for_the_handler(session, factory, fixed_clock):
    deploy_claims(session)
    gen_policy(session)
    claim_no, task_id = _new_claim(session, fixed_clock, 10)
    out: dict = {}
    _withdraw(factory, claim_no, out)
    _survey(factory, task_id, out)
    assert _assert_consistent(factory, claim_no, out) == "withdraw"
    assert "someone completed it first" in out["survey"].message or "already" in out["survey"].message


def test_survey_then_withdraw_is_a_conflict_for_the_owner(session, factory, fixed_clock):
    deploy_claims(session)
    gen_policy(session)
    claim_no, task_id = _new_claim(session, fixed_clock, 10)
    out: dict = {}
    _survey(factory, task_id, out)
    _withdraw(factory, claim_no, out)
    assert _assert_consistent(factory, claim_no, out) == "survey"
    assert claim_of(session, claim_no).status == "surveyed"


def _wait_until_someone_waits_for_a_lock(factory, seconds: float = 10) -> None:
    """Return once another backend of this database waits for a lock (a fresh read each time: PostgreSQL
    keeps one pg_stat_activity snapshot per transaction)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with factory() as probe:
            if probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")):
                return
        time.sleep(0.01)
    raise AssertionError(f"nobody waited for a lock within {seconds}s")


@pytest.mark.backends("postgres")
def test_survey_waits_for_a_withdrawal_that_holds_the_instance_instead_of_deadlocking(session, factory,
                                                                                     fixed_clock):
    """The interleaving that deadlocked: the withdrawal holds the instance, the survey starts, then the
    withdrawal cancels the survey task. The survey locks the instance before its task row (the order of every
    unit of work), so it only waits, then finds its task cancelled (PostgreSQL row locks; SQLite has one
    writer at a time)."""
    deploy_claims(session)
    gen_policy(session)
    commit(session)
    claim_no, task_id = _new_claim(session, fixed_clock, 10)
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == task_id))
    session.rollback()
    out: dict = {}
    survey = threading.Thread(target=_survey, args=(factory, task_id, out))
    try:
        with db.unit_of_work(factory) as owner:
            runtime.lock(owner, instance_id)
            survey.start()
            _wait_until_someone_waits_for_a_lock(factory)
            intake.withdraw_claim(owner, claim_no, "owner1", "已自行修好")
        out["withdraw"] = "ok"
    finally:
        survey.join(60)
    assert _assert_consistent(factory, claim_no, out) == "withdraw"
    assert isinstance(out["survey"], TaskNotReady) and "cancelled" in out["survey"].message


@pytest.mark.slow
def test_racing_withdraw_and_survey_one_wins_the_other_gets_a_conflict(session, factory, fixed_clock):
    """Both requests start together, ROUNDS times; every round has one winner and an unhalved claim."""
    deploy_claims(session)
    gen_policy(session)
    commit(session)
    wins = []
    for i in range(ROUNDS):
        claim_no, task_id = _new_claim(session, fixed_clock, 8 + i)
        out: dict = {}
        start = threading.Barrier(2)
        threads = [threading.Thread(target=_withdraw, args=(factory, claim_no, out, start)),
                   threading.Thread(target=_survey, args=(factory, task_id, out, start))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        wins.append(_assert_consistent(factory, claim_no, out))
    assert set(wins) <= {"withdraw", "survey"} and len(wins) == ROUNDS
