"""The progress display of `rlm-tui eval` on stderr, made with `rich.progress`: a live bar on a
terminal, one plain line per finished task otherwise.

A UI layer: only the eval command imports it; the runner reports through its `Reporter`
protocol and never imports rich.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class EvalProgress:
    """`runner.Reporter` as a rich progress bar: done/total, mean score per mode, cost, time,
    tasks running and errors."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.progress = Progress(
            BarColumn(bar_width=28), MofNCompleteColumn(), TextColumn("{task.fields[scores]}"),
            TextColumn("${task.fields[cost]:.4f}"), TimeElapsedColumn(), TextColumn("{task.fields[state]}"),
            console=self.console, disable=not self.console.is_terminal, transient=False,
        )
        self.task: TaskID | None = None
        self.running: set[str] = set()
        self.scores: dict[str, list[float]] = {}
        self.cost = 0.0
        self.errors = 0
        self.done = self.total = 0

    def begin(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        self.task = self.progress.add_task("eval", total=total, completed=done, scores="", cost=0.0, state="")
        if done:
            self.note(f"resuming: {done} of {total} already done")
        self.progress.start()

    def started_unit(self, name: str) -> None:
        self.running.add(name)
        self._update()

    def finished_unit(self, name: str, record: dict[str, Any]) -> None:
        self.running.discard(name)
        self.done += 1
        self.scores.setdefault(record["mode"], []).append(float(record.get("score") or 0.0))
        self.cost += record.get("cost_usd") or 0.0
        if record.get("error"):
            self.errors += 1
        self._update(advance=1)
        if not self.console.is_terminal:
            status = f"error: {record['error'][:80]}" if record.get("error") else f"score {record['score']:.2f}"
            self.note(f"[{self.done}/{self.total}] {name}: {status} ({record['wall_s']:.1f} s)")

    def note(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.progress.stop()

    def _update(self, advance: int = 0) -> None:
        if self.task is None:
            return
        scores = "  ".join(f"{mode} {sum(v) / len(v):.2f}" for mode, v in sorted(self.scores.items()) if v)
        state = "  ".join(part for part in (f"running {len(self.running)}" if self.running else "",
                                            f"errors {self.errors}" if self.errors else "") if part)
        self.progress.update(self.task, advance=advance, scores=scores, cost=self.cost, state=state)
