"""The guest functions: `llm_query`, `llm_query_batched`, `predict`, `rlm_query`.

They run on the sandbox's thread while the guest waits, and hand their work to the run's
event loop, where sub-calls run concurrently under the shared concurrency limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rlm_tui.lm import Usage
from rlm_tui.runtime.context import Cancelled, RunContext
from rlm_tui.runtime.events import SubCallFinished, SubCallStarted, new_id

if TYPE_CHECKING:
    from rlm_tui.runtime.run import Run

T = TypeVar("T")


class GuestFunctions:
    """Host functions for one run; `parent_id` follows the run's current iteration."""

    def __init__(self, ctx: RunContext, run: Run) -> None:
        self.ctx = ctx
        self.run = run

    def as_dict(self) -> dict[str, Callable[..., Any]]:
        functions: dict[str, Callable[..., Any]] = {
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "predict": self.predict,
            "rlm_query": self.rlm_query,
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

        async def work(call_id: str) -> tuple[str, Any, Usage]:
            pending = fn(*args, **kwargs) if inspect.iscoroutinefunction(fn) else asyncio.to_thread(fn, *args, **kwargs)
            try:
                value = await asyncio.wait_for(pending, timeout)
            except TimeoutError:
                raise TimeoutError(f"tool {name!r} did not finish within {timeout:g} s") from None
            if inspect.isawaitable(value):
                value = await asyncio.wait_for(value, timeout)
            return repr(value)[:2000], value, Usage()

        return await self._tracked("tool", name, f"{name}{args!r} {kwargs!r}"[:2000], self.run.iteration_id, work)

    async def _query(self, prompt: str, role: str | None, function: str, parent_id: str) -> str:
        lm = self.ctx.sub_model(role)

        async def work(call_id: str) -> tuple[str, str, Usage]:
            async with self.ctx.semaphore:
                self.ctx.budget.check_call()
                self.ctx.check_cancel()
                completion = await lm.acomplete([{"role": "user", "content": prompt}])
            self.ctx.record(completion.usage)
            return completion.text, completion.text, completion.usage

        return await self._tracked(function, _label(role, lm.model), prompt, parent_id, work)

    async def _batch(self, prompts: list[str], role: str | None) -> list[str]:
        lm = self.ctx.sub_model(role)

        async def work(call_id: str) -> tuple[str, list[str], Usage]:
            results = await asyncio.gather(
                *(self._query(p, role, "llm_query", call_id) for p in prompts), return_exceptions=True
            )
            for r in results:
                if isinstance(r, Cancelled):
                    raise r
            answers = [r if isinstance(r, str) else f"ERROR: {type(r).__name__}: {r}" for r in results]
            failed = sum(1 for r in results if not isinstance(r, str))
            shown = f"{len(prompts)} answers" + (f", {failed} failed" if failed else "")
            return shown, answers, Usage()

        return await self._tracked("llm_query_batched", _label(role, lm.model),
                                   f"{len(prompts)} prompts", self.run.iteration_id, work)

    async def _predict(self, signature: str, instructions: str | None, role: str | None,
                       inputs: dict[str, Any]) -> dict:
        from rlm_tui.runtime.predict import run_predict

        lm = self.ctx.sub_model(role)

        async def work(call_id: str) -> tuple[str, dict, Usage]:
            async with self.ctx.semaphore:
                self.ctx.budget.check_call()
                self.ctx.check_cancel()
                outputs, usage = await run_predict(lm, signature, instructions, inputs)
            self.ctx.record(usage)
            return json.dumps(outputs, default=str), outputs, usage

        return await self._tracked("predict", _label(role, lm.model), f"{signature}\n{inputs!r}"[:2000],
                                   self.run.iteration_id, work)

    async def _child(self, question: str, signature: str | None, inputs: dict[str, Any]) -> Any:
        if self.run.depth + 1 > self.ctx.max_depth:
            prompt = question if not inputs else f"{question}\n\nInputs:\n{inputs!r}"
            return await self._query(prompt, None, "rlm_query", self.run.iteration_id)

        async def work(call_id: str) -> tuple[str, Any, Usage]:
            outputs, _partial = await self.run.spawn_child(question, signature, inputs, parent_id=call_id)
            value = outputs if signature else next(iter(outputs.values()), "")
            return str(value)[:2000], value, Usage()

        return await self._tracked("rlm_query", self.ctx.sub_lm.model, question, self.run.iteration_id, work)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"prompts must be str, not {type(value).__name__}")
    return value


def _label(role: str | None, model: str) -> str:
    return model if role is None or role == model else f"{role}: {model}"
