"""How the app gets chat sessions. The real one imports the engine lazily (after first paint).

Tests pass their own backend with a fake session that emits scripted events from a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rlm_tui.config import Settings

OnEvent = Callable[[Any], None]


class SessionLike(Protocol):
    session_id: str
    trace_path: Path
    workspace: Path
    variables: list[Any]

    async def start(self) -> None: ...
    async def ask(self, question: str, context_paths: list[str] = ...) -> Any: ...
    def cancel(self) -> None: ...
    def set_models(self, model: str | None = None, sub_model: str | None = None) -> None: ...
    async def close(self) -> None: ...


class Backend(Protocol):
    def create(self, settings: Settings, project: Path, on_event: OnEvent) -> SessionLike:
        """A new session, not started yet (called in a thread: it may import the engine)."""

    async def resume(self, session_id: str | None, settings: Settings,
                     on_event: OnEvent) -> SessionLike:
        """A saved session (the newest when `session_id` is None), started, sandbox rebuilt."""

    def list_saved(self) -> list[Any]: ...


class EngineBackend:
    """The real engine: `rlm_tui.runtime.session.ChatSession` (imports litellm/dspy)."""

    @staticmethod
    def _cls():
        from rlm_tui.runtime.session import ChatSession

        return ChatSession

    def create(self, settings: Settings, project: Path, on_event: OnEvent) -> SessionLike:
        return self._cls()(settings, project, on_event)

    async def resume(self, session_id: str | None, settings: Settings,
                     on_event: OnEvent) -> SessionLike:
        import asyncio

        cls = await asyncio.to_thread(self._cls)
        return await cls.resume(session_id, settings, on_event)

    def list_saved(self) -> list[Any]:
        return list(self._cls().list_saved())

    def warm(self) -> None:
        """Called in a thread after the session starts: import what the first turn needs
        (litellm takes seconds), so it is not imported on the UI's event loop mid-turn."""
        import litellm  # noqa: F401
