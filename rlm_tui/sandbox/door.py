"""`Door`: the host's answers to one sandbox's door requests (`rlm_tui.sandbox.protocol`).

While guest code runs, every `_host.call` lands in `Door.__call__`: boot requests go to
`BootCode` (only while booting), checkpoint and input requests to `GuestState`, and the JSON
ops are dispatched by their typed form. A malformed request is the guest's error, never a
host crash. `Cell` is the running cell's book-keeping: its clock (host time does not count
against its limit), the cancel it got, and what the guest reported back.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.sandbox import protocol as p
from rlm_tui.sandbox.boot import BootCode
from rlm_tui.sandbox.checkpoint import GuestState
from rlm_tui.sandbox.checks import HostFunction
from rlm_tui.sandbox.results import VarInfo
from rlm_tui.sandbox.tickets import HostCalls

CHECK_S = 0.05  # how often a running cell's deadline and a pending hard cancel are looked at
CANCEL_GRACE_S = 2.0  # a cancelled cell that ignores it is stopped (and the instance restarted) after this
SOFT_TIMEOUT_GRACE_S = 0.5  # time a cell gets to unwind from the TimeoutError its sleep raised
KEEP_GRACE_S = 5.0  # time a finished cell gets past its limit to checkpoint what it changed


@dataclass
class Cell:
    """Book-keeping for the cell that is running."""

    timeout_s: float
    started: float = field(default_factory=time.monotonic)
    host_time: float = 0.0
    error: dict[str, str] | None = None
    variables: list[VarInfo] | None = None
    submitted: dict[str, Any] | None = None
    restored: tuple[list[str], dict[str, str]] | None = None  # a restore's report: restored, failed
    hard_stop_at: float | None = None  # set by cancel()
    cancel_grace_s: float = CANCEL_GRACE_S
    grace_until: float | None = None  # set when a sleep raised TimeoutError: time to unwind

    @property
    def stop_at(self) -> float:
        return self.deadline if self.grace_until is None else max(self.deadline, self.grace_until)

    @property
    def deadline(self) -> float:
        return self.started + self.host_time + self.timeout_s

    def timed_out(self, now: float) -> dict[str, Any]:
        """The reply that raises TimeoutError in the guest, with a short grace to unwind from it."""
        if self.grace_until is None:
            self.grace_until = now + SOFT_TIMEOUT_GRACE_S
        return p.error_reply("TimeoutError", f"the cell ran past its {self.timeout_s:g} s time limit")


class Door:
    """The door of one sandbox: its host functions, started calls, kept state and cancel flag."""

    def __init__(self, functions: dict[str, HostFunction], calls: HostCalls, state: GuestState,
                 cancel: threading.Event) -> None:
        self.functions = functions  # the sandbox's own dict: updates are seen at once
        self.calls = calls
        self.state = state
        self.cancel = cancel
        self.cell: Cell | None = None
        self.booting = False

    def __call__(self, raw: bytes) -> bytes:
        try:
            special = p.parse_raw(raw)
            if special is not None:
                return self._raw(special)
            reply = self._answer(p.parse(raw))
        except p.UnknownOp as e:
            reply = p.error_reply("RuntimeError", str(e))
        except Exception as e:  # a malformed request is the guest's error, never a host crash
            kind = "ValueError" if isinstance(e, p.BadRequest) else type(e).__name__
            reply = p.error_reply(kind, f"bad host request: {e}")
        return reply if isinstance(reply, bytes) else p.encode_reply(reply)

    def _raw(self, request: p.RawRequest) -> bytes:
        match request:
            case p.BootRequest():  # only before any user code has run
                return BootCode.answer(request) if self.booting else b""
            case p.Keep(name, kind, blob):
                why = self.state.checkpoint.keep(name, kind, blob)
                return p.encode_reply(p.ok_reply(self.state.checkpoint.room) if why is None
                                      else p.error_reply("ValueError", why))
            case p.Fetch(name):
                return self.state.fetch(name)
            case p.Inputs(names):
                return self.state.inputs_frames(names)
        raise p.BadRequest(f"unhandled request {request!r}")

    def _answer(self, request: p.Request) -> dict[str, Any] | bytes:
        cell = self.cell
        match request:
            case p.Start():
                return self._start(cell, request)
            case p.Call():
                return self._call(cell, request)
            case p.Wait(timeout):
                return self._wait(cell, timeout)
            case p.Sleep(seconds):
                return self._sleep(cell, seconds)
            case p.Checkpointed(gone, lost):
                return p.ok_reply(self.state.checkpointed(gone, lost))
        if cell is None:  # a cell's report with no cell running
            raise p.UnknownOp(f"unknown host request {type(request).__name__.lower()!r} outside a cell")
        match request:
            case p.Result(error, rows):
                first = cell.variables is None
                cell.variables = rows
                cell.error = None if error is None else {"type": error.type, "text": error.text}
                if first:  # what follows is the checkpoint: it gets time of its own, once per cell
                    now = time.monotonic()
                    cell.grace_until = max(cell.grace_until or now, now + KEEP_GRACE_S)
            case p.Restored(restored, failed):
                cell.restored = (restored, failed)
            case p.Submit(outputs):
                cell.submitted = outputs
        return p.ok_reply()

    # -- host calls ------------------------------------------------------------------------

    def cancelled(self, cell: Cell | None) -> dict[str, Any]:
        """The reply that raises KeyboardInterrupt in the guest; it gets a fresh grace period
        to unwind (time spent waiting in a host call must not use it up)."""
        if cell is not None and cell.hard_stop_at is not None:
            cell.hard_stop_at = max(cell.hard_stop_at, time.monotonic() + cell.cancel_grace_s)
        return p.error_reply("KeyboardInterrupt", "the cell was cancelled")

    def _function(self, request: p.Call) -> HostFunction | dict[str, Any]:
        fn = self.functions.get(request.name)
        return p.error_reply("NameError", f"no host function {request.name!r}") if fn is None else fn

    def _call(self, cell: Cell | None, request: p.Call) -> dict[str, Any]:
        if self.cancel.is_set():
            return self.cancelled(cell)
        fn = self._function(request)
        if isinstance(fn, dict):
            return fn
        started = time.monotonic()
        try:
            reply = p.ok_reply(fn(*request.args, **request.kwargs))
        except Exception as e:  # every host failure reaches the guest as an exception
            reply = p.error_reply(type(e).__name__, str(e))
        finally:
            if cell is not None:
                cell.host_time += time.monotonic() - started
        if self.cancel.is_set():
            return self.cancelled(cell)
        return reply

    def _start(self, cell: Cell | None, request: p.Call) -> dict[str, Any]:
        """Start a host call on a worker thread; the guest gets its ticket at once."""
        if self.cancel.is_set():
            return self.cancelled(cell)
        fn = self._function(request)
        if isinstance(fn, dict):
            return fn
        return p.ok_reply(self.calls.start(fn, request.args, request.kwargs))

    def _wait(self, cell: Cell | None, timeout: float | None) -> dict[str, Any] | bytes:
        """The guest's event loop waiting (its `select`): until started calls finish, up to
        `timeout` (None: no limit). While calls are running the time is host time and does
        not count against the cell's limit; otherwise this is a sleep, cut short like one."""
        calls = self.calls
        end = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if self.cancel.is_set():
                calls.abandon()
                return self.cancelled(cell)
            done = calls.take_done()
            now = time.monotonic()
            if done or (end is not None and now >= end):
                return p.wait_reply(done)
            busy = calls.running > 0
            limit = end if end is not None else now + CHECK_S
            if not busy and cell is not None:
                if now >= cell.deadline:
                    return cell.timed_out(now)
                limit = min(limit, cell.deadline)
            calls.wait(min(CHECK_S, limit - now))
            if busy and cell is not None:
                cell.host_time += time.monotonic() - now

    def _sleep(self, cell: Cell | None, seconds: float) -> dict[str, Any]:
        """`time.sleep` in the guest: stops early, as a guest exception, on cancel or deadline."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            if self.cancel.is_set():
                return self.cancelled(cell)
            now = time.monotonic()
            if cell is not None and now >= cell.deadline:
                return cell.timed_out(now)
            if now >= end:
                return p.ok_reply()
            limit = end if cell is None else min(end, cell.deadline)
            time.sleep(min(CHECK_S, max(0.0, limit - now)))
