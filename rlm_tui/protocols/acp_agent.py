"""`rlm-tui acp`: rlm-tui as an Agent Client Protocol agent over stdio, for Zed, toad, ...

- `session/new` opens a chat session over the working directory the editor sends (mounted
  read-only at /project; the editor's MCP servers are not used). `session/load` reopens a saved
  session of the same directory and replays its conversation.
- `session/prompt` is one turn on the session's sandbox, whose variables survive between
  turns. While it runs, cells and sub-calls are tool calls with their status, the call tree is
  the plan, the root LM's reasoning is thought chunks (see acp_updates.py); the answer comes as
  message chunks, with its `path:line` sources as links. File links in the prompt inside the
  project point the model at those files.
- `session/cancel` stops the turn (stop reason `cancelled`); the session keeps its variables.
- A budget that runs out ends the turn with a partial answer, marked so, and stop reason
  `max_turn_requests` (`max_tokens` for the token budget). Bad requests are invalid-params errors.

The wire is moved off fd 0/1 before serving, and fd 1 is pointed at stderr, so nothing else in
the process (a library's print, a C library's log line) can write into the protocol stream.
"""

from __future__ import annotations

import asyncio
import os
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

from acp import (
    PROTOCOL_VERSION,
    RequestError,
    run_agent,
    text_block,
    update_agent_message,
    update_user_message_text,
)
from acp.core import DEFAULT_STDIO_BUFFER_LIMIT_BYTES
from acp.helpers import resource_link_block, update_agent_message_text
from acp.interfaces import Agent, Client
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptResponse,
    ResourceContentBlock,
    StopReason,
    TextContentBlock,
    Usage,
)

from rlm_tui.config import Settings
from rlm_tui.engine.citations import extract_citations
from rlm_tui.engine.events import Event
from rlm_tui.engine.session import TurnResult
from rlm_tui.protocols.acp_updates import SessionUpdates
from rlm_tui.protocols.pool import SessionPool
from rlm_tui.protocols.progress import EventChannel, TurnMeter
from rlm_tui.protocols.requests import BadRequest


class RlmAgent:
    """The `acp.Agent` methods rlm-tui serves; the others answer method-not-found."""

    def __init__(self, settings: Settings) -> None:
        self.pool = SessionPool(settings)
        self._client: Client | None = None

    def on_connect(self, conn: Client) -> None:
        self._client = conn

    async def initialize(self, protocol_version: int, client_capabilities: Any = None, client_info: Any = None,
                         **_: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(load_session=True),
            agent_info=Implementation(name="rlm-tui", title="rlm-tui", version=version("rlm-tui")),
        )

    async def new_session(self, cwd: str, additional_directories: list[str] | None = None,
                          mcp_servers: Any = None, **_: Any) -> NewSessionResponse:
        project = _project(cwd, additional_directories)
        return NewSessionResponse(session_id=await self._open(self.pool.open(project)))

    async def load_session(self, cwd: str, session_id: str, mcp_servers: Any = None,
                           additional_directories: list[str] | None = None, **_: Any) -> LoadSessionResponse:
        project = _project(cwd, additional_directories)
        loaded = await self._open(self.pool.resume(session_id))
        session = self.pool.session(loaded)
        if session.project != project:
            await self.pool.close(loaded)
            raise RequestError.invalid_params({"sessionId": session_id,
                                               "reason": f"the session is over {session.project}, not {project}"})
        for question, answer in session.turns:
            await self._tell(loaded, update_user_message_text(question))
            await self._tell(loaded, update_agent_message_text(answer))
        return LoadSessionResponse()

    async def prompt(self, session_id: str, prompt: list[Any], **_: Any) -> PromptResponse:
        if session_id not in self.pool:
            raise RequestError.invalid_params({"sessionId": session_id, "reason": "no such session"})
        project = self.pool.session(session_id).project
        question, paths = _read_prompt(prompt, project)
        meter = TurnMeter(self.pool.settings.budget.max_iterations)
        updates = SessionUpdates(lambda update: self._tell(session_id, update))

        async def handle(event: Event) -> None:
            meter.apply(event)
            await updates.apply(event)

        async with EventChannel(handle) as channel:
            try:
                result = await self.pool.ask(session_id, question, listener=channel.push, context_paths=paths)
            except BadRequest as e:
                raise RequestError.invalid_params({"sessionId": session_id, "reason": str(e)}) from None
        if result.cancelled:
            return PromptResponse(stop_reason="cancelled")
        if result.error is not None:
            raise RequestError.internal_error({"details": f"the run failed: {result.error}"})
        await self._answer(session_id, result, meter.budget_exhausted, project)
        stop: StopReason = ("end_turn" if not result.partial else
                            "max_tokens" if meter.budget_exhausted == "tokens" else "max_turn_requests")
        usage = result.usage
        return PromptResponse(stop_reason=stop, usage=Usage(
            total_tokens=usage.total_tokens, input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens))

    async def cancel(self, session_id: str, **_: Any) -> None:
        if session_id in self.pool:
            self.pool.cancel(session_id)

    async def _open(self, opening: Any) -> str:
        try:
            return await opening
        except (BadRequest, ValueError) as e:
            raise RequestError.invalid_params({"reason": str(e)}) from None

    async def _answer(self, session_id: str, result: TurnResult, exhausted: str | None, project: Path) -> None:
        if result.partial:
            await self._tell(session_id, update_agent_message_text(
                f"(Partial answer: the {exhausted or ''} budget ran out before the model submitted.)\n\n"))
        for chunk in re.split(r"(?<=\n\n)", result.answer):
            if chunk:
                await self._tell(session_id, update_agent_message_text(chunk))
        cited = extract_citations(result.answer, project)
        if cited:
            await self._tell(session_id, update_agent_message_text("\n\nSources: "))
            for i, citation in enumerate(cited):
                link = resource_link_block(str(citation), (project / citation.path).as_uri(),
                                           description=f"lines {citation.start}-{citation.end}")
                await self._tell(session_id, update_agent_message(link))
                if i < len(cited) - 1:
                    await self._tell(session_id, update_agent_message(text_block(", ")))

    async def _tell(self, session_id: str, update: Any) -> None:
        assert self._client is not None
        await self._client.session_update(session_id, update)


