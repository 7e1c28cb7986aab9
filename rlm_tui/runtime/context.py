"""What one call tree shares: LMs, budget, usage, event sink, cancellation, concurrency."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_tui.lm import LM, Completion, Usage
from rlm_tui.runtime.budget import Budget
from rlm_tui.runtime.events import Event, LMCallFinished, LMCallStarted, LMToken, new_id

if TYPE_CHECKING:
    from rlm_tui.sandbox.disk_quota import DiskQuota

EventSink = Callable[[Event], None]


class Cancelled(Exception):
    """The user cancelled the running turn."""


@dataclass
class RunContext:
    """Shared by a root run and every child run and sub-call under it."""

    lm: LM
    sub_lm: LM
    project: Path
    budget: Budget
    emit: EventSink
    roles: dict[str, LM] = field(default_factory=dict)
    max_depth: int = 2
    concurrency: int = 16
    output_limit: int = 4000
    cell_timeout_s: float = 60.0
    memory_mb: int = 1024
    disk_quota: DiskQuota | None = None  # None: the sandbox's default
    skills_dir: Path | None = None
    skills_text: str = ""
    skills_path: list[str] = field(default_factory=list)
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    tool_timeout_s: float = 60.0
    load_skill: Callable[[str], str] | None = None
    compact_prompt: bool = False
    run_id: str = field(default_factory=new_id)
    usage: Usage = field(default_factory=Usage)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    _semaphore: asyncio.Semaphore | None = None
    _usage_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._semaphore

    def sub_model(self, role: str | None) -> LM:
        """The sub-LM for `model=`: a named role, else a literal model string, else the default."""
        if role is None:
            return self.sub_lm
        if role in self.roles:
            return self.roles[role]
        if role in (self.sub_lm.model, self.lm.model):
            return self.sub_lm if role == self.sub_lm.model else self.lm
        known = ", ".join(self.roles) or "none configured"
        raise ValueError(f"unknown model role {role!r} (roles: {known}); omit model= to use the default sub-LM")

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("the turn was cancelled")

    def record(self, usage: Usage) -> None:
        self.budget.charge(usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
        with self._usage_lock:
            self.usage = self.usage + usage

    async def complete(
        self,
        lm: LM,
        messages: list[dict[str, Any]],
        *,
        role: str,
        call_id: str,
        parent_id: str,
        stream: bool = False,
        enforce_budget: bool = True,
    ) -> Completion:
        """One LM call with its events, budget and usage accounting."""
        if enforce_budget:
            self.budget.check_call()
        self.check_cancel()
        prompt = messages[-1]["content"] if messages else ""
        self.emit(LMCallStarted(run_id=self.run_id, call_id=call_id, parent_id=parent_id,
                                model=lm.model, role=role, prompt=prompt))

        def on_token(text: str) -> None:
            self.emit(LMToken(run_id=self.run_id, call_id=call_id, parent_id=parent_id, text=text))

        try:
            completion = await lm.acomplete(messages, on_token=on_token if stream else None)
        except Exception as e:
            self.emit(LMCallFinished(run_id=self.run_id, call_id=call_id, parent_id=parent_id,
                                     model=lm.model, role=role, response="", error=str(e)))
            raise
        self.record(completion.usage)
        u = completion.usage
        self.emit(LMCallFinished(
            run_id=self.run_id, call_id=call_id, parent_id=parent_id, model=lm.model, role=role,
            response=completion.text, prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens, cost_usd=u.cost_usd, latency_s=u.latency_s,
        ))
        return completion
