"""The seam between a front end (the TUI, a test's fake) and the engine's chat session.

`ChatSessionAPI` declares everything the app uses of a session, `SessionBackend` how it gets
one; `VarInfo`, `TurnResult` and `SavedSession` are the typed values they hand back (with
`rlm_tui.usage.Usage` and the limits type `rlm_tui.config.Budget`). Cheap to import: nothing
here loads the engine (dspy, litellm, wasmtime) or even pydantic, so the app paints before the
engine loads and the sandbox can take `VarInfo` from here.
`rlm_tui.engine.session.ChatSession` is the real session, `rlm_tui.tui.backend.EngineBackend`
the real backend; `tests/tui/fakes.py` implements the same Protocols with these same types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rlm_tui.usage import Usage

if TYPE_CHECKING:  # pydantic stays out of the sandbox, which takes VarInfo from here
    from rlm_tui.config import Budget, Settings
    from rlm_tui.engine.events import Event

OnEvent = Callable[["Event"], None]  # called on any thread


@dataclass(frozen=True)
class VarInfo:
    """One user variable of the sandbox, as the UI and prompts see it."""

    name: str
    type: str
    size: int | None
    preview: str


@dataclass(frozen=True)
class TurnResult:
    """How one chat turn ended: its answer and outputs, or its error, or that it was cancelled."""

    answer: str
    outputs: dict[str, Any]
    partial: bool
    usage: Usage
    error: str | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class SavedSession:
    """A session saved on disk, as `/resume` lists it, with the model it ran with (resumed
    with it when this start names none)."""

    id: str
    title: str
    updated: float  # time.time() of its last save
    path: Path
    project: str = ""
    model: str | None = None
    sub_model: str | None = None
    api_base: str | None = None


@runtime_checkable
class ChatSessionAPI(Protocol):
    """A chat over one project whose sandbox and variables survive between turns."""

    session_id: str
    project: Path
    workspace: Path  # the sandbox's /workspace on the host
    trace_path: Path
    variables: list[VarInfo]
    budget: Budget  # the limits of each next turn; setting it changes them

    async def start(self) -> None:
        """Start the sandbox (compiling it the very first time), with Status events."""

    async def ask(self, question: str, context_paths: list[str] | None = None) -> TurnResult:
        """One turn; errors and cancellation come back in the result, never raised."""

    def cancel(self) -> None:
        """Stop the running turn, from any thread; the sandbox and its variables survive."""

    def set_models(self, model: str | None = None, sub_model: str | None = None) -> None:
        """Switch models for the next turn."""

    def set_skills(self, skills: list[str]) -> None:
        """Enable exactly these skills from the next turn (the others stay loadable with
        `load_skill`); a ValueError says why one cannot load, and nothing changes."""

    def save(self) -> None:
        """Write the session to disk now (it is also saved after every turn)."""

    async def close(self) -> None:
        """Close the sandbox and the trace; the saved session stays on disk."""


@runtime_checkable
class SessionBackend(Protocol):
    """Where the app gets chat sessions."""

    def create(self, settings: Settings, project: Path, on_event: OnEvent) -> ChatSessionAPI:
        """A new session, not started yet (called in a thread: it may import the engine)."""

    async def resume(self, session_id: str | None, settings: Settings, on_event: OnEvent) -> ChatSessionAPI:
        """A saved session (the newest when `session_id` is None), started, its sandbox rebuilt."""

    def list_saved(self) -> list[SavedSession]:
        """The saved sessions, newest first."""

    def warm(self) -> None:
        """Import what the first turn needs (called in a thread once a session has started)."""
