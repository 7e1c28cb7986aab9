"""The one-line status bar: sandbox state, models, tokens, cost, budget left, key hints."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.reactive import reactive
from textual.widgets import Static

from rlm_tui.tui import fmt
from rlm_tui.usage import Usage

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

STATE_STYLE = {
    "ready": "$success", "busy": "$accent", "starting": "$warning", "error": "$error",
    "stopped": "$text-muted", "replay": "$secondary", "no model": "$error",
}


@dataclass(frozen=True)
class StatusInfo:
    state: str = "starting"  # starting, ready, busy, error, stopped, replay
    detail: str = ""  # e.g. "compiling the interpreter (first run, ~45 s)"
    model: str = ""
    sub_model: str = ""
    usage: Usage = Usage()
    budget: str = ""  # e.g. "3/12 iter · $0.41 left"
    offline_default: str = ""  # the offline model used because none was configured
    warning: str = ""  # e.g. "model is not following the protocol (no code ×2)"


OFFLINE_DEFAULT_TAG = "offline default, no key · /model for a hosted one"


class StatusLine(Horizontal):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        dock: bottom;
        background: $panel;
        color: $foreground;
        #status-left { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
        #status-right { width: auto; height: 1; color: $text-muted; padding: 0 1; }
    }
    """

    info: reactive[StatusInfo] = reactive(StatusInfo, always_update=True)
    frame: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._left = Static(id="status-left", markup=True)
        self._right = Static(id="status-right", markup=True)

    def compose(self) -> ComposeResult:
        yield self._left
        yield self._right

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.1, self._tick, pause=True)
        self.watch_info(self.info)

    def update_info(self, **changes: object) -> None:
        self.info = replace(self.info, **changes)

    def watch_info(self, info: StatusInfo) -> None:
        if not self.is_mounted:
            return
        if info.state in ("busy", "starting"):
            self._timer.resume()
        else:
            self._timer.pause()
        self._right.update(self._hints())
        self._render_left()
        if info.state == "ready" and info.detail:  # "Sandbox ready", "Restored 3 variables"…
            self.set_timer(4.0, lambda detail=info.detail: self._expire(detail))

    def _expire(self, detail: str) -> None:
        if self.info.detail == detail and self.info.state == "ready":
            self.update_info(detail="")

    def _tick(self) -> None:
        self.frame = (self.frame + 1) % len(SPINNER)
        self._render_left()

    def _hints(self) -> str:
        if self.info.state == "busy":
            return "[b]esc[/] cancel  [b]f1[/] help"
        return "[b]^p[/] commands  [b]f1[/] help"

    def _render_left(self) -> None:
        i = self.info
        dot = SPINNER[self.frame] if i.state in ("busy", "starting") else "●"
        style = STATE_STYLE.get(i.state, "$foreground")
        parts = [f"[{style}]{dot} {escape(i.state)}[/]"]
        if i.detail:
            parts[0] += f" [$text-muted]{escape(fmt.one_line(i.detail, 72))}[/]"
        if i.warning:
            parts.append(f"[$warning]⚠ {escape(i.warning)}[/]")
        if i.model:
            models = escape(i.model)
            if i.sub_model and i.sub_model != i.model:
                models += f" [$text-muted]sub[/] {escape(i.sub_model)}"
            if i.offline_default and i.model == i.offline_default:
                models += f" [$text-muted]({OFFLINE_DEFAULT_TAG})[/]"
            parts.append(f"[$primary]{models}[/]")
        u = i.usage
        if u.total_tokens:
            parts.append(f"{fmt.tokens(u.prompt_tokens)}↑ {fmt.tokens(u.completion_tokens)}↓ tok")
            if fmt.is_local(i.model) and fmt.is_local(i.sub_model or i.model):
                parts.append(fmt.cost(0, local=True))
            elif u.cost_usd:  # unknown prices show no cost at all
                parts.append(fmt.cost(u.cost_usd) + ("" if u.cost_known else "+?"))
        if i.budget:
            parts.append(f"[$text-muted]budget[/] {escape(i.budget)}")
        self._left.update(" " + " [$text-muted]│[/] ".join(parts), layout=False)
