"""Engine events → what a protocol client is told while a turn runs.

`EventChannel` carries events from whatever thread emits them (the sandbox's, a worker's, the
loop's) to one async handler on the server's loop, in order. `TurnMeter` folds them into the
call tree (`CallGraph`, the same model the TUI draws) and says, per event worth telling, one
line: what just happened, then where the turn stands — iteration, sub-calls running and done,
tokens, cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from rlm_tui.engine import events as ev
from rlm_tui.engine import narration
from rlm_tui.engine.calls import DONE, FAILED, RUNNING, CallGraph, error_line
from rlm_tui.usage import usd_text

log = logging.getLogger(__name__)

SHORT = 80  # characters of a quoted task, cell line or error in a progress message

class EventChannel:
    """`push` from any thread; `handler` gets every event in order, on the loop that entered.

    Leaving the block normally delivers what is queued first; leaving it by an error or a
    cancellation drops the rest. A handler that fails (the client went away) is logged once and
    gets nothing more: progress is best effort and never stops the turn.
    """

    def __init__(self, handler: Callable[[ev.Event], Awaitable[None]]) -> None:
        self._handler = handler
        self._queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._broken = False

    def push(self, event: ev.Event) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the loop closed while a worker thread was still reporting
            pass

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(self._drain())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._task is not None
        if kind is None:
            self.push_end()
            await self._task
        else:
            self._task.cancel()
        self._loop = None

    def push_end(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    async def _drain(self) -> None:
        while (event := await self._queue.get()) is not None:
            if self._broken:
                continue
            try:
                await self._handler(event)
            except Exception as e:  # noqa: BLE001 - a client that went away must not end the turn
                self._broken = True
                log.warning("progress stopped: %s: %s", type(e).__name__, e)


@dataclass(frozen=True)
class Standing:
    """Where a turn stands."""

    iteration: int
    max_iterations: int | None
    running: int
    done: int
    failed: int
    tokens: int
    cost_usd: float | None

    def line(self) -> str:
        parts = [f"iteration {self.iteration}" + (f"/{self.max_iterations}" if self.max_iterations else "")]
        if self.running or self.done or self.failed:
            counts = [f"{self.running} running", f"{self.done} done"] + ([f"{self.failed} failed"] if self.failed else [])
            parts.append("sub-calls " + ", ".join(counts))
        parts.append(f"{self.tokens:,} tokens")
        if self.cost_usd is not None:
            parts.append(usd_text(self.cost_usd))
        return " · ".join(parts)


class TurnMeter:
    """Folds one turn's events; `apply` says what a client should be told, if anything."""

    def __init__(self, max_iterations: int | None) -> None:
        self.graph = CallGraph()
        self.max_iterations = max_iterations
        self.iteration = 0
        self.budget_exhausted: str | None = None

    def apply(self, event: ev.Event) -> str | None:
        self.graph.apply(event)
        top_level = event.parent_id is None
        if isinstance(event, ev.IterationStarted) and self.graph.is_root_run_event(event):
            self.iteration = event.iteration
        elif isinstance(event, ev.BudgetExhausted) and top_level:
            self.budget_exhausted = event.budget
        what = happened(event)
        if what is None:
            return None
        standing = self.standing()
        return what if standing.iteration == 0 and standing.tokens == 0 else f"{what} — {standing.line()}"

    def standing(self) -> Standing:
        subs = [n for n in self.graph.nodes.values() if n.kind == "sub"]
        return Standing(
            iteration=self.iteration, max_iterations=self.max_iterations,
            running=sum(n.status == RUNNING for n in subs), done=sum(n.status == DONE for n in subs),
            failed=sum(n.status == FAILED for n in subs),
            tokens=self.graph.usage.total_tokens,
            cost_usd=self.graph.usage.cost_usd if self.graph.usage.cost_known else None,
        )


def happened(event: ev.Event) -> str | None:
    """One short phrase for an event a client hears about; None for tokens, variables and LM
    call starts, which only feed the totals."""
    match event:
        case ev.Status(message=message):
            return message
        case ev.RunStarted(depth=0):
            return f"started on {event.model}"
        case ev.RunStarted():
            return f"child RLM started (depth {event.depth}): {narration.one_line(event.task, SHORT)}"
        case ev.IterationStarted(iteration=n):
            return f"iteration {n}"
        case ev.CodeCell(code=code):
            return f"running a cell: {narration.code_preview(code, SHORT)}"
        case ev.CodeMissing():
            return narration.no_code(event)
        case ev.CellOutput(error=str() as error):
            return f"cell failed: {narration.one_line(error_line(error), SHORT)}"
        case ev.CellOutput():
            return f"cell done in {event.duration_s * 1000:.0f} ms"
        case ev.SubCallStarted(function=function, model=model):
            return f"{function} started ({model})"
        case ev.SubCallFinished(function=function, error=str() as error):
            return f"{function} failed: {narration.one_line(error_line(error), SHORT)}"
        case ev.SubCallFinished(function=function):
            return f"{function} done in {event.duration_s:.1f} s"
        case ev.LMCallFinished(role=role, error=None):
            return f"{role} LM replied ({event.prompt_tokens}+{event.completion_tokens} tokens)"
        case ev.SubmitRejected(error=error):
            return f"SUBMIT rejected: {narration.one_line(error, SHORT)}"
        case ev.Submitted():
            return "submitted"
        case ev.BudgetExhausted():
            return narration.budget_ran_out(event)
        case ev.RunFinished(partial=partial) if event.parent_id is None:
            return "finished (partial answer)" if partial else "finished"
        case ev.RunFailed() if event.parent_id is None:
            return narration.run_failed(event, SHORT)
    return None
