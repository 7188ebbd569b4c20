"""Wake-ups for the sweeper (APScheduler 3, in-memory job store) and the `idiflow worker` loop.

APScheduler never holds one job per timer: a million dormant policies would cost a million jobs. It
holds two: a short interval job that asks the timer table for its earliest due time (one index probe)
and sweeps when something is due, and one date job armed at the next due time so a timer fires on its
second rather than at the next poll. A timer written with an earlier due time is noticed by the next
poll, or at once when the writer calls `notify`. On the simulated clock the date job is not armed
(wall-clock wake-ups mean nothing there); moving the clock fires what falls due (engine.clock).
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from . import clock, db, timers

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
#: Sweeps start at least this far apart (unless a timer has waited a whole poll): when timers fall due every
#: few milliseconds, one sweep fires the ones due in this window together instead of one sweep (five
#: transactions, a scheduler wake-up) per timer. Timers fire at most this much later than they could.
MIN_SWEEP_GAP_SECONDS = 0.25
POLL_JOB, NEXT_DUE_JOB = "timers-poll", "timers-next-due"


class TimerScheduler:
    """Runs the sweeper when timers fall due; safe to embed in a web process."""

    def __init__(self, factory: sessionmaker[Session], owner: str | None = None,
                 poll_seconds: float = POLL_SECONDS, batch: int = 200,
                 lease_seconds: float = timers.LEASE_SECONDS, sweep_budget_s: float = 5.0,
                 min_gap_seconds: float = MIN_SWEEP_GAP_SECONDS):
        self.factory = factory
        self.min_gap = dt.timedelta(seconds=min_gap_seconds)
        self.last_sweep_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.sweeper = timers.Sweeper(factory, owner, batch=batch, lease_seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.sweep_budget_s = sweep_budget_s
        self.scheduler = BackgroundScheduler(timezone=dt.UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self.armed_at: dt.datetime | None = None
        self.ticks = 0
        self.totals = timers.SweepStats()
        self._busy = threading.Lock()

    @property
    def owner(self) -> str:
        return self.sweeper.owner

    def start(self) -> TimerScheduler:
        """Start the background thread: poll now and every `poll_seconds`."""
        self.scheduler.add_job(self.tick, "interval", seconds=self.poll_seconds, id=POLL_JOB,
                               next_run_time=dt.datetime.now(dt.UTC), replace_existing=True)
        self.scheduler.start()
        log.info("timer scheduler started", extra={"owner": self.owner})
        return self

    def shutdown(self, wait: bool = True) -> None:
        """Stop the thread; leases of a batch in flight expire and another sweeper takes them over."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def tick(self) -> timers.SweepStats | None:
        """Sweep if a timer is due, then re-arm the next-due wake-up; skipped while a sweep runs."""
        if not self._busy.acquire(blocking=False):
            return None
        try:
            self.ticks += 1
            stats = None
            with db.unit_of_work(self.factory, write=False) as session:
                due = timers.next_due(session)
                expired_leases = timers.count_expired_leases(session)
            if (due is not None and due <= clock.now()) or expired_leases:
                self.last_sweep_at = dt.datetime.now(dt.UTC)
                stats = self.sweeper.run(max_seconds=self.sweep_budget_s)
                self._add(stats)
                with db.unit_of_work(self.factory, write=False) as session:
                    due = timers.next_due(session)
            self.arm(due)
            return stats
        except Exception:  # noqa: BLE001 - a failing tick must not kill the scheduler thread
            log.exception("timer sweep failed; the next poll retries")
            return None
        finally:
            self._busy.release()

    def arm(self, due: dt.datetime | None) -> None:
        """Point the single date job at `due` (wall clock only); clear it when nothing waits."""
        if due is None or clock.current().simulated:
            self._disarm()
            return
        if due == self.armed_at:
            return
        self.armed_at = due
        run_at = max(due, dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=10),
                     self.last_sweep_at + self.min_gap)
        if self.scheduler.running:
            self.scheduler.add_job(self.tick, "date", run_date=run_at, id=NEXT_DUE_JOB, replace_existing=True)

    def notify(self, due: dt.datetime) -> None:
        """A writer saw a timer due at `due`: wake earlier if it comes before the armed wake-up."""
        if self.armed_at is None or due < self.armed_at:
            self.arm(due)

    def jobs(self) -> list[str]:
        """Ids of the scheduler's jobs (never one per timer)."""
        return [job.id for job in self.scheduler.get_jobs()]

    def _disarm(self) -> None:
        self.armed_at = None
        if self.scheduler.running and self.scheduler.get_job(NEXT_DUE_JOB):
            self.scheduler.remove_job(NEXT_DUE_JOB)

    def _add(self, stats: timers.SweepStats) -> None:
        for name in ("claimed", "fired", "skipped", "failed", "retried_incidents"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(stats, name))
        self.totals.lags_ms.extend(stats.lags_ms[-10_000:])
        del self.totals.lags_ms[:-10_000]


_embedded: TimerScheduler | None = None


def start_embedded(factory: sessionmaker[Session], **options) -> TimerScheduler:
    """Start the one scheduler of a web process (embedded mode); a second call returns the first."""
    global _embedded
    if _embedded is None or not _embedded.scheduler.running:
        _embedded = TimerScheduler(factory, **options).start()
    return _embedded


def stop_embedded() -> None:
    """Stop the web process's scheduler, if any."""
    global _embedded
    if _embedded is not None:
        _embedded.shutdown()
        _embedded = None


def notify(due: dt.datetime) -> None:
    """Tell this process's scheduler (if any) that a timer is now due at `due`."""
    if _embedded is not None:
        _embedded.notify(due)


def run_worker(factory: sessionmaker[Session], stop: threading.Event | None = None,
               max_seconds: float | None = None, handle_signals: bool = True, **options) -> TimerScheduler:
    """The `idiflow worker` loop: run the scheduler until SIGTERM/SIGINT, `stop`, or `max_seconds`."""
    stop = stop or threading.Event()
    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker = TimerScheduler(factory, **options).start()
    started = time.monotonic()
    try:
        while not stop.wait(0.2):
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                break
    finally:
        worker.shutdown()
    return worker
