"""The only source of "now" for the engine, SpiffWorkflow's timer evaluation included.

SpiffWorkflow reads ``datetime.now(timezone.utc)`` from the module-level ``datetime`` of its timer
module and has no clock hook. We replace that one name (nothing else in the process is affected) with a
``datetime`` subclass whose ``now`` asks the clock installed here. We also replace its cycle-timer step,
which turns ``P1Y`` into 365 days once and drifts (2028-02-29 instead of 2028-03-01), with calendar
arithmetic anchored at the first occurrence.

Two modes: the system clock, and a simulated clock stored in the `clock_state` row so that the web app,
the workers and the CLI agree. The simulated clock moves only when told (`advance`, `advance_to`,
`next`); a deployment with IDIFLOW_ENV=production refuses it. Times are UTC inside, Asia/Shanghai shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer
from dateutil.relativedelta import relativedelta
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from . import db
from .errors import EngineError
from .models import ClockState

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
CLOCK_ROW = 1


class Clock:
    """A source of the current UTC time."""

    simulated = False

    def now(self) -> dt.datetime:
        raise NotImplementedError


class SystemClock(Clock):
    """Wall-clock time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock(Clock):
    """A clock that moves only when told (tests and sandboxes); process-local."""

    simulated = True

    def __init__(self, start: dt.datetime):
        self._now = ensure_utc(start)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now


class SimulatedClockRefused(EngineError, RuntimeError):
    """The simulated clock is off here: production refuses it, or this process runs on wall time."""

    http_status = 409


class ClockMovedBackwards(EngineError, ValueError):
    """The simulated clock only moves forward: timers that fired cannot un-fire."""

    http_status = 422


class DatabaseClock(Clock):
    """The clock of the `clock_state` row, shared by every process on the database; cached for `ttl` s."""

    def __init__(self, engine: Engine, ttl: float = 0.5):
        if is_production():
            raise SimulatedClockRefused("IDIFLOW_ENV=production runs on the system clock only; "
                                        "unset IDIFLOW_ENV or use a demo/sandbox database to simulate time.")
        self.engine = engine
        self.ttl = ttl
        self._cached: tuple[float, str, dt.datetime | None] | None = None
        self._lock = threading.Lock()

    def _read(self) -> tuple[str, dt.datetime | None]:
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1], cached[2]
        # A plain read, even inside a writer's `write_intent()`: SQLite must not queue this connection
        # behind the caller's own write lock (BEGIN IMMEDIATE would wait for the busy timeout).
        token = db._sqlite_begin.set("BEGIN")
        try:
            with self.engine.connect() as conn:
                query = select(ClockState.mode, ClockState.now).where(ClockState.id == CLOCK_ROW)
                row = conn.execute(query).first()
        except DBAPIError as err:
            log.warning("cannot read the clock row (%s); using the system clock", err.__class__.__name__)
            row = None  # no schema yet (before `idiflow init-db`): wall time
        finally:
            db._sqlite_begin.reset(token)
        mode, value = (row[0], row[1]) if row else ("system", None)
        self._cached = (time.monotonic(), mode, value)
        return mode, value

    @property
    def simulated(self) -> bool:  # type: ignore[override]
        return self._read()[0] == "simulated"

    def now(self) -> dt.datetime:
        mode, value = self._read()
        if mode == "simulated" and value is not None:
            return value
        return dt.datetime.now(dt.UTC)

    def remember(self, mode: str, value: dt.datetime | None) -> None:
        """Take a value this process just wrote (before commit: the writer must see its own time)."""
        self._cached = (time.monotonic() + 3600.0, mode, value)

    def invalidate(self, *_args) -> None:
        """Forget the cached value; the next `now()` reads the row."""
        self._cached = None


def is_production() -> bool:
    """True when IDIFLOW_ENV says this deployment is production (system clock only)."""
    return os.environ.get("IDIFLOW_ENV", "").strip().lower() == "production"


_state = threading.local()
_default: Clock = SystemClock()


def install(clock: Clock) -> Clock:
    """Make `clock` the process-wide clock; returns the previous one."""
    global _default
    previous, _default = _default, clock
    return previous


def current() -> Clock:
    """The clock in force for this thread (a thread override wins over the process clock)."""
    return getattr(_state, "clock", None) or _default


