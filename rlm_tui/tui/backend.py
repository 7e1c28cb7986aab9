"""How the app gets chat sessions: `EngineBackend`, the real `SessionBackend` (see
`rlm_tui.chat_api`), imports the engine lazily, after first paint.

Tests pass their own backend with a fake session that emits scripted events from a thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rlm_tui.chat_api import ChatSessionAPI, OnEvent, SavedSession
from rlm_tui.config import Settings


class EngineBackend:
    """The real engine: `rlm_tui.engine.session.ChatSession` (imports litellm/dspy)."""

    @staticmethod
    def _cls():
        from rlm_tui.engine.session import ChatSession

        return ChatSession

    def create(self, settings: Settings, project: Path, on_event: OnEvent) -> ChatSessionAPI:
        return self._cls()(settings, project, on_event)

    async def resume(self, session_id: str | None, settings: Settings, on_event: OnEvent) -> ChatSessionAPI:
        cls = await asyncio.to_thread(self._cls)
        return await cls.resume(session_id, settings, on_event)

    def list_saved(self) -> list[SavedSession]:
        return self._cls().list_saved()

    def warm(self) -> None:
        """Called in a thread after the session starts: import what the first turn needs
        (litellm takes seconds), so it is not imported on the UI's event loop mid-turn."""
        import litellm  # noqa: F401
