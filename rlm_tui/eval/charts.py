"""The eval's chart: score against context size, RLM vs direct, per family, with cost per task.

`write_png` draws it with matplotlib (the Agg canvas, no pyplot state) beside the results;
`terminal_chart` draws the same numbers as plain text bars for the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODE_STYLE = {"rlm": ("#1f77b4", "-", "o"), "direct": ("#d62728", "--", "s")}


@dataclass(frozen=True)
class Point:
    family: str
    size: str
    mode: str
    tokens: float  # mean context size in tokens
    score: float  # mean score
    cost: float | None  # mean USD per task (tasks of known price), None when none is known
    tasks: int


def points(records: Iterable[dict[str, Any]]) -> list[Point]:
    """One point per (family, size, mode), in family order, then by context size."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["family"], r["size"], r["mode"]), []).append(r)
    families = list(dict.fromkeys(k[0] for k in groups))
    out = []
    for (family, size, mode), group in groups.items():
        costs = [(r.get("cost_usd") or 0.0) + (r.get("judge_cost_usd") or 0.0) for r in group
                 if r.get("cost_usd") is not None]
        out.append(Point(family, size, mode,
                         sum(r.get("context_tokens") or 0 for r in group) / len(group),
                         sum(float(r.get("score") or 0.0) for r in group) / len(group),
                         sum(costs) / len(costs) if costs else None, len(group)))
    return sorted(out, key=lambda p: (families.index(p.family), p.tokens, p.mode != "rlm"))


def _cost(cost: float | None) -> str:
    return "price n/a" if cost is None else f"${cost:.4f}/task"


def terminal_chart(records: Iterable[dict[str, Any]], width: int = 30) -> str:
    """The chart as text: a bar per family, size and mode."""
    pts = points(records)
    lines = ["Score by context size (RLM vs direct; cost per task)"]
    family = None
    for p in pts:
        if p.family != family:
            family = p.family
            lines.append(f"\n{family}")
        filled = round(width * max(0.0, min(1.0, p.score)))
        bar = "#" * filled + "." * (width - filled)
        lines.append(f"  {p.size:>8} {p.mode:<6} |{bar}| {p.score:4.2f}  {_cost(p.cost)}  ({p.tasks} task"
                     f"{'s' if p.tasks != 1 else ''})")
    return "\n".join(lines)


def write_png(records: Iterable[dict[str, Any]], path: Path) -> Path:
    """results.png: one panel per family, score (y) against context tokens (x, log scale)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pts = points(records)
    families = list(dict.fromkeys(p.family for p in pts))
    columns = min(3, len(families))
    rows = (len(families) + columns - 1) // columns
    figure = Figure(figsize=(5.2 * columns, 3.9 * rows), dpi=110)
    FigureCanvasAgg(figure)
    for i, family in enumerate(families):
        axes = figure.add_subplot(rows, columns, i + 1)
        mine = [p for p in pts if p.family == family]
        for mode in ("rlm", "direct"):
            line = [p for p in mine if p.mode == mode]
            if not line:
                continue
            color, style, marker = MODE_STYLE[mode]
            xs = [max(1.0, p.tokens) for p in line]
            axes.plot(xs, [p.score for p in line], linestyle=style, marker=marker, color=color, label=mode)
            for x, p in zip(xs, line, strict=True):
                axes.annotate(_cost(p.cost).replace("/task", ""), (x, p.score), textcoords="offset points",
                              xytext=(0, 7 if mode == "rlm" else -13), ha="center", fontsize=7, color=color)
        axes.set_xscale("log", base=2)
        sizes = sorted({(max(1.0, p.tokens), p.size) for p in mine})
        axes.set_xticks([x for x, _ in sizes], [label for _, label in sizes])
        axes.set_ylim(-0.08, 1.12)
        axes.set_title(family)
        axes.set_xlabel("context size (tokens)")
        axes.set_ylabel("score")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="lower left")
    figure.suptitle("Score vs context size, RLM vs direct (labels: cost per task)")
    figure.tight_layout()
    figure.savefig(path)
    return path
