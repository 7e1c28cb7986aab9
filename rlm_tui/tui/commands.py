"""Slash commands as data: names, arguments, help, and parsing (no textual here).

The prompt's completion menu, the ctrl+p palette and F1 help all read `COMMANDS`; the app
runs a parsed command with `RLMApp.run_slash`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlashCommand:
    name: str  # without the slash
    args: str  # usage hint, "" when it takes none
    help: str
    needs_session: bool = False

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("model", "[MODEL]", "Show or set the root LM (any litellm model string)."),
    SlashCommand("sub-model", "[MODEL]", "Show or set the sub-LM used by llm_query/predict."),
    SlashCommand("new", "", "Start a new session (fresh sandbox and chat)."),
    SlashCommand("clear", "", "Clear the chat view; the session and its variables stay."),
    SlashCommand("save", "", "Save the session now and show how to resume it."),
    SlashCommand("resume", "[ID]", "Reopen a saved session (pick one when no ID is given)."),
    SlashCommand("export", "[FILE.md]", "Export the conversation as Markdown (to the data folder, or "
                 "FILE.md outside the project)."),
    SlashCommand("budget", "[FIELD VALUE]", "Show the budget, or set one limit (e.g. /budget max_iterations 20)."),
    SlashCommand("skills", "[NAME]", "List the skills (on/off), or switch NAME on or off from the next turn."),
    SlashCommand("theme", "[NAME]", "Pick a theme (previews live) or switch to NAME."),
    SlashCommand("trace", "", "Show (and copy) the path of this session's JSONL trace."),
    SlashCommand("help", "", "Show key bindings and commands."),
    SlashCommand("quit", "", "Quit rlm-tui."),
)

BY_NAME = {c.name: c for c in COMMANDS}
ALIASES = {"exit": "quit", "q": "quit", "submodel": "sub-model", "?": "help"}


@dataclass(frozen=True)
class ParsedCommand:
    command: SlashCommand | None
    name: str
    arg: str


def parse(text: str) -> ParsedCommand | None:
    """`/model foo` -> ParsedCommand; None when `text` is not a slash command at all.

    A leading `//` escapes: the message is sent as text starting with one `/`.
    """
    text = text.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, arg = text[1:].partition(" ")
    name = name.strip().lower()
    name = ALIASES.get(name, name)
    return ParsedCommand(BY_NAME.get(name), name, arg.strip())


def complete(prefix: str) -> list[SlashCommand]:
    """Commands whose name starts with `prefix` (then those containing it)."""
    prefix = prefix.lstrip("/").lower()
    starts = [c for c in COMMANDS if c.name.startswith(prefix)]
    contains = [c for c in COMMANDS if prefix in c.name and c not in starts]
    return starts + contains
