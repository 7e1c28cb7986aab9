"""A progress bar for `rlm-tui eval` on stderr (one line per finished task when not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class ProgressBar:
    def __init__(self, total: int, *, done: int = 0, stream: TextIO | None = None, width: int = 28) -> None:
        self.total, self.done, self.width = total, done, width
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.running: dict[str, float] = {}
        self.scores: dict[str, list[float]] = {}
        self.cost = 0.0
        self.errors = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if done:
            self._write(f"resuming: {done} of {total} already done")

    def started_unit(self, name: str) -> None:
        self.running[name] = time.monotonic()
        if self.tty:
            self._render()

    def finished_unit(self, name: str, record: dict[str, Any]) -> None:
        self.running.pop(name, None)
        self.done += 1
        self.scores.setdefault(record["mode"], []).append(float(record.get("score") or 0.0))
        self.cost += record.get("cost_usd") or 0.0
        if record.get("error"):
            self.errors += 1
        if self.tty:
            self._render()
        else:
            status = f"error: {record['error'][:80]}" if record.get("error") else f"score {record['score']:.2f}"
            self._write(f"[{self.done}/{self.total}] {name}: {status} ({record['wall_s']:.1f} s)")

    def note(self, line: str) -> None:
        self._write(line)

    def close(self) -> None:
        if self.tty:
            self._render()
            self.stream.write("\n")
            self.stream.flush()

    def _render(self) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        scores = "  ".join(f"{mode} {sum(v) / len(v):.2f}" for mode, v in sorted(self.scores.items()) if v)
        elapsed = _clock(time.monotonic() - self.started)
        running = f"  running {len(self.running)}" if self.running else ""
        errors = f"  errors {self.errors}" if self.errors else ""
        line = f"\r[{bar}] {self.done}/{self.total}  {scores}  ${self.cost:.4f}  {elapsed}{running}{errors}"
        self.stream.write(line.ljust(100)[:160])
        self.stream.flush()

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
