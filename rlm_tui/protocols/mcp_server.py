"""`rlm-tui mcp [PROJECT]`: the engine as a Model Context Protocol server over stdio.

An agent (Claude Code, Codex, Cursor, ...) hands a question about the project to an RLM
instead of reading the codebase into its own context. Tools:

- `ask`: one question on a fresh sandbox; the outputs, `path:line` citations, usage, and
  whether the answer is partial (a budget ran out and the answer was extracted, marked so).
- `session_ask`: the same on a sandbox kept between calls, so a follow-up sees the variables
  and the history of earlier questions; without `session_id` it opens a session.
- `session_close`: free a session's sandbox.

While a call runs the server sends `notifications/progress` (iterations, sub-calls running and
done, tokens, cost) when the client gave a progress token, and a client's cancellation stops
the turn; the server and the session stay up. Every call runs under the configured budget: its
`budget` argument may lower the limits, never raise them. The project is fixed at start and
mounted read-only; no argument names a path, a signature may not have File fields, and an
argument the tool does not declare is refused, so nothing a client sends widens the mounts.
Bad arguments are JSON-RPC invalid-params errors (-32602); a run that fails is a tool result
with `isError`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import jsonschema
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, Tool
from pydantic import BaseModel, Field

from rlm_tui.config import Budget, Settings
from rlm_tui.engine.citations import extract_citations
from rlm_tui.engine.events import Event
from rlm_tui.engine.outputs import jsonable
from rlm_tui.engine.session import TurnResult
from rlm_tui.protocols.pool import Listener, SessionPool
from rlm_tui.protocols.progress import EventChannel, TurnMeter
from rlm_tui.protocols.requests import (
    BadRequest,
    BudgetRequest,
    checked_signature,
    effective_budget,
)

DEFAULT_SIGNATURE = "question -> answer"

Turn = Callable[[Listener, Budget], Awaitable[tuple[str, TurnResult]]]
"""Runs one turn with a progress listener under the given limits; the session id and result."""

Question = Annotated[str, Field(min_length=1, description="What to find out about the project, in plain words.")]
Signature = Annotated[str, Field(
    min_length=1, description="DSPy signature of the answer, one input: e.g. 'question -> count: int, "
    "files: list[str]'. Default: 'question -> answer'.")]
Limits = Annotated[BudgetRequest | None, Field(
    description="Lower limits for this call (never above the server's configured ones).")]


class CitationOut(BaseModel):
    path: str = Field(description="Project-relative path.")
    start: int
    end: int
    text: str = Field(description="'path:line' or 'path:start-end'.")


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(description="None when a model's price is unknown.")
    lm_calls: int | None = None
    iterations: int | None = None


class Answer(BaseModel):
    answer: str = Field(description="The outputs as text (the `answer` field for the default signature).")
    outputs: dict[str, Any] = Field(description="The signature's output fields, typed.")
    citations: list[CitationOut] = Field(description="Sources the answer cites that exist in the project.")
    usage: UsageOut
    partial: bool = Field(description="True when a budget ran out and the answer was extracted from the "
                          "work so far: treat it as incomplete.")
    budget_exhausted: str | None = Field(description="Which budget ran out, when partial.")
    session_id: str = Field(description="The session the call ran in (`rlm-tui --resume ID` opens it in the TUI).")


class StrictArguments:
    """`tools/call` arguments checked against the tool's input schema before the tool runs: an
    unknown argument or a wrong type is an invalid-params error naming the problem."""

    def __init__(self, tools: Callable[[], Awaitable[list[Tool]]]) -> None:
        self._tools = tools
        self._validators: dict[str, jsonschema.protocols.Validator] | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            validator = (await self._schemas()).get(str(ctx.params.get("name")))
            arguments = ctx.params.get("arguments") or {}
            if validator is not None:
                problems = [_problem(e) for e in validator.iter_errors(arguments)]
                if problems:
                    raise MCPError(code=INVALID_PARAMS, message=f"{ctx.params['name']}: {'; '.join(problems)}")
        return await call_next(ctx)

    async def _schemas(self) -> dict[str, jsonschema.protocols.Validator]:
        if self._validators is None:
            self._validators = {
                tool.name: jsonschema.Draft202012Validator({**tool.input_schema, "additionalProperties": False})
                for tool in await self._tools()
            }
        return self._validators


def _problem(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties" and not where:
        return f"{error.message}; the tool takes only its declared arguments (the project is fixed at start)"
    return f"{where}: {error.message}" if where else error.message


def build_server(project: Path, pool: SessionPool) -> MCPServer:
    project = project.resolve()
    server: MCPServer = MCPServer(
        "rlm-tui",
        instructions=(
            f"Answers questions about the project at {project} with a Recursive Language Model: a model "
            "that explores the code in a sandboxed Python REPL (project mounted read-only) and delegates "
            "to sub-models, instead of reading everything into one context. Use `ask` for a long-context "
            "question (where is X, how many Y, which files do Z); `session_ask` to follow up on earlier "
            "answers. Answers cite path:line. `partial: true` means a budget ran out."
        ),
        log_level="WARNING",
        middleware=[StrictArguments(lambda: server.list_tools())],
    )

    async def run_turn(ctx: Context, signature: str, budget: BudgetRequest | None, turn: Turn) -> Answer:
        try:
            checked_signature(signature)
            limits = effective_budget(pool.settings.budget, budget)
        except BadRequest as e:
            raise MCPError(code=INVALID_PARAMS, message=str(e)) from None
        meter = TurnMeter(limits.max_iterations)
        told = 0

        async def tell(event: Event) -> None:
            nonlocal told
            line = meter.apply(event)
            if line is not None:
                told += 1
                await ctx.report_progress(told, None, line)

        async with EventChannel(tell) as channel:
            try:
                session_id, result = await turn(channel.push, limits)
            except BadRequest as e:
                raise MCPError(code=INVALID_PARAMS, message=str(e)) from None
            except Exception as e:  # the client reads why (the SDK would hide it)
                raise ToolError(f"{type(e).__name__}: {e}") from e
        return _answer(result, meter, session_id, project)

    @server.tool(description="Answer one question about the project with a Recursive Language Model on "
                 "a fresh sandbox. Returns the outputs, path:line citations, usage and whether the answer "
                 "is partial.")
    async def ask(question: Question, ctx: Context, signature: Signature = DEFAULT_SIGNATURE,
                  budget: Limits = None) -> Answer:
        async def turn(listener: Listener, limits: Budget) -> tuple[str, TurnResult]:
            session_id = await pool.open(project, listener)
            try:
                return session_id, await pool.ask(session_id, question, listener=listener,
                                                  signature=signature, budget=limits)
            finally:
                pool.close_soon(session_id)

        return await run_turn(ctx, signature, budget, turn)

    @server.tool(description="Like `ask`, on a sandbox kept between calls: a follow-up sees the variables "
                 "and answers of earlier questions in the same session. Omit session_id to open a session; "
                 "pass the returned session_id to follow up.")
    async def session_ask(question: Question, ctx: Context, session_id: str | None = None,
                          signature: Signature = DEFAULT_SIGNATURE, budget: Limits = None) -> Answer:
        async def turn(listener: Listener, limits: Budget) -> tuple[str, TurnResult]:
            if session_id is not None:
                return session_id, await pool.ask(session_id, question, listener=listener,
                                                  signature=signature, budget=limits)
            opened = await pool.open(project, listener)
            try:
                result = await pool.ask(opened, question, listener=listener, signature=signature, budget=limits)
            except BaseException:
                pool.close_soon(opened)  # the client never learns its id: nothing to follow up on
                raise
            if result.error is not None or result.cancelled:
                pool.close_soon(opened)
            return opened, result

        return await run_turn(ctx, signature, budget, turn)

    @server.tool(description="Close a session opened by session_ask and free its sandbox.")
    async def session_close(session_id: str) -> str:
        if session_id not in pool:
            raise MCPError(code=INVALID_PARAMS, message=f"no open session {session_id!r}")
        await pool.close(session_id)
        return f"closed {session_id}"

    return server


def _answer(result: TurnResult, meter: TurnMeter, session_id: str, project: Path) -> Answer:
    if result.cancelled:
        raise ToolError("the run was cancelled")
    if result.error is not None:
        raise ToolError(f"the run failed: {result.error}")
    outputs = jsonable(result.outputs)
    text = "\n".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in outputs.values())
    return Answer(
        answer=result.answer,
        outputs=outputs,
        citations=[CitationOut(**c.to_dict()) for c in extract_citations(text, project)],
        usage=UsageOut(prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens,
                       cost_usd=result.usage.cost_usd, lm_calls=result.usage.lm_calls,
                       iterations=result.usage.iterations),
        partial=result.partial,
        budget_exhausted=meter.budget_exhausted,
        session_id=session_id,
    )


def serve(settings: Settings, project: Path) -> None:
    """Serve over stdin/stdout until the client closes the pipe; then stop every turn and close
    every sandbox before returning."""

    async def main() -> None:
        pool = SessionPool(settings)
        try:
            await build_server(project, pool).run_stdio_async()
        except* (BrokenPipeError, ConnectionResetError):
            pass  # the client went away while a reply was on its way: nobody left to tell
        finally:
            with anyio.CancelScope(shield=True):
                await pool.close_all()

    anyio.run(main)
