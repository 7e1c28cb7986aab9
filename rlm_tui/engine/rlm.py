"""`RLM`: a `dspy.Module` that answers a signature by exploring a project in the sandbox."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import dspy

from rlm_tui.config import Budget, Settings
from rlm_tui import redact
from rlm_tui.lm.client import LM, _prefix_key_vars
from rlm_tui.engine.budget import BudgetMeter
from rlm_tui.engine.components import Components
from rlm_tui.engine.context import RunContext
from rlm_tui.engine.events import Event
from rlm_tui.engine.fanout import EventFanOut
from rlm_tui.engine.outputs import make_signature
from rlm_tui.engine.run import Run
from rlm_tui.engine.run_trace import TraceRecorder
from rlm_tui.engine.skill_setup import prepare_skills
from rlm_tui.skills import Skill
from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.disk_quota import DiskQuota
from rlm_tui.sandbox.folders import make_private, remove_tree

LMLike = str | LM | dspy.LM


class RLM(Components, dspy.Module):
    """Recursive Language Model over `project`.

        rlm = RLM("question -> answer", lm="openai/gpt-4o-mini", project=".")
        rlm(question="Where is the config parsed?").answer

    `system_prompt` replaces the root LM's system prompt (`rlm_tui.engine.prompts.SYSTEM`; the
    placeholders it names are filled in). `named_predictors()` are the root instructions and the
    enabled skills' text, for DSPy optimisers (`dspy.GEPA`); `save`/`load` keep them.

    Returns a `dspy.Prediction` with the signature's outputs plus `trajectory`, `usage` (a `Usage`),
    `partial` (True when a budget ran out and the outputs were extracted from the history) and
    `trace` (a `RunTrace`: every iteration and sub-call, usage split root vs sub-LMs). A run that
    fails raises with the same `trace` on the exception.
    """

    def __init__(
        self,
        signature: str | type[dspy.Signature] = "question -> answer",
        lm: LMLike | None = None,
        sub_lm: LMLike | None = None,
        *,
        project: str | Path | None = None,
        budget: Budget | None = None,
        max_iterations: int | None = None,
        max_llm_calls: int | None = None,
        verbose: bool = False,
        roles: dict[str, str | LM] | None = None,
        api_base: str | None = None,
        api_key: str | None = None,
        max_depth: int = 2,
        concurrency: int = 16,
        output_limit: int = 4000,
        cell_timeout_s: float = 60.0,
        memory_mb: int = 1024,
        disk_quota: DiskQuota | None = None,
        on_event: Callable[[Event], None] | None = None,
        trace: str | Path | None = None,
        skills: Iterable[str | Skill] = (),
        tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]] | None = None,
        tool_timeout_s: float = 60.0,
        files_dir: str | Path | None = None,
        system_prompt: str | None = None,
    ) -> None:
        """`lm`/`sub_lm`: a litellm model string, a `dspy.LM` or an rlm-tui `LM`; without `lm`,
        `dspy.settings.lm` (or `dspy.context(lm=...)`) at call time, as in every DSPy module.
        `project=None` mounts an empty `/project`. `max_iterations` and `max_llm_calls` (as in
        `dspy.RLM`) override the budget's; `verbose` narrates the run on stderr. `tools`: a dict,
        or a list of functions (named by `__name__`) and `dspy.Tool`s (by `.name`)."""
        super().__init__()
        self.signature = make_signature(signature)
        self._api_base, self._api_key = api_base, api_key
        self._current: tuple[Any, LM] | None = None  # DSPy's current LM, and ours for it
        self.lm = None if lm is None else _as_lm(lm, api_base, api_key)
        self.sub_lm = None if sub_lm is None else _as_lm(sub_lm, api_base, api_key)
        self.roles = {name: _as_lm(m, api_base, api_key) for name, m in (roles or {}).items()}
        known = [m for m in (self.lm, self.sub_lm) if m is not None]
        redact.register(*_keys(*known, *self.roles.values()))
        if project is None:
            self.project = make_private("dspy-project")  # nothing of the caller's is mounted
            atexit.register(remove_tree, self.project)
        else:
            self.project = Path(project)
            if not self.project.is_dir():
                raise ValueError(f"project {str(project)!r} is not a directory")
        budget = budget if budget is not None else Budget()  # the limits of each run
        limits = {"max_iterations": max_iterations, "max_lm_calls": max_llm_calls}
        self.budget = Budget.model_validate({**budget.model_dump(), **{k: v for k, v in limits.items() if v is not None}})
        self.max_depth, self.concurrency = max_depth, concurrency
        self.output_limit, self.cell_timeout_s, self.memory_mb = output_limit, cell_timeout_s, memory_mb
        self.disk_quota = disk_quota
        if isinstance(on_event, EventFanOut) and trace is None:
            self.events = on_event  # a chat session's: its trace stays open across turns
        else:
            self.events = EventFanOut(_with_progress(on_event) if verbose else on_event,
                                      Path(trace) if trace else None, _keys(*known))
        self.skills = prepare_skills(self.project, skills, _tool_dict(tools))
        self.tool_timeout_s = tool_timeout_s
        self.files_dir = Path(files_dir) if files_dir else None  # where File outputs are copied to
        self._init_components(system_prompt)

    @classmethod
    def from_settings(cls, settings: Settings, signature: str = "question -> answer", **kwargs: Any) -> RLM:
        from rlm_tui.lm.build import build_lms

        lm, sub_lm, roles = build_lms(settings)
        return cls(
            signature, lm=lm, sub_lm=sub_lm, roles=roles, budget=settings.budget,
            max_depth=settings.max_depth, concurrency=settings.concurrency,
            output_limit=settings.output_limit, cell_timeout_s=settings.cell_timeout_s,
            memory_mb=settings.memory_mb, disk_quota=settings.disk_quota, **{"skills": settings.skills, **kwargs},
        )

    def forward(self, **inputs: Any) -> dspy.Prediction:
        return self._record_run(inputs, run_sync(self.arun(inputs)))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return self._record_run(inputs, await self.arun(inputs))

    async def arun(self, inputs: dict[str, Any], *, sandbox: Sandbox | None = None,
                   ctx: RunContext | None = None, signature: str | type[dspy.Signature] | None = None,
                   prior_messages: list[dict[str, str]] | None = None, history_summary: str = "",
                   context_paths: list[str] | None = None) -> dspy.Prediction:
        """Run once: the one entry every caller takes (`forward`, a chat session, the eval).

        A caller that keeps state across runs passes its own `sandbox` (left open, its variables
        kept: DSPy's caller-owned interpreter), a `ctx` from `new_context` (to cancel the run or
        give it its own limits), a `signature` for this run only, and the conversation so far
        (`prior_messages`, or a `history_summary` when it no longer fits). The prediction's
        `messages` are this run's own exchange, for the caller's next `prior_messages`.
        """
        signature = self.signature if signature is None else make_signature(signature)
        check_inputs(signature, inputs)
        ctx = ctx or self.new_context()
        run = Run(ctx, signature, inputs, sandbox, prior_messages=prior_messages,
                  history_summary=history_summary, context_paths=context_paths, files_dir=self.files_dir)
        recorder = ctx.emit = TraceRecorder(ctx.emit)  # this run's events, for its RunTrace
        self.events.open()
        try:
            outcome = await run.execute()
        except BaseException as e:
            with contextlib.suppress(AttributeError):  # an exception class with __slots__
                e.trace = recorder.trace(run.call_id)  # type: ignore[attr-defined]  # as `prediction.trace`
            raise
        finally:
            ctx.emit = recorder.inner
            self.events.close()
        return dspy.Prediction(
            trace=recorder.trace(run.call_id),
            **outcome.outputs,
            trajectory=[step.to_dict() for step in outcome.trajectory],
            usage=ctx.used(),
            partial=outcome.partial,
            budget_exhausted=outcome.budget_reason,
            messages=run.own_messages,
        )

    def resolved_lms(self) -> tuple[LM, LM]:
        """(root, sub) LMs of a run starting now: the given ones, else DSPy's current `lm`."""
        lm = self.lm
        if lm is None:
            current = dspy.settings.lm
            if current is None:
                raise ValueError("no LM: pass RLM(..., lm='provider/model') or configure one with "
                                 "dspy.configure(lm=dspy.LM(...)) or dspy.context(lm=...)")
            if self._current is None or self._current[0] is not current:  # one LM per dspy LM object
                self._current = (current, _as_lm(current, self._api_base, self._api_key))
                redact.register(*_keys(self._current[1]))
            lm = self._current[1]
        return lm, self.sub_lm or lm

    def new_context(self, budget: Budget | None = None) -> RunContext:
        """A fresh call tree: a run under `budget` (default: this RLM's) that `arun` can be given."""
        lm, sub_lm = self.resolved_lms()
        return RunContext(
            lm=lm, sub_lm=sub_lm, roles=self.roles, project=self.project.resolve(),
            meter=BudgetMeter(budget or self.budget), emit=self.events, max_depth=self.max_depth,
            concurrency=self.concurrency, output_limit=self.output_limit,
            cell_timeout_s=self.cell_timeout_s, memory_mb=self.memory_mb, disk_quota=self.disk_quota,
            compact_prompt=lm.model.startswith("embedded/"),
            skills_dir=self.skills.folder, skills_text=self._skills_text(), system_prompt=self.system_prompt,
            skills_path=self.skills.sys_path,
            tools=dict(self.skills.tools), tool_timeout_s=self.tool_timeout_s, load_skill=self.skills.load,
        )


