"""Live workflows kept between units of work, so that the next operation on an instance skips rebuilding it.

The database stays the truth. A workflow is kept only after the transaction that saved it has committed,
together with the exact state text it was saved as; the next unit of work takes it (out of the cache, so
that no two ever share it) only if the instance row it has just read and locked holds that very text and
the same deployed version. Anything else (a rollback, another process or worker that changed the instance,
a restored or reset database, a migration) leaves a different text in the row, and the workflow is
rebuilt from it as always. This is the in-memory workflow a plain SpiffWorkflow program would keep, with
every state change still written and committed first (Temporal's workers keep a "sticky" cache the same way).

Only workflows whose data reads back exactly as it is (JSON types, dates, datetimes, decimals) are kept: a
tuple, a set or a UUID in task data comes back from the stored text as a list or a string, and a script
must see the same values whether or not its instance was kept. The size budget is reckoned from the
length of the state text (a kept workflow takes about three times as many bytes of memory).
IDIFLOW_LIVE_CACHE_MB sets it (0 keeps none).
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import threading
from collections import OrderedDict
from typing import Any

#: Memory a kept workflow takes, per byte of its state text (measured: ~2.7 for the benchmark's diagram).
BYTES_PER_STATE_BYTE = 3


def _budget_from_env() -> int:
    raw = os.environ.get("IDIFLOW_LIVE_CACHE_MB", "").strip()
    try:
        megabytes = float(raw) if raw else 64.0
    except ValueError:
        raise ValueError(f"IDIFLOW_LIVE_CACHE_MB must be a number of megabytes, not {raw!r}") from None
    return max(0, int(megabytes * 1024 * 1024))


class LiveWorkflows:
    """A bounded map (instance -> (state text, definition, workflow)), least recently kept out first."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.used = 0
        self._entries: OrderedDict[Any, tuple[str, Any, Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def take(self, key, state: str, definition) -> Any | None:
        """The kept workflow of `key` if it was saved as exactly `state` for `definition`; it leaves the
        cache either way (the caller rebuilds and, after its commit, keeps its own)."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.used -= entry[3]
        if entry is not None and entry[1] is definition and entry[0] == state:
            self.hits += 1
            return entry[2]
        self.misses += 1
        return None

    def keep(self, key, state: str, definition, workflow) -> None:
        """Keep a workflow just committed as `state` (call only after the commit)."""
        cost = len(state) * BYTES_PER_STATE_BYTE
        if cost > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= old[3]
            self._entries[key] = (state, definition, workflow, cost)
            self.used += cost
            while self.used > self.budget:
                self.used -= self._entries.popitem(last=False)[1][3]

    def discard(self, key) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self.used -= entry[3]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._entries)


CACHE = LiveWorkflows(_budget_from_env())

_EXACT = frozenset({str, int, float, bool, type(None), dt.date, dt.datetime, decimal.Decimal})


def reads_back_exactly(value) -> bool:
    """True if `value` (task data) comes back from stored state as equal values of the same types."""
    kind = type(value)
    if kind in _EXACT:
        return kind is not float or value - value == 0  # NaN and infinities are stored as null
    if kind is dict:
        if "typename" in value:  # a dict with this key is read back as a registered object
            return False
        for key, item in value.items():
            if type(key) is not str or not reads_back_exactly(item):
                return False
        return True
    if kind is list:
        for item in value:
            if not reads_back_exactly(item):
                return False
        return True
    return False


def detached(data) -> dict:
    """A dict copy of the caller's data (a mapping) whose dicts and lists are the engine's own: a workflow
    kept here outlives its unit of work, and must not change when the caller later changes what it passed."""
    return {key: detached_value(value) for key, value in data.items()}


def detached_value(value):
    """`value` with every dict and list in it copied (other values are shared: immutable, or the caller's)."""
    kind = type(value)
    if kind is dict:
        return {key: detached_value(item) for key, item in value.items()}
    if kind is list:
        return [detached_value(item) for item in value]
    return value


def keepable(workflow) -> bool:
    """True if the workflow's data, its correlations and every task's data (subprocesses too) read back
    exactly."""
    if not (reads_back_exactly(workflow.data) and reads_back_exactly(workflow.correlations)):
        return False
    for task in workflow.tasks.values():
        if not reads_back_exactly(task.data):
            return False
    for sub in workflow.subprocesses.values():
        for task in sub.tasks.values():
            if not reads_back_exactly(task.data):
                return False
    return True
