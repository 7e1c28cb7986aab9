"""Budgets shared by a whole call tree: iterations, LM calls, tokens, USD, wall time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rlm_tui.config import BudgetSettings


class BudgetExceeded(Exception):
    """A budget ran out; carries which one so the run can end with a marked partial answer."""

    def __init__(self, budget: str, limit: float, used: float) -> None:
        super().__init__(f"{budget} budget exhausted ({used:g} of {limit:g})")
        self.budget, self.limit, self.used = budget, limit, used


@dataclass
class Budget:
    """Limits plus what has been used so far; thread-safe, shared by child runs."""

    max_iterations: int | None = 12
    max_lm_calls: int | None = 200
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_seconds: float | None = 600.0
    iterations: int = 0
    lm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: BudgetSettings) -> Budget:
        return cls(**settings.model_dump())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def restart_clock(self) -> None:
        self.started = time.monotonic()

    def add_iteration(self) -> None:
        with self._lock:
            self.iterations += 1

    def charge(self, prompt_tokens: int, completion_tokens: int, cost_usd: float | None) -> None:
        """Record one finished LM call (unknown prices add nothing to the USD count)."""
        with self._lock:
            self.lm_calls += 1
            self.tokens += prompt_tokens + completion_tokens
            self.cost_usd += cost_usd or 0.0

    def exhausted(self) -> BudgetExceeded | None:
        """The first budget that has run out, if any."""
        checks = (
            ("iterations", self.max_iterations, self.iterations),
            ("lm_calls", self.max_lm_calls, self.lm_calls),
            ("tokens", self.max_tokens, self.tokens),
            ("cost_usd", self.max_cost_usd, self.cost_usd),
            ("seconds", self.max_seconds, self.elapsed),
        )
        for name, limit, used in checks:
            if limit is not None and used >= limit:
                return BudgetExceeded(name, limit, used)
        return None

    def check(self) -> None:
        if (exceeded := self.exhausted()) is not None:
            raise exceeded

    def check_call(self) -> None:
        """Before starting an LM call: fail if calls, tokens, cost or time are spent."""
        exceeded = self.exhausted()
        if exceeded is not None and exceeded.budget != "iterations":
            raise exceeded

    def remaining(self) -> dict[str, float | None]:
        return {
            "iterations": None if self.max_iterations is None else self.max_iterations - self.iterations,
            "lm_calls": None if self.max_lm_calls is None else self.max_lm_calls - self.lm_calls,
            "tokens": None if self.max_tokens is None else self.max_tokens - self.tokens,
            "cost_usd": None if self.max_cost_usd is None else self.max_cost_usd - self.cost_usd,
            "seconds": None if self.max_seconds is None else self.max_seconds - self.elapsed,
        }
