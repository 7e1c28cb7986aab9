"""Async code in cells (guest module `_rlm_loop`): the event loop and host calls that run in parallel.

A host function called from async code (a cell that uses `await`, an `async def`, or a
generator expression inside one) starts the call on the host (door op `start`) and returns a
`HostCall` future at once; the loop's `select` waits for finished calls (door op `wait`)
instead of sleeping. So `await asyncio.gather(*[predict(...) for x in xs])` runs the calls
in parallel on the host. The loop works without sockets (WASI has no socketpair for the
self-pipe); asyncio is imported only by the first async cell.
"""

import sys

import _rlm_door as door

CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_ASYNC_CODE = 0x80 | 0x100 | 0x200  # CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR
_INLINE = frozenset(("<genexpr>", "<listcomp>", "<setcomp>", "<dictcomp>"))
_loop = None
HostCall = None  # the asyncio.Future subclass host calls from async code return (made with the loop)
_calls = {}  # ticket -> HostCall of the running cell, until the host says it finished


def async_caller(frame):
    """Is `frame` async code running on our loop (or a generator expression inside some)?"""
    if _loop is None or not _loop.is_running():
        return False
    while frame is not None:
        code = frame.f_code
        if code.co_flags & _ASYNC_CODE:
            return True
        if code.co_name not in _INLINE:
            return False
        frame = frame.f_back
    return False


def started(name, ticket, finish):
    """The awaitable of the host call `name` started as `ticket` (its value `finish`ed when given)."""
    future = HostCall(loop=_loop)
    future._rlm_name, future._rlm_finish = name, finish
    _calls[ticket] = future
    return future


def _deliver(finished):
    """Resolve the awaitables of host calls the host reports finished."""
    for ticket, reply in finished:
        future = _calls.pop(ticket, None)
        if future is None or future.done():
            continue
        if door.ERROR in reply:
            future.set_exception(door.host_exception(reply[door.ERROR]))
            continue
        value, finish = reply.get(door.OK), future._rlm_finish
        if finish is not None:
            try:
                value = finish(value)
            except Exception as e:
                future.set_exception(e)
                continue
        future.set_result(value)


def drop_calls(report):
    """End of a cell: forget host calls still running (the host abandons them too)."""
    waiting = [future for future in _calls.values() if not future.done()]  # not those given up on
    _calls.clear()
    if not waiting:
        return
    names = sorted({future._rlm_name for future in waiting})
    count = len(waiting)
    for future in waiting:
        future.cancel()
    if report:
        print(f"note: {count} call(s) to {', '.join(names)} started in this cell were never awaited, so their "
              f"results were dropped; in a cell that uses `await`, write `await {names[0]}(...)`.", file=sys.stderr)


def _event_loop():
    global _loop, HostCall
    if _loop is None:
        import asyncio
        import selectors

        class HostCall(asyncio.Future):
            """A host call running on the host: await it."""

            _rlm_name = "host function"
            _rlm_finish = None

            def _hint(self):
                return (f"{self._rlm_name}(...) was called from async code, so it returned an awaitable: "
                        f"write `await {self._rlm_name}(...)`")

            def __getattr__(self, attr):
                if attr.startswith("_"):
                    raise AttributeError(attr)
                raise AttributeError(f"no attribute {attr!r}: {self._hint()}")

            def __getitem__(self, key):
                raise TypeError(self._hint())

            def __len__(self):
                raise TypeError(self._hint())

            def __repr__(self):
                state = "running" if not self.done() else "cancelled" if self.cancelled() else "finished"
                return f"<{self._rlm_name}(...) {state}: await it for its value>"

            __str__ = __repr__

        class _Selector(selectors.SelectSelector):
            def select(self, timeout=None):
                if self.get_map() and not _calls:
                    return super().select(timeout)
                if not _calls and timeout is not None and timeout <= 0:
                    return []
                if self.get_map():  # files and host calls at once: poll both
                    timeout = 0.05 if timeout is None else min(timeout, 0.05)
                _deliver(door.wait(timeout))
                return super().select(0) if self.get_map() else []

        class _Loop(asyncio.SelectorEventLoop):
            def _make_self_pipe(self):
                pass

            def _close_self_pipe(self):
                pass

            def _write_to_self(self):
                pass

        _loop = _Loop(_Selector())
        asyncio.set_event_loop(_loop)
    return _loop


def run(code):
    """Evaluate a cell's code object in `__main__`; a coroutine (top-level `await`) runs on the loop."""
    result = eval(code, sys.modules["__main__"].__dict__)
    if code.co_flags & CO_COROUTINE:
        loop = _event_loop()
        task = loop.create_task(result)
        try:
            result = loop.run_until_complete(task)
        finally:
            if not task.done():  # interrupted (cancel, time limit): unwind it now, not in a later cell
                drop_calls(False)
                task.cancel()
                try:
                    loop.run_until_complete(task)
                except BaseException:
                    pass
    return result