class use:  # noqa: N801 - used as a context manager, reads like a verb
    """Run a block with `clock` as this thread's clock (sandboxes, tests)."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def __enter__(self) -> Clock:
        self.previous = getattr(_state, "clock", None)
        _state.clock = self.clock
        return self.clock

    def __exit__(self, *exc) -> None:
        _state.clock = self.previous


def now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return current().now()


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; naive values are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def to_local(value: dt.datetime) -> dt.datetime:
    """The same instant in Asia/Shanghai, for display."""
    return ensure_utc(value).astimezone(LOCAL_TZ)


def local_today() -> dt.date:
    """Today's calendar date in Asia/Shanghai."""
    return to_local(now()).date()


def for_database(engine: Engine, ttl: float = 0.5) -> Clock:
    """The clock a process on this database uses: the shared database clock, or wall time in production."""
    return SystemClock() if is_production() else DatabaseClock(engine, ttl)


def configure(engine: Engine, ttl: float = 0.5) -> Clock:
    """Install `for_database(engine)` as the process clock; returns the previous one (to restore)."""
    return install(for_database(engine, ttl))


def read_state(session: Session) -> ClockState | None:
    """The clock row, or None when the database has never simulated time."""
    return session.get(ClockState, CLOCK_ROW)


def describe(session: Session) -> dict[str, Any]:
    """What the clock says, for the CLI and the API (UTC and Asia/Shanghai)."""
    row = read_state(session)
    simulated = bool(row and row.mode == "simulated") and not is_production()
    value = row.now if simulated and row and row.now else now()
    return {"mode": "simulated" if simulated else "system", "now_utc": ensure_utc(value).isoformat(),
            "now_local": to_local(value).isoformat(), "timezone": str(LOCAL_TZ),
            "production": is_production(), "updated_by": row.updated_by if row else None,
            "updated_at": row.updated_at.isoformat() if row else None}


def _write(session: Session, mode: str, value: dt.datetime | None, actor: str) -> None:
    row = read_state(session)
    stamp = dt.datetime.now(dt.UTC)
    if row is None:
        session.add(ClockState(id=CLOCK_ROW, mode=mode, now=value, updated_at=stamp, updated_by=actor))
    else:
        row.mode, row.now, row.updated_at, row.updated_by = mode, value, stamp, actor
    session.flush()
    clock = current()
    if isinstance(clock, DatabaseClock):
        clock.remember(mode, value)
        session.info["clock_pending"] = True
        if not session.info.get("clock_listener"):
            # Until the move commits only this session sees it; a rolled-back move must not linger here.
            session.info["clock_listener"] = True
            event.listen(session, "after_transaction_end", _forget(session, clock))
    elif isinstance(clock, FixedClock) and value is not None:
        clock.set(value)


def _forget(session: Session, clock: DatabaseClock):
    def _done(_session, transaction) -> None:
        # Savepoints end inside the writer's transaction: only the outermost end publishes or drops the move.
        if transaction.parent is not None or transaction.nested or not session.info.pop("clock_pending", False):
            return
        clock.invalidate()

    return _done


def simulate(session: Session, start: dt.datetime | None = None, actor: str = "system") -> dt.datetime:
    """Switch this database to the simulated clock, starting at `start` (default: now)."""
    if is_production():
        raise SimulatedClockRefused("IDIFLOW_ENV=production refuses the simulated clock; time there is "
                                    "the system clock. Simulate on a demo or sandbox database.")
    value = ensure_utc(start) if start else now()
    _write(session, "simulated", value, actor)
    return value


def use_system_time(session: Session, actor: str = "system") -> None:
    """Switch this database back to wall-clock time."""
    _write(session, "system", None, actor)


def _require_simulated(session: Session) -> dt.datetime:
    if is_production():
        raise SimulatedClockRefused("IDIFLOW_ENV=production refuses the simulated clock; it cannot be moved.")
    clock = current()
    if isinstance(clock, FixedClock):
        return clock.now()
    row = read_state(session)
    if row is None or row.mode != "simulated" or row.now is None:
        raise SimulatedClockRefused("The clock is not simulated, so it cannot be moved. Run "
                                    "`idiflow clock simulate` first (demo and sandbox databases only).")
    return row.now


def set_now(session: Session, when: dt.datetime, actor: str = "system") -> dt.datetime:
    """Move the simulated clock to `when` without firing anything (forward only)."""
    current_value = _require_simulated(session)
    when = ensure_utc(when)
    if when < current_value:
        raise ClockMovedBackwards(f"The simulated clock is at {to_local(current_value).isoformat()} and "
                                  f"cannot go back to {to_local(when).isoformat()}; fired timers stay fired.")
    _write(session, "simulated", when, actor)
    return when


