"""What one call tree shares: LMs, budget meter, memory, usage, event sink, cancellation, concurrency.

Every LM call of the tree goes through `reserve` (before anything is emitted or sent) and
`spend` (send within the deadline, then settle the reservation with the real usage).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rlm_tui.lm.client import LM, Completion, Usage, price_usd
from rlm_tui.lm.facts import CHARS_PER_TOKEN
from rlm_tui.engine.budget import BudgetExceeded, BudgetMeter, MemoryPool, Reservation
from rlm_tui.engine.events import Event, LMCallFinished, LMCallStarted, LMToken, new_id

if TYPE_CHECKING:
    from rlm_tui.sandbox.disk_quota import DiskQuota

EventSink = Callable[[Event], None]
T = TypeVar("T")


class Cancelled(Exception):
    """The user cancelled the running turn."""


@dataclass
class RunContext:
    """Shared by a root run and every child run and sub-call under it."""

    lm: LM
    sub_lm: LM
    project: Path
    meter: BudgetMeter
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
    system_prompt: str | None = None  # a template in place of prompts.SYSTEM (`RLM(system_prompt=...)`)
    skills_path: list[str] = field(default_factory=list)
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    tool_timeout_s: float = 60.0
    load_skill: Callable[[str], str] | None = None
    compact_prompt: bool = False
    run_id: str = field(default_factory=new_id)
    usage: Usage = field(default_factory=Usage)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    memory: MemoryPool | None = None  # built from the limits' max_memory_mb when not given
    _semaphore: asyncio.Semaphore | None = None
    _usage_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.memory is None:
            self.memory = MemoryPool(self.meter.limits.max_memory_mb or 2 * self.memory_mb)

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

    def used(self) -> Usage:
        """What the tree has used: its LM usage, with the meter's counts of LM calls (a call
        that failed after it was sent counts too) and of iterations."""
        with self._usage_lock:
            usage = self.usage
        return dataclasses.replace(usage, lm_calls=self.meter.lm_calls, iterations=self.meter.iterations)

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("the turn was cancelled")

    def reserve(self, lm: LM, prompt_chars: int, *, extract: bool = False) -> Reservation:
        """Hold one call of `lm` with a prompt of `prompt_chars` from the budget, or raise
        `BudgetExceeded`. `extract`: the root run's extract step, allowed past the limits."""
        self.check_cancel()
        prompt = math.ceil(prompt_chars / CHARS_PER_TOKEN)
        completion = self.meter.expected_completion(lm.max_tokens)
        cost = price_usd(lm.model, prompt, completion) if self.meter.limits.max_cost_usd is not None else 0.0
        return self.meter.reserve(prompt + completion, cost or 0.0, past_limits=extract)

    async def spend(self, reservation: Reservation, send: Callable[[], Awaitable[tuple[T, Usage]]], *,
                    queue: bool = False, extract: bool = False) -> tuple[T, Usage]:
        """Send a reserved call (after a place under the concurrency limit when `queue`), cut at
        the deadline (`BudgetExceeded('seconds')`), and settle its reservation with its usage."""
        sent = False

        async def go() -> tuple[T, Usage]:
            nonlocal sent
            async with self.semaphore if queue else contextlib.nullcontext():
                self.check_cancel()
                sent = True
                return await send()

        try:
            value, usage = await self.within_deadline(go(), extract=extract)
        except BaseException:
            if sent:
                self.meter.settle(reservation, 0, 0, 0.0)
            else:
                self.meter.release(reservation)
            raise
        self.meter.settle(reservation, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd)
        with self._usage_lock:
            self.usage = self.usage + usage
        return value, usage

    async def within_deadline(self, work: Awaitable[T], *, extract: bool = False) -> T:
        """Await `work`, cancelled at the budget's deadline with `BudgetExceeded('seconds')`."""
        left = self.meter.seconds_left(extract=extract)
        if left is None:
            return await work
        try:
            async with asyncio.timeout(max(0.0, left)) as scope:
                return await work
        except TimeoutError:
            if not scope.expired():
                raise
            raise BudgetExceeded("seconds", self.meter.limits.max_seconds, self.meter.elapsed) from None

    async def complete(
        self,
        lm: LM,
        messages: list[dict[str, Any]],
        *,
        role: str,
        call_id: str,
        parent_id: str,
        stream: bool = False,
        extract: bool = False,
    ) -> Completion:
        """One LM call with its events, budget and usage accounting (`extract`: see `reserve`)."""
        reservation = self.reserve(lm, sum(len(str(m.get("content", ""))) for m in messages), extract=extract)
        prompt = messages[-1]["content"] if messages else ""
        self.emit(LMCallStarted(run_id=self.run_id, call_id=call_id, parent_id=parent_id,
                                model=lm.model, role=role, prompt=prompt))

        def on_token(text: str) -> None:
            self.emit(LMToken(run_id=self.run_id, call_id=call_id, parent_id=parent_id, text=text))

        async def send() -> tuple[Completion, Usage]:
            completion = await lm.acomplete(messages, on_token=on_token if stream else None)
            return completion, completion.usage

        try:
            completion, _ = await self.spend(reservation, send, extract=extract)
        except (Exception, asyncio.CancelledError) as e:
            error = "cancelled" if isinstance(e, asyncio.CancelledError) else str(e)
            self.emit(LMCallFinished(run_id=self.run_id, call_id=call_id, parent_id=parent_id,
                                     model=lm.model, role=role, response="", error=error))
            raise
        u = completion.usage
        self.emit(LMCallFinished(
            run_id=self.run_id, call_id=call_id, parent_id=parent_id, model=lm.model, role=role,
            response=completion.text, prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens, cost_usd=u.cost_usd, latency_s=u.latency_s,
        ))
        return completion
