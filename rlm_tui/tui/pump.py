"""Batch engine events from any thread into one UI update per interval.

The engine calls `EventPump.push` from sandbox worker threads or the asyncio loop. Pushing is
a deque append under a lock; the first push after a flush schedules one flush on the app's loop
`interval` seconds later, so at 1,000 events/s the UI still redraws ~12 times a second, and an
idle app has no timer running at all.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

Batch = list[Any]


class EventPump:
    def __init__(self, loop: asyncio.AbstractEventLoop, flush: Callable[[Batch], None],
                 interval: float = 0.08) -> None:
        self._loop = loop
        self._flush_cb = flush
        self.interval = interval
        self._lock = threading.Lock()
        self._buffer: Batch = []
        self._scheduled = False
        self._closed = False
        self.flushes = 0
        self.events = 0

    def push(self, event: Any) -> None:
        """Thread-safe; cheap enough to call thousands of times a second."""
        with self._lock:
            if self._closed:
                return
            self._buffer.append(event)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._schedule)
        except RuntimeError:  # loop closed while a worker thread was still reporting
            pass

    def _schedule(self) -> None:
        self._loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Deliver everything buffered (also callable directly, e.g. before a turn ends)."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._scheduled = False
        if batch and not self._closed:
            self.flushes += 1
            self.events += len(batch)
            self._flush_cb(batch)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._buffer = []
