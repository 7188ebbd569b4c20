"""The only source of "now" for the engine, SpiffWorkflow's timer evaluation included.

SpiffWorkflow reads ``datetime.now(timezone.utc)`` from the module-level ``datetime`` of its timer
module and has no clock hook. We replace that one name (nothing else in the process is affected) with a
``datetime`` subclass whose ``now`` asks the clock installed here.
"""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


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


class _SpiffDateTime(dt.datetime):
    """What SpiffWorkflow's timer module sees as `datetime`: `now()` comes from our clock."""

    @classmethod
    def now(cls, tz=None):
        value = now()
        return value.astimezone(tz) if tz is not None else value.astimezone(dt.UTC).replace(tzinfo=None)


_spiff_timer.datetime = _SpiffDateTime