def _project(cwd: str, additional_directories: list[str] | None) -> Path:
    path = Path(cwd)
    if not path.is_absolute() or not path.is_dir():
        raise RequestError.invalid_params({"cwd": cwd, "reason": "the working directory must be an existing absolute path"})
    if additional_directories:
        raise RequestError.invalid_params({"additionalDirectories": additional_directories,
                                           "reason": "rlm-tui mounts one project: the working directory"})
    return path.resolve()


def _read_prompt(blocks: list[Any], project: Path) -> tuple[str, list[str]]:
    """The question text and the project-relative paths of the files the prompt links to."""
    parts: list[str] = []
    paths: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, ResourceContentBlock):
            path = _inside(block.uri, project)
            if path is None:
                raise RequestError.invalid_params({"uri": block.uri, "reason": "only files inside the project can be linked"})
            paths.append(path)
            parts.append(f"/project/{path}")
        else:
            raise RequestError.invalid_params({"type": getattr(block, "type", "?"),
                                               "reason": "rlm-tui takes text and links to project files"})
    question = " ".join(p.strip() for p in parts if p.strip())
    if not question:
        raise RequestError.invalid_params({"reason": "the prompt has no text"})
    return question, paths


def _inside(uri: str, project: Path) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    try:
        return Path(unquote(parsed.path)).resolve().relative_to(project).as_posix()
    except (OSError, ValueError):
        return None


def serve(settings: Settings) -> None:
    """Serve over stdin/stdout until the client closes the pipe; then stop every turn and close
    every sandbox before returning."""

    async def main() -> None:
        reader, writer = await _claim_stdio()
        agent = RlmAgent(settings)
        try:
            # RlmAgent serves a subset of `acp.Agent`; the router answers method-not-found for the rest
            await run_agent(cast(Agent, agent), writer, reader)
        finally:
            await asyncio.shield(agent.pool.close_all())

    asyncio.run(main())


async def _claim_stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over private copies of fd 0 and 1; fd 0 then reads nothing and fd 1 goes to stderr."""
    wire_in = os.fdopen(os.dup(0), "rb", buffering=0)
    wire_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=DEFAULT_STDIO_BUFFER_LIMIT_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), wire_in)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, wire_out)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
