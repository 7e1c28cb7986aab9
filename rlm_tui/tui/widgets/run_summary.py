"""A turn's figures at a glance, under its answer: iterations, sub-calls, tokens, cost, time,
and a bar of tokens per model."""

from __future__ import annotations

from dataclasses import dataclass

from rich.bar import Bar
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from rlm_tui.engine.calls import CallGraph, ModelUsage
from rlm_tui.tui import fmt
from rlm_tui.tui.widgets.call_tree import short_model

BAR_WIDTH = 24


@dataclass(frozen=True)
class RunFigures:
    iterations: int
    sub_calls: int
    tokens: int
    cost_usd: float
    cost_known: bool
    seconds: float
    models: list[ModelUsage]

    @classmethod
    def of(cls, graph: CallGraph, run_id: str) -> RunFigures | None:
        run = graph.get(run_id)
        if run is None:
            return None
        iterations = sum(1 for c in run.children if graph.nodes[c].kind == "iteration")
        models = graph.usage_by_model(run.call_id)
        subs = [n for n in graph.nodes.values() if n.kind == "sub" and not n.children
                and _within(graph, n.call_id, run.call_id)]
        return cls(iterations, len(subs), run.total_tokens, run.total_cost, run.total_cost_known,
                   run.elapsed(), models)


def _within(graph: CallGraph, call_id: str, ancestor_id: str) -> bool:
    return any(a.call_id == ancestor_id for a in graph.ancestors(call_id))


class RunSummary(Static):
    """`3 iterations · 8 sub-calls · 4.2k tok · $0.0021 · 5.9s` and one bar per model."""

    DEFAULT_CSS = """
    RunSummary { height: auto; margin: 1 0 0 0; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, figures: RunFigures) -> None:
        super().__init__()
        self.figures = figures

    def headline(self) -> str:
        """`3 iterations · 8 sub-calls · 4.2k tok · $0.0021 · 5.9s`."""
        f = self.figures
        head = [f"{f.iterations} iteration{'s' if f.iterations != 1 else ''}",
                f"{f.sub_calls} sub-call{'s' if f.sub_calls != 1 else ''}"]
        if f.tokens:
            head.append(f"{fmt.tokens(f.tokens)} tok")
        local = bool(f.models) and all(fmt.is_local(m.model) for m in f.models)
        if local or f.cost_usd:
            head.append(fmt.cost(f.cost_usd, f.cost_known, local=local))
        head.append(fmt.duration(f.seconds))
        return " · ".join(head)

    def render(self) -> Group:
        f = self.figures
        top = max((m.tokens for m in f.models), default=0)
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, max_width=28)
        table.add_column(width=BAR_WIDTH)
        table.add_column(no_wrap=True)
        bar_color = self._bar_color()
        for m in f.models:
            figures = [f"{m.calls} call{'s' if m.calls != 1 else ''}", f"{fmt.tokens(m.tokens)} tok"]
            if fmt.is_local(m.model) or m.cost_usd:
                figures.append(fmt.cost(m.cost_usd, m.cost_known, local=fmt.is_local(m.model)))
            table.add_row(Text(short_model(m.model), overflow="ellipsis"),
                          Bar(top or 1, 0, m.tokens, width=BAR_WIDTH, color=bar_color),
                          " · ".join(figures))
        return Group(Text(self.headline()), table)

    def _bar_color(self) -> str:
        """The theme's secondary colour, toned down towards the background: a quiet chart."""
        theme = self.app.current_theme
        secondary = Color.parse(theme.secondary or "cyan")
        return secondary.blend(Color.parse(theme.background or "black"), 0.45).hex
