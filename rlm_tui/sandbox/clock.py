"""Deadline-aware replacements for WASI's clock and `poll_oneoff`.

wasmtime's own `poll_oneoff` sleeps inside the host where epoch interruption cannot reach,
so `time.sleep(1e9)` would outlive any cell timeout. These versions sleep in slices and
give up at the cell's deadline or on cancellation.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import wasmtime

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


def clock_time_get(caller: wasmtime.Caller, clock_id: int, _precision: int, out: int) -> int:
    clock = _CLOCKS.get(clock_id)
    if clock is None:
        return ERRNO_INVAL
    caller["memory"].write(caller, struct.pack("<Q", clock()), out)
    return ERRNO_SUCCESS


def make_poll_oneoff(wait: Callable[[float], None]) -> Callable[..., int]:
    """`poll_oneoff` that sleeps through `wait(seconds)` (which raises `Interrupted` on a
    deadline or cancel). File-descriptor subscriptions are reported ready at once."""

    def poll_oneoff(caller: wasmtime.Caller, subs: int, events: int, count: int, out_count: int) -> int:
        if count == 0:
            return ERRNO_INVAL
        memory = caller["memory"]
        raw = bytes(memory.read(caller, subs, subs + count * SUBSCRIPTION))
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
        memory.write(caller, b"".join(ready), events)
        memory.write(caller, struct.pack("<I", len(ready)), out_count)
        return ERRNO_SUCCESS

    return poll_oneoff