def check_inputs(signature: type[dspy.Signature], inputs: Mapping[str, Any]) -> None:
    """TypeError naming the signature's inputs when `inputs` lacks one or has one it does not name."""
    expected = list(signature.input_fields)
    missing = [name for name in expected if name not in inputs]
    unknown = [name for name in inputs if name not in signature.input_fields]
    problems = ([f"missing input(s) {', '.join(missing)}"] if missing else []) + (
        [f"unexpected input(s) {', '.join(unknown)}"] if unknown else [])
    if problems:
        raise TypeError(f"{'; '.join(problems)} for signature {signature.signature!r}: "
                        f"its inputs are {', '.join(expected)}")


def _as_lm(value: LMLike, api_base: str | None, api_key: str | None) -> LM:
    if isinstance(value, LM):
        return value
    if isinstance(value, dspy.LM):
        return _from_dspy(value)
    if isinstance(value, str):
        return LM(value, api_base=api_base, api_key=api_key)
    raise TypeError(f"lm must be a litellm model string, a dspy.LM or an rlm_tui LM, not {type(value).__name__}")


def _from_dspy(lm: dspy.LM) -> LM:
    """An rlm-tui `LM` for a `dspy.LM`: the same model, endpoint, key and generation settings."""
    kwargs = dict(lm.kwargs)
    max_tokens = kwargs.pop("max_tokens", None) or kwargs.pop("max_completion_tokens", None) or 4096
    kwargs.pop("max_completion_tokens", None)
    temperature = kwargs.pop("temperature", None)
    kwargs.pop("timeout", None)
    return LM(lm.model, api_base=kwargs.pop("api_base", None), api_key=kwargs.pop("api_key", None),
              temperature=0.0 if temperature is None else temperature, max_tokens=max_tokens,
              num_retries=lm.num_retries, cache=lm.cache, model_type=lm.model_type, **kwargs)


