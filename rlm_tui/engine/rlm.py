"""`RLM`: a `dspy.Module` that answers a signature by exploring a project in the sandbox."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import dspy

from rlm_tui import redact
from rlm_tui.config import Budget, Settings
from rlm_tui.engine.budget import BudgetMeter
from rlm_tui.engine.context import RunContext
from rlm_tui.engine.events import Event
from rlm_tui.engine.fanout import EventFanOut
from rlm_tui.engine.outputs import make_signature
from rlm_tui.engine.run import Run
from rlm_tui.engine.skill_setup import prepare_skills
from rlm_tui.lm.client import LM, _prefix_key_vars
from rlm_tui.sandbox import Sandbox
from rlm_tui.sandbox.disk_quota import DiskQuota
from rlm_tui.skills import Skill


class RLM(dspy.Module):
    """Recursive Language Model over `project`.

        rlm = RLM("question -> answer", lm="openai/gpt-4o-mini", project=".")
        rlm(question="Where is the config parsed?").answer

    Returns a `dspy.Prediction` with the signature's outputs plus `trajectory`, `usage` (a `Usage`) and
    `partial` (True when a budget ran out and the outputs were extracted from the history).
    """

    def __init__(
        self,
        signature: str | type[dspy.Signature] = "question -> answer",
        *,
        lm: str | LM,
        sub_lm: str | LM | None = None,
        project: str | Path = ".",
        budget: Budget | None = None,
        roles: Mapping[str, str | LM] | None = None,
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
        tools: Mapping[str, Callable[..., Any]] | None = None,
        tool_timeout_s: float = 60.0,
        files_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.signature = make_signature(signature)
        self.lm = _as_lm(lm, api_base, api_key)
        self.sub_lm = _as_lm(sub_lm, api_base, api_key) if sub_lm is not None else self.lm
        self.roles = {name: _as_lm(m, api_base, api_key) for name, m in (roles or {}).items()}
        redact.register(*_keys(self.lm, self.sub_lm, *self.roles.values()))
        self.project = Path(project)
        if not self.project.is_dir():
            raise ValueError(f"project {str(project)!r} is not a directory")
        self.budget = budget if budget is not None else Budget()  # the limits of each run
        self.max_depth, self.concurrency = max_depth, concurrency
        self.output_limit, self.cell_timeout_s, self.memory_mb = output_limit, cell_timeout_s, memory_mb
        self.disk_quota = disk_quota
        if isinstance(on_event, EventFanOut) and trace is None:
            self.events = on_event  # a chat session's: its trace stays open across turns
        else:
            self.events = EventFanOut(on_event, Path(trace) if trace else None, _keys(self.lm, self.sub_lm))
        self.skills = prepare_skills(self.project, skills, tools or {})
        self.tool_timeout_s = tool_timeout_s
        self.files_dir = Path(files_dir) if files_dir else None  # where File outputs are copied to

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
        return run_sync(self.aforward(**inputs))

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        return await self.arun(inputs)

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
        missing = [name for name in signature.input_fields if name not in inputs]
        if missing:
            raise TypeError(f"missing input(s) for {signature.signature!r}: {', '.join(missing)}")
        ctx = ctx or self.new_context()
        run = Run(ctx, signature, inputs, sandbox, prior_messages=prior_messages,
                  history_summary=history_summary, context_paths=context_paths, files_dir=self.files_dir)
        self.events.open()
        try:
            outcome = await run.execute()
        finally:
            self.events.close()
        return dspy.Prediction(
            **outcome.outputs,
            trajectory=[step.to_dict() for step in outcome.trajectory],
            usage=ctx.used(),
            partial=outcome.partial,
            budget_exhausted=outcome.budget_reason,
            messages=run.own_messages,
        )

    def new_context(self, budget: Budget | None = None) -> RunContext:
        """A fresh call tree: a run under `budget` (default: this RLM's) that `arun` can be given."""
        return RunContext(
            lm=self.lm, sub_lm=self.sub_lm, roles=self.roles, project=self.project.resolve(),
            meter=BudgetMeter(budget or self.budget), emit=self.events, max_depth=self.max_depth,
            concurrency=self.concurrency, output_limit=self.output_limit,
            cell_timeout_s=self.cell_timeout_s, memory_mb=self.memory_mb, disk_quota=self.disk_quota,
            compact_prompt=self.lm.model.startswith("embedded/"),
            skills_dir=self.skills.folder, skills_text=self.skills.text, skills_path=self.skills.sys_path,
            tools=dict(self.skills.tools), tool_timeout_s=self.tool_timeout_s, load_skill=self.skills.load,
        )


def _as_lm(value: str | LM, api_base: str | None, api_key: str | None) -> LM:
    return value if isinstance(value, LM) else LM(value, api_base=api_base, api_key=api_key)


def _keys(*lms: LM) -> list[str]:
    """Every key these LMs use: given ones, and the values of their providers' env vars."""
    keys = [getattr(lm, "_api_key", None) for lm in lms]
    keys += [os.environ.get(name) for lm in lms for name in _prefix_key_vars(lm.model)]
    return [key for key in keys if key]


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
