"""The chat sessions a protocol server holds open, each one sandbox kept across turns.

Every turn goes through `ChatSession.ask` (the engine's one way to run a turn); the pool adds
what a server with many clients' requests needs around it:

- one turn at a time per session (a second waits for the first);
- each session's events go to whoever listens to its running turn (`listener`);
- a caller that is cancelled (the client cancelled the request, or went away) cancels the turn
  with `ChatSession.cancel`, so the sandbox stops its cell and keeps its variables, and the
  session takes its next turn only once this one has really ended;
- a bound on open sessions (each holds a sandbox of up to `memory_mb`);
- `close_all` on the way out stops every turn and closes every sandbox, so nothing outlives
  the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.config import Budget, Settings
from rlm_tui.engine.events import Event
from rlm_tui.engine.session import ChatSession, TurnResult
from rlm_tui.lm.client import Usage
from rlm_tui.protocols.requests import BadRequest

Listener = Callable[[Event], None]

MAX_SESSIONS = 8


@dataclass
class _Entry:
    listener: Listener | None = None
    session: ChatSession | None = None
    turn: asyncio.Future[TurnResult] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def route(self, event: Event) -> None:
        listener = self.listener
        if listener is not None:
            listener(event)


class SessionPool:
    """Sessions by id; every method runs on the server's event loop."""

    def __init__(self, settings: Settings, *, limit: int = MAX_SESSIONS) -> None:
        self.settings = settings
        self.limit = limit
        self._entries: dict[str, _Entry] = {}
        self._starting: set[asyncio.Future[ChatSession]] = set()
        self._closing: set[asyncio.Future[None]] = set()

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._entries

    def session(self, session_id: str) -> ChatSession:
        session = self._entry(session_id).session
        assert session is not None
        return session

    async def open(self, project: Path, listener: Listener | None = None) -> str:
        """Start a session over `project`; its id. `listener` hears the start-up progress."""
        entry = _Entry(listener)
        return await self._add(entry, _started(ChatSession(self.settings, project, entry.route)))

    async def resume(self, session_id: str, listener: Listener | None = None) -> str:
        """Reopen a saved session over its own project, rebuilding its sandbox (`ChatSession.resume`)."""
        if session_id in self._entries:
            return session_id
        entry = _Entry(listener)
        return await self._add(entry, ChatSession.resume(session_id, self.settings, entry.route))

    async def _add(self, entry: _Entry, work: Coroutine[Any, Any, ChatSession]) -> str:
        if len(self._entries) + len(self._starting) >= self.limit:
            work.close()
            raise BadRequest(f"{self.limit} sessions are open, the most this server keeps; close one first")
        task = asyncio.ensure_future(work)
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)
        try:
            session = await asyncio.shield(task)
        except asyncio.CancelledError:  # the caller went away: close what the start makes
            task.add_done_callback(self._close_orphan)
            raise
        entry.session, entry.listener = session, None
        self._entries[session.session_id] = entry
        return session.session_id

    def _close_orphan(self, task: asyncio.Future[ChatSession]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._track(asyncio.ensure_future(task.result().close()))

    async def ask(self, session_id: str, question: str, *, listener: Listener | None = None,
                  signature: str | None = None, budget: Budget | None = None,
                  context_paths: list[str] | None = None) -> TurnResult:
        """One turn on the session; cancelling the caller cancels the turn (see the module doc)."""
        entry = self._entry(session_id)
        await entry.lock.acquire()
        if self._entries.get(session_id) is not entry:  # closed while this call waited
            entry.lock.release()
            raise BadRequest(f"session {session_id!r} was closed")
        entry.listener = listener
        turn = entry.turn = asyncio.ensure_future(self.session(session_id).ask(
            question, context_paths, signature=signature, budget=budget))

        def ended(_: asyncio.Future[TurnResult]) -> None:
            entry.listener = None
            entry.turn = None
            entry.lock.release()

        turn.add_done_callback(ended)
        try:
            return await asyncio.shield(turn)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if turn.cancelled() and not (caller is not None and caller.cancelling()):
                return TurnResult("", {}, False, Usage(), "cancelled", cancelled=True)  # see cancel()
            self._stop(entry)
            raise

    def cancel(self, session_id: str) -> None:
        """Cancel the session's running turn, if any; its `ask` returns a cancelled result."""
        self._stop(self._entry(session_id))

    @staticmethod
    def _stop(entry: _Entry) -> None:
        if entry.turn is not None and entry.session is not None:
            entry.session.cancel()  # stops the cell; keeps the sandbox and its variables
            entry.turn.cancel()  # a turn cancelled before the engine took note of it stops too

    async def close(self, session_id: str) -> None:
        """Stop the session's turn, wait for it to end, close its sandbox."""
        entry = self._entries.get(session_id)
        if entry is None:
            return
        self._stop(entry)
        async with entry.lock:
            if self._entries.pop(session_id, None) is not None and entry.session is not None:
                await entry.session.close()

    def close_soon(self, session_id: str) -> None:
        """`close` in the background, for a caller that is being cancelled."""
        self._track(asyncio.ensure_future(self.close(session_id)))

    def _track(self, closing: asyncio.Future[None]) -> None:
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        """Cancel every turn and close every session, those still starting included."""
        await asyncio.gather(*self._starting, return_exceptions=True)
        await asyncio.gather(*(self.close(sid) for sid in list(self._entries)), return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _entry(self, session_id: str) -> _Entry:
        entry = self._entries.get(session_id)
        if entry is None:
            known = ", ".join(self._entries) or "none"
            raise BadRequest(f"no open session {session_id!r} (open: {known})")
        return entry


async def _started(session: ChatSession) -> ChatSession:
    try:
        await session.start()
    except BaseException:
        await session.close()
        raise
    return session
