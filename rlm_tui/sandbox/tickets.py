"""Host calls the guest starts without waiting for them (`await predict(...)` in a cell).

In a cell that uses `await`, a host function called from async code does not block the
guest: the door op `start` hands the call to a worker thread here and returns a ticket at
once, and the guest's event loop, instead of sleeping in `select`, asks with the door op
`wait` for whichever tickets finished. So `await asyncio.gather(*[predict(...) for ...])`
runs every call at the same time on the host (bounded by whatever the host functions bound
themselves with, and by `MAX_WORKERS`).

Tickets belong to one cell: when it ends, those still running are abandoned (their results
are dropped when they finish) and those finished but never collected are forgotten.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rlm_tui.sandbox.protocol import encode_reply, error_reply, ok_reply

if TYPE_CHECKING:
    from concurrent.futures import (
        ThreadPoolExecutor,  # imported on first use: it pulls in logging (~8 ms)
    )

MAX_WORKERS = 64
_worker = threading.local()


class HostCalls:
    """The tickets of one sandbox: started, finished and not yet handed to the guest."""

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._cond = threading.Condition()
        self._next = 0
        self._generation = 0  # bumped when tickets are abandoned: late results are dropped
        self._running: set[int] = set()
        self._done: dict[int, bytes] = {}

    def start(self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> int:
        with self._cond:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="rlm-host-call")
            self._next += 1
            ticket, generation = self._next, self._generation
            self._running.add(ticket)
            pool = self._pool
        pool.submit(self._work, ticket, generation, fn, args, kwargs)
        return ticket

    def _work(self, ticket: int, generation: int, fn: Callable[..., Any], args: list, kwargs: dict) -> None:
        _worker.owner = self
        try:
            with self._cond:
                if generation != self._generation:
                    return  # abandoned before it started
            try:
                reply = encode_reply(ok_reply(fn(*args, **kwargs)))
            except BaseException as e:  # noqa: BLE001 - every failure reaches the guest as an exception
                reply = encode_reply(error_reply(type(e).__name__, str(e)))
            with self._cond:
                if generation == self._generation and ticket in self._running:
                    self._running.discard(ticket)
                    self._done[ticket] = reply
                    self._cond.notify_all()
        finally:
            _worker.owner = None

    @property
    def running(self) -> int:
        """How many started calls have not finished yet."""
        with self._cond:
            return len(self._running)

    def take_done(self) -> list[tuple[int, bytes]]:
        """Finished calls not yet handed over (each reply already JSON), oldest first."""
        with self._cond:
            done = sorted(self._done.items())
            self._done.clear()
            return done

    def wait(self, seconds: float) -> None:
        """Block until a call finishes, `wake()` is called, or `seconds` pass."""
        with self._cond:
            if not self._done:
                self._cond.wait(max(0.0, seconds))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def abandon(self) -> int:
        """Forget every ticket (running ones finish unobserved); how many there were."""
        with self._cond:
            count = len(self._running) + len(self._done)
            if count:
                self._generation += 1
                self._running.clear()
                self._done.clear()
                self._cond.notify_all()
            return count

    def close(self) -> None:
        self.abandon()
        with self._cond:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def in_worker(self) -> bool:
        """True on one of this sandbox's worker threads (which must not re-enter it)."""
        return getattr(_worker, "owner", None) is self
