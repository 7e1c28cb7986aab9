"""Deadline-aware replacements for WASI's clock and `poll_oneoff`.

wasmtime's own `poll_oneoff` sleeps inside the host where epoch interruption cannot reach,
so `time.sleep(1e9)` would outlive any cell timeout. These versions sleep in slices and
give up at the cell's deadline or on cancellation.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

from rlm_tui.sandbox.fastcall import MASK32, Context, RawMemory

SUBSCRIPTION = 48
EVENT = 32
TAG_CLOCK = 0
ABSTIME = 1
ERRNO_SUCCESS = 0
ERRNO_INVAL = 28
_CLOCKS: dict[int, Callable[[], int]] = {
    0: time.time_ns,
    1: time.monotonic_ns,
    2: time.process_time_ns,
    3: time.thread_time_ns,
}


class Interrupted(Exception):
    """Raised inside a host function to stop the guest (deadline or cancellation)."""


def make_clock_time_get(memory: RawMemory) -> Callable[[Context, Any], int]:
    """`clock_time_get(clock_id: i32, precision: i64, out: i32) -> errno`."""

    def clock_time_get(ctx: Context, vals: Any) -> int:
        clock = _CLOCKS.get(vals[0].i32)
        if clock is None:
            return ERRNO_INVAL
        memory.write(ctx, vals[2].i32 & MASK32, struct.pack("<Q", clock()))
        return ERRNO_SUCCESS

    return clock_time_get


def make_poll_oneoff(memory: RawMemory, wait: Callable[[float], None]) -> Callable[[Context, Any], int]:
    """`poll_oneoff(subs, events, count, out_count) -> errno` that sleeps through `wait(seconds)`
    (which raises `Interrupted` on a deadline or cancel). File-descriptor subscriptions are
    reported ready at once."""

    def poll_oneoff(ctx: Context, vals: Any) -> int:
        subs, events, count, out_count = (vals[i].i32 & MASK32 for i in range(4))
        if count == 0 or count > 4096:
            return ERRNO_INVAL
        raw = memory.read(ctx, subs, count * SUBSCRIPTION)
        fds, clocks = [], []
        for i in range(count):
            base = i * SUBSCRIPTION
            userdata, tag = struct.unpack_from("<QB", raw, base)
            if tag == TAG_CLOCK:
                (clock_id,) = struct.unpack_from("<I", raw, base + 16)
                timeout, _precision, flags = struct.unpack_from("<QQH", raw, base + 24)
                clock = _CLOCKS.get(clock_id, time.monotonic_ns)
                due = timeout - clock() if flags & ABSTIME else timeout
                clocks.append((max(0, due), userdata))
            else:
                fds.append((userdata, tag))
        ready: list[bytes] = [struct.pack("<QHBxxxxxQHxxxxxx", u, 0, tag, 0, 0) for u, tag in fds]
        if not ready and clocks:
            due, userdata = min(clocks)
            wait(due / 1e9)
            ready.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, 0, TAG_CLOCK, 0, 0))
        memory.write(ctx, events, b"".join(ready))
        memory.write(ctx, out_count, struct.pack("<I", len(ready)))
        return ERRNO_SUCCESS

    return poll_oneoff
