"""Keep Python's full garbage-collection passes out of busy moments.

A full (generation 2) pass walks every tracked object. With a few hundred thousand objects
(a big call tree, rendered strips, the engine's imports) one pass takes 100-300 ms on a slow
machine: a visible freeze in the middle of a turn. So: objects alive after start-up and after
the engine loads are frozen (never walked again); automatic full passes are switched off; a
full pass runs when the app has been idle for a moment, or at most every `max_gap` seconds.
Young generations are still collected as usual, which catches most short-lived cycles.
"""

from __future__ import annotations

import gc
import time

AUTO_GEN2_OFF = 1_000_000


class QuietGC:
    def __init__(self, idle_s: float = 1.5, max_gap: float = 60.0) -> None:
        self.idle_s = idle_s
        self.max_gap = max_gap
        self._saved = gc.get_threshold()
        self._last_full = time.monotonic()
        self._dirty = False
        self.full_passes = 0

    def install(self) -> None:
        """Freeze what exists now and stop automatic full passes."""
        gc.freeze()
        t0, t1, _ = self._saved
        gc.set_threshold(t0, t1, AUTO_GEN2_OFF)

    def freeze_now(self) -> None:
        """After a big one-off allocation (the engine's imports): keep it out of every pass."""
        gc.freeze()

    def busy(self) -> bool:
        """Note activity. Returns True when a full pass is overdue (the caller runs `collect`)."""
        self._dirty = True
        return time.monotonic() - self._last_full > self.max_gap

    def collect(self) -> None:
        if self._dirty:
            gc.collect()
            self.full_passes += 1
        self._dirty = False
        self._last_full = time.monotonic()

    def uninstall(self) -> None:
        gc.set_threshold(*self._saved)
        gc.unfreeze()
