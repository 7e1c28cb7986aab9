"""The guest functions: `llm_query`, `llm_query_batched`, `predict`, `rlm_query`,
`rlm_query_batched`.

They run on the sandbox's thread while the guest waits, and hand their work to the run's
event loop, where sub-calls run concurrently under the shared concurrency limit. A batch of
child RLMs runs at most `concurrency` children at once, and starts the next one when the
tree's memory pool has room for its sandbox.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from rlm_tui.lm.client import Usage
from rlm_tui.engine.budget import BudgetExceeded, CallRefused, child_memory_mb
from rlm_tui.engine.context import Cancelled, RunContext
from rlm_tui.engine.events import CallsRefused, SubCallFinished, SubCallStarted, new_id
from rlm_tui.engine.guest_paths import mounted, sandbox_mounts

from rlm_tui.sandbox import Sandbox

T = TypeVar("T")


class RunHost(Protocol):
    """What the guest functions need of the run they serve (`rlm_tui.engine.run.Run` is one)."""

    depth: int
    iteration_id: str
    sandbox: Sandbox | None

    async def spawn_child(self, question: str, signature: str | None, inputs: dict[str, Any],
                          *, parent_id: str) -> tuple[dict[str, Any], bool]: ...


class GuestFunctions:
    """Host functions for one run; `parent_id` follows the run's current iteration."""

    def __init__(self, ctx: RunContext, run: RunHost) -> None:
        self.ctx = ctx
        self.run = run

    def as_dict(self) -> dict[str, Callable[..., Any]]:
        functions: dict[str, Callable[..., Any]] = {
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "predict": self.predict,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
        }
        if self.ctx.load_skill is not None:
            functions["load_skill"] = self.ctx.load_skill
        for name, fn in self.ctx.tools.items():
            if name in functions:
                raise ValueError(f"tool {name!r} clashes with the built-in guest function of that name")
            functions[name] = self._tool(name, fn)
        return functions

    def _tool(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A host tool as a guest function: sync or async, bounded by the tool timeout."""

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._bridge(self._run_tool(name, fn, args, kwargs))

        call.__doc__ = fn.__doc__
        return call

    # -- the functions the guest calls (sandbox thread) ------------------------------------

    def llm_query(self, prompt: str, model: str | None = None) -> str:
        """Ask a sub-LM one question; returns its text answer."""
        return self._bridge(self._query(_text(prompt), model, "llm_query", self.run.iteration_id))

    def llm_query_batched(self, prompts: list[str], model: str | None = None) -> list[str]:
        """Ask many independent prompts in parallel; failures come back as 'ERROR: ...' strings."""
        if not isinstance(prompts, list):
            raise TypeError("llm_query_batched takes a list of prompt strings")
        return self._bridge(self._batch([_text(p) for p in prompts], model))

    def predict(self, signature: str, instructions: str | None = None, model: str | None = None, **inputs: Any) -> dict:
        """A typed sub-LM call through a DSPy signature; returns the output fields as a dict."""
        return self._bridge(self._predict(signature, instructions, model, inputs))

    def rlm_query(self, question: str, signature: str | None = None, **inputs: Any) -> Any:
        """Hand a sub-task to a child RLM with its own sandbox (str answer, or a dict with signature=)."""
        return self._bridge(self._child(_text(question), signature, inputs))

    def rlm_query_batched(self, questions: list[str]) -> list[str]:
        """Hand many independent sub-tasks to child RLMs that run in parallel; returns their
        answers in order, a failed one as an 'ERROR: ...' string in its slot."""
        if not isinstance(questions, list):
            raise TypeError("rlm_query_batched takes a list of question strings")
        return self._bridge(self._child_batch([_text(q) for q in questions]))

    # -- bridge ----------------------------------------------------------------------------

    def _bridge(self, coro: Awaitable[T]) -> T:
        loop = self.ctx.loop
        assert loop is not None, "guest functions need the run's event loop"
        future = asyncio.run_coroutine_threadsafe(coro, loop)  # type: ignore[arg-type]
        while not concurrent.futures.wait([future], timeout=0.1).done:
            if self.ctx.cancel_event.is_set():
                future.cancel()
                raise Cancelled("the turn was cancelled")
        return future.result()  # a TimeoutError raised by the work itself must not look like a poll

    # -- async implementations (event loop) ------------------------------------------------

    async def _tracked(self, function: str, model: str, prompt: str, parent_id: str,
                       work: Callable[[str], Awaitable[tuple[str, Any, Usage]]]) -> Any:
        """Emit start/finish around `work(call_id)`, which returns (shown text, value, usage)."""
        ctx = self.ctx
        call_id = new_id()
        ctx.emit(SubCallStarted(run_id=ctx.run_id, call_id=call_id, parent_id=parent_id,
                                function=function, model=model, prompt=prompt))
        started = time.monotonic()
        try:
            shown, value, usage = await work(call_id)
        except BaseException as e:
            ctx.emit(SubCallFinished(run_id=ctx.run_id, call_id=call_id, parent_id=parent_id, function=function,
                                     model=model, response="", error=f"{type(e).__name__}: {e}",
                                     duration_s=time.monotonic() - started))
            raise
        ctx.emit(SubCallFinished(
            run_id=ctx.run_id, call_id=call_id, parent_id=parent_id, function=function, model=model,
            response=shown, duration_s=time.monotonic() - started, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd,
        ))
        return value

    async def _run_tool(self, name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        timeout = self.ctx.tool_timeout_s

        async def call() -> Any:
            pending = fn(*args, **kwargs) if inspect.iscoroutinefunction(fn) else _on_own_thread(name, fn, args, kwargs)
            try:
                value = await asyncio.wait_for(pending, timeout)
                if inspect.isawaitable(value):
                    value = await asyncio.wait_for(value, timeout)
            except TimeoutError:
                raise TimeoutError(f"tool {name!r} did not finish within {timeout:g} s") from None
            return value

        async def in_mounts() -> Any:
            with mounted(sandbox_mounts(self.run.sandbox)):  # the tool's guest paths resolve here
                return await call()

        async def work(call_id: str) -> tuple[str, Any, Usage]:
            value = await self.ctx.within_deadline(in_mounts())  # the turn's deadline cuts it too
            return repr(value)[:2000], value, Usage()

        return await self._tracked("tool", name, f"{name}{args!r} {kwargs!r}"[:2000], self.run.iteration_id, work)

    async def _query(self, prompt: str, role: str | None, function: str, parent_id: str,
                     *, in_batch: bool = False) -> str:
        ctx = self.ctx
        lm = ctx.sub_model(role)
        label = _label(role, lm.model)
        try:
            reservation = ctx.reserve(lm, len(prompt))
        except CallRefused as refused:
            if not in_batch:  # a batch reports its refused slots in one line
                self._refused(function, label, parent_id, refused, 1)
            raise

        async def send() -> tuple[str, Usage]:
            completion = await lm.acomplete([{"role": "user", "content": prompt}])
            return completion.text, completion.usage

        async def work(call_id: str) -> tuple[str, str, Usage]:
            answer, usage = await ctx.spend(reservation, send, queue=True)
            return answer, answer, usage

        return await self._tracked(function, label, prompt, parent_id, work)

    async def _batch(self, prompts: list[str], role: str | None) -> list[str]:
        lm = self.ctx.sub_model(role)
        label = _label(role, lm.model)

        async def work(call_id: str) -> tuple[str, list[str], Usage]:
            results = await asyncio.gather(
                *(self._query(p, role, "llm_query", call_id, in_batch=True) for p in prompts),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, (Cancelled, asyncio.CancelledError)):
                    raise r
            refused = [r for r in results if isinstance(r, CallRefused)]
            if refused:
                self._refused("llm_query", label, call_id, refused[0], len(refused))
            answers = [r if isinstance(r, str) else _error_slot(r) for r in results]
            failed = sum(1 for r in results if not isinstance(r, str))
            shown = f"{len(prompts)} answers" + (f", {failed} failed" if failed else "")
            if refused:
                shown += f" ({len(refused)} not sent: {refused[0].budget} budget)"
            return shown, answers, Usage()

        return await self._tracked("llm_query_batched", label, f"{len(prompts)} prompts",
                                   self.run.iteration_id, work)

    def _refused(self, function: str, model: str, parent_id: str, refused: CallRefused, count: int) -> None:
        ctx = self.ctx
        ctx.emit(CallsRefused(run_id=ctx.run_id, call_id=new_id(), parent_id=parent_id, function=function,
                              model=model, budget=refused.budget, count=count, reason=str(refused)))

    async def _predict(self, signature: str, instructions: str | None, role: str | None,
                       inputs: dict[str, Any]) -> dict:
        from rlm_tui.engine.predict import run_predict

        ctx = self.ctx
        lm = ctx.sub_model(role)
        label = _label(role, lm.model)
        shown_inputs = f"{signature}\n{inputs!r}"
        try:
            reservation = ctx.reserve(lm, PREDICT_PROMPT_CHARS + len(shown_inputs) + len(instructions or ""))
        except CallRefused as refused:
            self._refused("predict", label, self.run.iteration_id, refused, 1)
            raise

        async def work(call_id: str) -> tuple[str, dict, Usage]:
            outputs, usage = await ctx.spend(reservation, lambda: run_predict(lm, signature, instructions, inputs),
                                             queue=True)
            return json.dumps(outputs, default=str), outputs, usage

        return await self._tracked("predict", label, shown_inputs[:2000], self.run.iteration_id, work)

    async def _child(self, question: str, signature: str | None, inputs: dict[str, Any],
                     parent_id: str | None = None) -> Any:
        parent_id = parent_id or self.run.iteration_id
        if self.run.depth + 1 > self.ctx.max_depth:
            prompt = question if not inputs else f"{question}\n\nInputs:\n{inputs!r}"
            return await self._query(prompt, None, "rlm_query", parent_id)

        async def work(call_id: str) -> tuple[str, Any, Usage]:
            outputs, _partial = await self.run.spawn_child(question, signature, inputs, parent_id=call_id)
            value = outputs if signature else next(iter(outputs.values()), "")
            return str(value)[:2000], value, Usage()

        return await self._tracked("rlm_query", self.ctx.sub_lm.model, question, parent_id, work)

    async def _child_batch(self, questions: list[str]) -> list[str]:
        ctx = self.ctx
        sandboxed = self.run.depth + 1 <= ctx.max_depth  # past the depth cap children are plain queries
        need_mb = child_memory_mb(ctx.memory_mb)
        turn = asyncio.Condition()
        running = 0

        def may_start() -> bool:
            assert ctx.memory is not None
            if running == 0:
                return True  # the pool may still refuse it: that slot then says so
            return running < ctx.concurrency and (not sandboxed or ctx.memory.free_mb >= need_mb)

        async def one(question: str, call_id: str) -> str:
            nonlocal running
            async with turn:
                await turn.wait_for(may_start)
                running += 1
            try:
                return str(await self._child(question, None, {}, call_id))
            finally:
                async with turn:
                    running -= 1
                    turn.notify_all()

        async def work(call_id: str) -> tuple[str, list[str], Usage]:
            results = await asyncio.gather(*(one(q, call_id) for q in questions), return_exceptions=True)
            for r in results:
                if isinstance(r, (Cancelled, asyncio.CancelledError)):
                    raise r
            answers = [r if isinstance(r, str) else _error_slot(r) for r in results]
            failed = sum(1 for r in results if not isinstance(r, str))
            return f"{len(questions)} answers" + (f", {failed} failed" if failed else ""), answers, Usage()

        return await self._tracked("rlm_query_batched", ctx.sub_lm.model, f"{len(questions)} questions",
                                   self.run.iteration_id, work)


def _on_own_thread(name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> asyncio.Future:
    """Run a sync tool on a daemon thread of its own. A tool that hangs past its timeout cannot be
    stopped, but it must not hold the run: on the loop's default executor, `asyncio.run` would wait
    for it at shutdown (a 1 s timeout once held a run 22 s)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            value = context.run(fn, *args, **kwargs)
        except BaseException as e:  # handed to the awaiting run as the tool's failure
            outcome = functools.partial(settle, functools.partial(future.set_exception, e))
        else:
            outcome = functools.partial(settle, functools.partial(future.set_result, value))
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(outcome)

    threading.Thread(target=target, name=f"rlm-tool-{name}", daemon=True).start()
    return future


PREDICT_PROMPT_CHARS = 1500  # DSPy's template around a predict call's fields, for the estimate


def _error_slot(error: BaseException) -> str:
    if isinstance(error, BudgetExceeded):  # refused before sending, or cut at the deadline
        return f"ERROR: budget: {error}"
    return f"ERROR: {type(error).__name__}: {error}"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"prompts must be str, not {type(value).__name__}")
    return value


def _label(role: str | None, model: str) -> str:
    return model if role is None or role == model else f"{role}: {model}"
