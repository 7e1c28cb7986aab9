"""The main screen: chat and prompt on the left; calls, variables and files on the right.

Below 100 columns the side panes fold into tabs (f2-f5 or a click switches), so 80x24 stays
usable. `apply(batch)` takes one batch of engine events and updates every pane once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static, Tab, Tabs

from rlm_tui.config import Budget
from rlm_tui.engine.calls import CallGraph, CallNode
from rlm_tui.engine.events import CodeCell, CodeMissing, RunStarted, Status, VariablesChanged
from rlm_tui.engine.replay import TracedProject
from rlm_tui.tui import fmt
from rlm_tui.tui.widgets.call_tree import CallTreeView
from rlm_tui.tui.widgets.chat import ChatView
from rlm_tui.tui.widgets.files import FilesTree
from rlm_tui.tui.widgets.prompt import PromptArea
from rlm_tui.tui.widgets.status import StatusLine
from rlm_tui.tui.widgets.variables import VariablesTable
from rlm_tui.tui.widgets.variables import describe as describe_variable

PANES = ("chat", "calls", "vars", "files")
PANE_TITLES = {"chat": "Chat", "calls": "Calls", "vars": "Variables", "files": "Files"}


class MainScreen(Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("f2", "show_pane('chat')", "Chat", id="pane_chat"),
        Binding("f3", "show_pane('calls')", "Calls", id="pane_calls"),
        Binding("f4", "show_pane('vars')", "Variables", id="pane_vars"),
        Binding("f5", "show_pane('files')", "Files", id="pane_files"),
        Binding("ctrl+b", "toggle_side", "Side panes", id="toggle_side"),
    ]

    def __init__(self, project: Path, syntax_theme: str, files: Callable[[], list[str]], history_file: Path | None,
                 replay: Path | None = None) -> None:
        super().__init__()
        self.project = project
        self.replay = replay
        self.graph = CallGraph()
        self.chat = ChatView(self.graph, syntax_theme, id="chat")
        self.calls = CallTreeView(self.graph, id="calls")
        self.variables = VariablesTable(id="variables")
        self.files = FilesTree(project, id="files", note=None if replay is None else "reading the trace…")
        self.status = StatusLine(id="status")
        self.prompt_area = PromptArea(files, history_file, id="prompt-area")
        self.active_pane = "chat"
        self._seen: set[tuple[type, str, float]] = set()

    def compose(self) -> ComposeResult:
        yield Tabs(*[Tab(PANE_TITLES[p], id=f"tab-{p}") for p in PANES], id="pane-tabs")
        with Horizontal(id="body"):
            with Vertical(id="chat-column"):
                yield self.chat
                if self.replay is None:
                    yield self.prompt_area
                else:
                    yield Static(f"Replay of {self.replay.name} · read-only · ctrl+q quits",
                                 id="replay-banner")
            with Vertical(id="side"):
                with Vertical(id="calls-pane", classes="pane") as pane:
                    pane.border_title = "Calls"
                    yield self.calls
                with Vertical(id="vars-pane", classes="pane") as pane:
                    pane.border_title = "Variables"
                    yield self.variables
                with Vertical(id="files-pane", classes="pane") as pane:
                    pane.border_title = "Files"
                    yield self.files
        yield self.status

    def on_mount(self) -> None:
        welcome = Static(
            f"[b]rlm-tui[/b] · project [b]{_escape(fmt.home_short(str(self.project)))}[/b]\n"
            "[$text-muted]Ask a question about the project. The model explores it from a Python "
            "REPL in a sandbox and calls sub-models from code; watch the Calls, Variables and "
            "Files panes fill in. Type [b]/[/b] for commands, [b]@[/b] to mention a file, "
            "[b]f1[/b] for help.[/]", id="chat-welcome")
        if self.replay is None:
            self.chat.mount(welcome)
            self.prompt_area.input.focus()
        self._show_pane("chat")

    # ---- typing anywhere goes to the input ------------------------------------------------
    def on_key(self, event: events.Key) -> None:
        """A printable key no focused pane binds (its own keys: `c` copies a block, enter and
        space open and fold calls) is typed into the input, which takes focus."""
        prompt = self.prompt_area.input
        if self.replay is not None or not event.is_printable or event.character is None:
            return
        focused = self.focused
        if focused is None or focused is prompt or event.key in self.app.active_bindings:
            return
        if not any(focused is pane or pane in focused.ancestors for pane in (self.chat, self.calls)):
            return
        event.stop()
        event.prevent_default()
        prompt.focus()
        prompt.insert(event.character)

    # ---- panes ---------------------------------------------------------------------------
    def action_show_pane(self, pane: str) -> None:
        self.query_one("#pane-tabs", Tabs).active = f"tab-{pane}"
        self._show_pane(pane)
        if pane == "chat" and self.replay is None:
            self.prompt_area.input.focus()
        else:
            {"chat": self.chat, "calls": self.calls, "vars": self.variables,
             "files": self.files}[pane].focus()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab and event.tab.id:
            self._show_pane(event.tab.id.removeprefix("tab-"))

    def _show_pane(self, pane: str) -> None:
        self.active_pane = pane
        body = self.query_one("#body")
        for p in PANES:
            body.set_class(p == pane, f"-show-{p}")

    def action_toggle_side(self) -> None:
        self.query_one("#body").toggle_class("-side-hidden")

    # ---- events --------------------------------------------------------------------------
    async def apply(self, batch: list) -> None:
        fresh = []
        for e in batch:
            key = (type(e), e.call_id, e.ts)
            if key in self._seen:  # a resumed session may re-send what its trace already has
                continue
            self._seen.add(key)
            fresh.append(e)
            self.graph.apply(e)
        if not fresh:
            return
        self.calls.sync()
        await self.chat.apply(fresh)
        variables = [e for e in fresh if isinstance(e, VariablesChanged) and self.graph.is_root_run_event(e)]
        if variables:
            self.variables.show(variables[-1].variables)
        statuses = [e for e in fresh if isinstance(e, Status)]
        if statuses:
            self.status.update_info(detail=statuses[-1].message)
        protocol = [e for e in fresh if isinstance(e, (CodeMissing, CodeCell, RunStarted))
                    and self.graph.is_root_run_event(e)]
        if protocol:
            self.status.update_info(warning=off_protocol_warning(protocol[-1]))
        self.refresh_usage()

    def refresh_usage(self, budget: Budget | None = None) -> None:
        g = self.graph
        changes: dict = dict(usage=g.usage)
        if budget is not None:
            self._budget = budget
        if getattr(self, "_budget", None) is not None:
            changes["budget"] = budget_left(self._budget, self.current_turn(), self.graph)
        self.status.update_info(**changes)

    def current_turn(self) -> CallNode | None:
        runs = [n for n in self.graph.nodes.values() if n.kind == "run" and n.parent_id is None]
        return runs[-1] if runs else None

    async def reset(self) -> None:
        """Forget everything shown (for /new and /resume)."""
        self.graph.clear()
        self.calls.clear_calls()
        self.variables.clear_rows()
        await self.chat.clear_chat()
        self._seen.clear()
        self.refresh_usage()

    @property
    def citations_root(self) -> Path | None:
        """The folder an answer's citations are files of: the project in Files (none in a replay
        whose project is not on disk: no citation links to some other folder)."""
        return None if self.files.note is not None else self.files.project

    def show_traced_project(self, traced: TracedProject) -> None:
        """A replay shows the folder its trace was recorded on, or says why it cannot."""
        if traced.path is None:
            self.files.show_note(traced.note)
        else:
            self.files.set_project(traced.path)

    # ---- selections open previews --------------------------------------------------------
    def on_call_tree_view_call_chosen(self, message: CallTreeView.CallChosen) -> None:
        if message.call_id in self.graph.nodes:
            from rlm_tui.tui.screens.call_detail import CallDetailScreen

            self.app.push_screen(CallDetailScreen(self.graph, message.call_id, self.calls.show_call))

    def on_variables_table_variable_chosen(self, message: VariablesTable.VariableChosen) -> None:
        from rlm_tui.tui.screens.modals import PreviewScreen

        row = message.row
        self.app.push_screen(PreviewScreen(f"Variable {row.name}", describe_variable(row), copy_text=row.preview))

    def on_answer_block_citation_chosen(self, message) -> None:  # AnswerBlock.CitationChosen
        from rlm_tui.tui.screens.modals import file_preview

        cited = message.citation
        project = self.files.project
        self.app.push_screen(file_preview(project, project / cited.path, cited.path,
                                          self.chat.syntax_theme, lines=(cited.start, cited.end)))

    def on_files_tree_file_chosen(self, message: FilesTree.FileChosen) -> None:
        from rlm_tui.tui.screens.modals import file_preview

        self.app.push_screen(file_preview(message.root, message.path, message.mount, self.chat.syntax_theme))


def budget_left(budget: Budget, turn: CallNode | None, graph: CallGraph) -> str:
    """`3/12 iter · $0.04/$0.50` for the running (or last) turn."""
    iterations = 0
    if turn is not None:
        iterations = sum(1 for c in turn.children if graph.nodes[c].kind == "iteration")
    bits = []
    if budget.max_iterations:
        bits.append(f"{iterations}/{budget.max_iterations} iter")
    if budget.max_cost_usd:
        used = turn.total_cost if turn else 0.0
        bits.append(f"{fmt.cost(used)}/{fmt.cost(budget.max_cost_usd)}")
    if budget.max_tokens:
        used_t = turn.total_tokens if turn else 0
        bits.append(f"{fmt.tokens(used_t)}/{fmt.tokens(budget.max_tokens)} tok")
    return " · ".join(bits)


def off_protocol_warning(e: CodeCell | CodeMissing | RunStarted) -> str:
    """The status line's warning after the root run's latest reply (none once code comes back)."""
    if isinstance(e, CodeMissing) and e.off_protocol:
        return f"model is not following the protocol (no code ×{e.in_a_row})"
    return ""


def _escape(text: str) -> str:
    from textual.markup import escape

    return escape(text)