def advance_to(session: Session, when: dt.datetime, actor: str = "system", max_steps: int = 100_000) -> list:
    """Move the simulated clock to `when`, stopping at each due timer on the way and firing it in order."""
    from . import timers

    target = ensure_utc(when)
    start = _require_simulated(session)
    if target < start:
        raise ClockMovedBackwards(f"The simulated clock is at {to_local(start).isoformat()} and cannot go "
                                  f"back to {to_local(target).isoformat()}; timers that fired stay fired.")
    fired: list = []
    for _ in range(max_steps):
        due = timers.next_due(session)
        if due is None or due > target:
            break
        if due > now():
            set_now(session, due, actor)
        batch = timers.fire_due(session, owner=f"clock:{actor}")
        fired.extend(batch)
        if not batch and timers.next_due(session) == due:
            break  # nothing could be fired at this instant (failing fires wait for their retry)
    set_now(session, target, actor)
    return fired


def advance(session: Session, delta: dt.timedelta | relativedelta, actor: str = "system") -> list:
    """Move the simulated clock forward by `delta` (calendar-aware), firing due timers in order."""
    return advance_to(session, now() + delta, actor)


def next(session: Session, actor: str = "system") -> list:  # noqa: A001 - the CLI verb is `clock next`
    """Jump the simulated clock to the next due timer and fire it (and any due at the same instant)."""
    from . import timers

    _require_simulated(session)
    due = timers.next_due(session)
    if due is None:
        return []
    if due > now():
        set_now(session, due, actor)
    return timers.fire_due(session, owner=f"clock:{actor}")


def parse_delta(text: str) -> relativedelta:
    """'P2Y', 'P1DT2H', '2y', '3mo', '10d', '12h', '30m' or '45s' as a calendar-aware delta."""
    raw = text.strip()
    if raw.upper().startswith("P"):
        return relativedelta(**_spiff_timer.TimerEventDefinition.parse_iso_duration(raw))
    units = {"y": "years", "mo": "months", "w": "weeks", "d": "days", "h": "hours", "m": "minutes",
             "s": "seconds"}
    for suffix in sorted(units, key=len, reverse=True):
        if raw.lower().endswith(suffix) and raw[: -len(suffix)].strip().lstrip("-").isdigit():
            return relativedelta(**{units[suffix]: int(raw[: -len(suffix)])})
    raise ValueError(f"'{text}' is not a duration; use ISO 8601 (P2Y, P30D, PT12H) "
                     "or 2y, 3mo, 10d, 12h, 30m, 45s.")


def parse_when(text: str) -> dt.datetime:
    """An ISO date or date-time; naive values are Asia/Shanghai local time."""
    raw = text.strip()
    value = dt.datetime.fromisoformat(raw if len(raw) > 10 else raw + "T00:00:00")
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL_TZ)
    return value.astimezone(dt.UTC)


class _SpiffDateTime(dt.datetime):
    """What SpiffWorkflow's timer module sees as `datetime`: `now()` comes from our clock."""

    @classmethod
    def now(cls, tz=None):
        value = now()
        return value.astimezone(tz) if tz is not None else value.astimezone(dt.UTC).replace(tzinfo=None)


_spiff_timer.datetime = _SpiffDateTime


def parse_cycle(expression: str, at: dt.datetime) -> dict[str, Any]:
    """The first occurrence of an ISO repetition (R[n]/start/period, R[n]/period, R[n]/period/end)."""
    text = expression.strip().upper().replace("--", "/")
    if not text.startswith("R"):
        raise ValueError(f"'{expression}' is not an ISO 8601 repetition (R[n]/[start/]period).")
    parts = text[1:].split("/")
    cycles = int(parts[0]) if parts[0] else -1
    rest = parts[1:]
    # Calendar steps are taken on the Asia/Shanghai wall clock: 1 March 00:00 +08:00 stays 1 March.
    if len(rest) == 1 and rest[0].startswith("P"):
        period, anchor, index = rest[0], to_local(at), 1
    elif len(rest) == 2 and rest[1].startswith("P"):
        period, anchor, index = rest[1], _local_instant(rest[0]), 0
    elif len(rest) == 2 and rest[0].startswith("P"):
        period, index = rest[0], 0
        anchor = _local_instant(rest[1]) - _period(period)
    else:
        raise ValueError(f"'{expression}' is not an ISO 8601 repetition (R[n]/[start/]period).")
    first = anchor + _period(period) * index
    return {"cycles": cycles, "next": first.isoformat(), "duration": _period_seconds(first, period),
            "anchor": anchor.isoformat(), "period": period, "index": index}


