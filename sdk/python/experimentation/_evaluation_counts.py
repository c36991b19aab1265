"""Flag evaluation counts: how often each flag was evaluated, by the variation served, over a window.

The client counts every evaluation of its public API (`evaluate` without `explain`, `get_value`,
`is_feature_enabled`) by (flag key asked, variation key served, or None when the caller's default
was), and the event queue closes the window at each flush (the counter closes it early when a new pair
would exceed MAX_EVALUATION_PAIRS): the counts then leave as `evaluations` records of at most
MAX_EVALUATION_COUNTS pairs, each naming the client's application (`app`, the `app_name` option) when it
has one. No unit id, no attributes. The JavaScript SDK's
evaluation-counts.ts does the same; both send the same records for the same calls.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
import uuid
from typing import Any, Callable, Final

log = logging.getLogger("experimentation")

# Pairs per record: the API's MAX_EVALUATION_COUNTS.
MAX_EVALUATION_COUNTS: Final = 100
# Distinct (flag, variation) pairs kept per window: flag keys made from user input must not grow memory
# without bound. A new pair beyond it closes the window early (its records go to the event queue, as at a
# flush) and opens the next with that pair: nothing is dropped here, and the queue's own limit bounds the records.
MAX_EVALUATION_PAIRS: Final = 1000
# The longest flag key the API takes in a record, in UTF-16 code units (as it counts).
MAX_FLAG_KEY: Final = 200
# A record's body stays below the API's 16 KiB per event (100 pairs of 200-character keys would not).
MAX_RECORD_BYTES: Final = 15 * 1024
# `start` is at most this long before `timestamp` (the API's rule): a window left open longer is dated to its last hour.
MAX_WINDOW_MS: Final = 3_600_000
# An entry's bytes beyond its keys: `{"flag":"","variation":"","count":1000000000},`.
_ENTRY_OVERHEAD: Final = 48
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
MAX_COUNT: Final = 1_000_000_000
# The application a client names itself as (`app_name`), as the API checks a record's `app`: APP_NAME_PATTERN and
# APP_NAME_MESSAGE of shared/src/model/event-check.ts (a test pins the two). Matched with fullmatch: `$` would take "web\n".
APP_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
APP_NAME_MESSAGE: Final = 'must be 1 to 64 ASCII letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. "checkout-api")'


def _utf16_len(s: str) -> int:
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def _well_formed(text: str) -> str:
    """The string with unpaired surrogates replaced by U+FFFD (as the API stores it; client.py's _well_formed)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _now_ms() -> int:
    return int(time.time() * 1000)


class EvaluationCounter:
    """One client's counts of the current window.

    `window` maps flag key → variation key (None: the default) → an `itertools.count` started at 1 by the
    pair's first evaluation and advanced by `next()` at each later one: `next()` on a C iterator is atomic
    under the GIL, so counting takes no lock and allocates nothing once the pair was seen. Adding a pair
    and closing the window take the lock. An evaluation racing the close in another thread may land in the
    closed window after it was read, and is then not counted.

    `full` takes the records of a window closed early (a new pair when MAX_EVALUATION_PAIRS were kept): the
    client queues them as at a flush and wakes its flusher. It runs on the evaluating thread, outside the lock.
    `app` is the application every record names (the client checked it), or None for none.
    """

    __slots__ = ("window", "_lock", "_pairs", "_start", "_warned_full", "_now", "_full", "_app")

    def __init__(self, full: Callable[[list[dict[str, Any]]], None], now: Callable[[], int] | None = None, app: str | None = None) -> None:
        self.window: dict[str, dict[str | None, Any]] = {}
        self._lock = threading.Lock()
        self._pairs = 0
        self._start = 0
        # Whether a window closed early was warned about: once per counter (per client).
        self._warned_full = False
        # None: the module's _now_ms, looked up at each call (tests pin it).
        self._now = now
        self._full = full
        self._app = app

    def count(self, flag: Any, variation: str | None) -> None:
        """One evaluation (the client inlines the fast path: next(window[flag][variation]))."""
        try:
            next(self.window[flag][variation])
        except (KeyError, TypeError):
            self.add(flag, variation)

    def add(self, flag: Any, variation: str | None) -> None:
        """An evaluation of a pair not in the window yet (or a key that cannot be counted)."""
        if not isinstance(flag, str):
            return
        closed: tuple[dict[str, dict[str | None, Any]], int] | None = None
        with self._lock:
            by_variation = self.window.get(flag)
            counter = None if by_variation is None else by_variation.get(variation)
            if counter is not None:
                # Added by another thread meanwhile.
                next(counter)
                return
            if self._pairs >= MAX_EVALUATION_PAIRS:
                # Closed early rather than dropping the pair: dropped pairs would follow call order, the same
                # flags lost every window (a flag in use looking unused).
                keys = len(self.window)
                closed = self._take_locked()
                warned, self._warned_full = self._warned_full, True
                by_variation = None
            if self._pairs == 0:
                self._start = (self._now or _now_ms)()
            self._pairs += 1
            if by_variation is None:
                by_variation = self.window[flag] = {}
            by_variation[variation] = itertools.count(1)
        if closed is not None:
            message = (f"evaluation counts: {MAX_EVALUATION_PAIRS} distinct (flag, variation) pairs of {keys} distinct flag keys were "
                       "evaluated in one window (flag keys made from input?); the window is closed and sent early, and the next "
                       "opened, so nothing is dropped, at the cost of more records")
            if warned:
                log.debug(message)
            else:
                log.warning("%s (warned once; later windows at debug level)", message)
            records = self._records(*closed)
            if records:
                self._full(records)

    def _take_locked(self) -> tuple[dict[str, dict[str | None, Any]], int]:
        """The window and when it opened; a new window starts empty (under the lock)."""
        window, self.window = self.window, {}
        self._pairs = 0
        return window, self._start

    def close(self) -> list[dict[str, Any]]:
        """Closes the window: its counts as records (none when nothing was evaluated); a new window starts empty."""
        with self._lock:
            if not self._pairs:
                return []
            window, opened = self._take_locked()
        return self._records(window, opened)

    def _records(self, window: dict[str, dict[str | None, Any]], opened: int) -> list[dict[str, Any]]:
        """The records of a closed window."""
        timestamp = max(0, int((self._now or _now_ms)()))
        # A clock set back since the window opened, or a window left open past an hour, still makes a record the API takes.
        start = min(timestamp, max(int(opened), timestamp - MAX_WINDOW_MS))
        merged: dict[tuple[str, str | None], int] = {}
        for key, by_variation in window.items():
            if not key or "\0" in key or _utf16_len(key) > MAX_FLAG_KEY:
                # A key the API refuses would lose the whole record: no flag can have it, so it is left out.
                continue
            flag = _well_formed(key)
            for variation, counter in by_variation.items():
                pair = (flag, variation)
                merged[pair] = merged.get(pair, 0) + next(counter)
        records: list[dict[str, Any]] = []
        counts: list[dict[str, Any]] = []
        size_so_far = 0
        for (flag, variation), n in merged.items():
            size = _ENTRY_OVERHEAD + len(json.dumps(flag).encode("utf-8")) + (4 if variation is None else len(variation.encode("utf-8")))
            if len(counts) == MAX_EVALUATION_COUNTS or (counts and size_so_far + size > MAX_RECORD_BYTES):
                records.append(_record(start, timestamp, counts, self._app))
                counts, size_so_far = [], 0
            counts.append({"flag": flag, "variation": variation, "count": min(n, MAX_COUNT)})
            size_so_far += size
        if counts:
            records.append(_record(start, timestamp, counts, self._app))
        return records


def _record(start: int, timestamp: int, counts: list[dict[str, Any]], app: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"id": uuid.uuid4().hex, "type": "evaluations", "start": start, "timestamp": timestamp, "counts": counts}
    if app is not None:
        record["app"] = app
    return record