def _tool_dict(tools: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]] | None) -> dict[str, Callable[..., Any]]:
    """`tools=` as name -> function: a mapping as given, a list by each function's `__name__`
    (a `dspy.Tool` by its `name`)."""
    if tools is None:
        return {}
    if isinstance(tools, Mapping):
        return dict(tools)
    named: dict[str, Callable[..., Any]] = {}
    for tool in tools:
        name = getattr(tool, "__name__", None)
        if isinstance(tool, dspy.Tool):
            name, tool = tool.name, tool.func
        if not callable(tool) or not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"tool {tool!r} has no usable __name__: pass tools as a dict {{name: function}}")
        if name in named:
            raise ValueError(f"two tools are named {name!r}: pass tools as a dict to name them apart")
        named[name] = tool
    return named


def _with_progress(on_event: Callable[[Event], None] | None) -> Callable[[Event], None]:
    """The headless progress printer (on stderr), then the caller's sink."""
    from rlm_tui.engine.printer import ProgressPrinter

    printer = ProgressPrinter()

    def sink(event: Event) -> None:
        printer(event)
        if on_event is not None:
            on_event(event)

    return sink


def _keys(*lms: LM) -> list[str]:
    """Every key these LMs use: given ones, and the values of their providers' env vars."""
    keys = [getattr(lm, "_api_key", None) for lm in lms]
    keys += [os.environ.get(name) for lm in lms for name in _prefix_key_vars(lm.model)]
    return [key for key in keys if key]


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop (in a
    thread that sees the caller's context: `dspy.context(lm=...)` holds there too)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coro).result()