def _local_instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return (value.replace(tzinfo=LOCAL_TZ) if value.tzinfo is None else value).astimezone(LOCAL_TZ)


def _period(period: str) -> relativedelta:
    return relativedelta(**_spiff_timer.TimerEventDefinition.parse_iso_duration(period))


def _period_seconds(start: dt.datetime, period: str) -> float:
    # Kept for Spiff's own readers of event_value; we step with calendar arithmetic instead.
    return ((start + _period(period)) - start).total_seconds()


def _cycle_complete(self, my_task) -> bool:
    """Spiff's cycle step with calendar arithmetic: occurrence k is anchor + k * period (no drift)."""
    value = my_task._get_internal_data("event_value")
    if value is None:
        expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        value = parse_cycle(expression, now())
    ready = False
    if value["cycles"] != 0:
        due = dt.datetime.fromisoformat(value["next"])
        forced = my_task.internal_data.pop("timer_forced", False)
        if due < now() or forced:
            if "anchor" in value:
                value["index"] += 1
                anchor = dt.datetime.fromisoformat(value["anchor"])
                following = anchor + _period(value["period"]) * value["index"]
                value["duration"] = (following - due).total_seconds()
            else:
                following = due + dt.timedelta(seconds=value["duration"])
            value["next"] = following.isoformat()
            value["cycles"] -= 1
            if value["cycles"] == 0:
                value.pop("next")  # the last occurrence fired: no due time left for the timer table
            ready = True
    else:
        my_task.internal_data.pop("event_value", None)
        my_task.internal_data["event_fired"] = True
    my_task._set_internal_data(event_value=value)
    return ready


_spiff_timer.CycleTimerEventDefinition.cycle_complete = _cycle_complete


def gateway_timers(event_definition) -> bool:
    """True for an event-based gateway (a MultipleEventDefinition) that waits on at least one timer."""
    return isinstance(event_definition, MultipleEventDefinition) and not event_definition.parallel and any(
        isinstance(d, _spiff_timer.TimerEventDefinition) for d in event_definition.event_definitions)


def _gateway_due(definition, my_task) -> str:
    expression = my_task.workflow.script_engine.evaluate(my_task, definition.expression)
    if isinstance(definition, _spiff_timer.DurationTimerEventDefinition):
        parsed = _spiff_timer.TimerEventDefinition.parse_iso_duration(expression)
        return (now() + _spiff_timer.TimerEventDefinition.get_timedelta_from_start(parsed, now())).isoformat()
    if isinstance(definition, _spiff_timer.CycleTimerEventDefinition):
        return parse_cycle(expression, now())["next"]
    return _spiff_timer.TimerEventDefinition.get_datetime(expression).isoformat()


def _gateway_has_fired(self, my_task) -> bool:
    """An event-based gateway's timers, each with its own due time; the earliest one wins.

    Spiff keeps one `event_value` for the whole gateway, so its second timer reuses the first one's
    due time. We keep one due per timer (`timer_dues`, by index) and expose the earliest as
    `event_value` for the timer table.
    """
    if not gateway_timers(self):
        return _spiff_multiple_has_fired(self, my_task)
    seen = my_task.internal_data.get("seen_events", [])
    if seen:
        return True
    dues = my_task.internal_data.get("timer_dues")
    if dues is None:
        dues = {str(i): _gateway_due(d, my_task) for i, d in enumerate(self.event_definitions)
                if isinstance(d, _spiff_timer.TimerEventDefinition)}
        my_task.internal_data["timer_dues"] = dues
    index, due = min(dues.items(), key=lambda item: dt.datetime.fromisoformat(item[1]))
    forced = my_task.internal_data.pop("timer_forced", False)
    if dt.datetime.fromisoformat(due) < now() or forced:
        my_task.internal_data.pop("event_value", None)
        my_task.internal_data["seen_events"] = [BpmnEvent(self.event_definitions[int(index)])]
        return True
    my_task.internal_data["event_value"] = due
    return False


def _gateway_reset(self, my_task) -> None:
    my_task.internal_data.pop("timer_dues", None)
    _spiff_multiple_reset(self, my_task)


_spiff_multiple_has_fired = MultipleEventDefinition.has_fired
_spiff_multiple_reset = MultipleEventDefinition.reset
MultipleEventDefinition.has_fired = _gateway_has_fired
MultipleEventDefinition.reset = _gateway_reset
