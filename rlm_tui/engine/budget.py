"""The budget meter of a whole call tree: what is used of the limits (`config.Budget`: iterations,
LM calls, tokens, USD, wall time, memory) while the tree runs.

Every LM call reserves before it is sent: one call, plus its estimated tokens and cost
(`reserve`), refused with `BudgetExceeded` when that would pass a limit, so concurrent calls
can never all pass a check that only one of them fits. When the call ends the estimate is
replaced by what it really used (`settle`), or given back if it was never sent (`release`).

`max_seconds` is wall-clock for the whole turn. Its last `extract_allowance` seconds are kept
for the extract step that turns the history into a partial answer: calls, tools and cells
stop at `deadline()`, the extract step at `deadline(extract=True)`.

`MemoryPool` is the tree's one memory bound: every sandbox takes its memory cap from it and
gives it back when it closes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rlm_tui.config import Budget

EXTRACT_SHARE = 0.2  # of max_seconds kept for the extract step ...
EXTRACT_MAX_S = 30.0  # ... up to this many seconds
FIRST_COMPLETION_GUESS = 256  # tokens a reply is expected to take before any reply was seen


class BudgetExceeded(Exception):
    """A budget ran out; carries which one so the run can end with a marked partial answer."""

    def __init__(self, budget: str, limit: float, used: float, needed: float | None = None) -> None:
        if needed is None:
            message = f"{budget} budget exhausted ({used:g} of {limit:g})"
        else:
            message = f"{budget} budget exhausted ({used:g} of {limit:g} used; this call needs ~{needed:g} more)"
        super().__init__(message)
        self.budget, self.limit, self.used, self.needed = budget, limit, used, needed


class CallRefused(BudgetExceeded):
    """Raised by `Budget.reserve`: the call would pass a limit and was not sent."""

    def __init__(self, budget: str, limit: float, used: float, needed: float | None = None) -> None:
        super().__init__(budget, limit, used, needed)
        self.args = (f"{self.args[0]}; this call was not sent",)


@dataclass(frozen=True)
class Reservation:
    """What one call holds until it is settled: the call itself, estimated tokens and cost."""

    tokens: int
    cost_usd: float


@dataclass
class BudgetMeter:
    """What has been used (or is reserved) of `limits` so far; thread-safe, shared by child runs."""

    limits: Budget = field(default_factory=Budget)
    iterations: int = 0
    lm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    _settled_calls: int = field(default=0, repr=False, compare=False)
    _completion_tokens: int = field(default=0, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def extract_allowance(self) -> float:
        """Seconds at the end of `max_seconds` kept for the extract step."""
        return 0.0 if self.limits.max_seconds is None else min(EXTRACT_MAX_S, EXTRACT_SHARE * self.limits.max_seconds)

    def deadline(self, *, extract: bool = False) -> float | None:
        """The `time.monotonic()` by which work must stop (None: no time limit)."""
        if self.limits.max_seconds is None:
            return None
        return self.started + self.limits.max_seconds - (0.0 if extract else self.extract_allowance)

    def seconds_left(self, *, extract: bool = False) -> float | None:
        deadline = self.deadline(extract=extract)
        return None if deadline is None else deadline - time.monotonic()

    def add_iteration(self) -> None:
        with self._lock:
            self.iterations += 1

    def expected_completion(self, max_tokens: int | None) -> int:
        """Tokens a reply is expected to use: the mean seen so far in this tree, at most `max_tokens`."""
        with self._lock:
            guess = (self._completion_tokens // self._settled_calls if self._settled_calls
                     else FIRST_COMPLETION_GUESS)
        return max(1, min(guess, max_tokens or guess))

    def reserve(self, tokens: int = 0, cost_usd: float = 0.0, *, past_limits: bool = False) -> Reservation:
        """Hold one call and its estimated tokens and cost, or raise `BudgetExceeded` (and hold
        nothing) when that would pass a limit or the time is up. `past_limits` is for the root
        run's extract step, the one call allowed beyond the call, token and cost limits."""
        with self._lock:
            if not past_limits:
                self._refuse_if_over(tokens, cost_usd)
            self.lm_calls += 1
            self.tokens += tokens
            self.cost_usd += cost_usd
        return Reservation(tokens, cost_usd)

    def _refuse_if_over(self, tokens: int, cost_usd: float) -> None:
        if self.limits.max_lm_calls is not None and self.lm_calls + 1 > self.limits.max_lm_calls:
            raise CallRefused("lm_calls", self.limits.max_lm_calls, self.lm_calls)
        if self.limits.max_tokens is not None and self.tokens + tokens > self.limits.max_tokens:
            if self.tokens >= self.limits.max_tokens:
                raise CallRefused("tokens", self.limits.max_tokens, self.tokens)
            raise CallRefused("tokens", self.limits.max_tokens, self.tokens, tokens)
        if self.limits.max_cost_usd is not None and self.cost_usd + cost_usd > self.limits.max_cost_usd:
            if self.cost_usd >= self.limits.max_cost_usd:
                raise CallRefused("cost_usd", self.limits.max_cost_usd, self.cost_usd)
            raise CallRefused("cost_usd", self.limits.max_cost_usd, self.cost_usd, cost_usd)
        if (left := self.seconds_left()) is not None and left <= 0:
            raise CallRefused("seconds", self.limits.max_seconds, self.elapsed)

    def settle(self, reservation: Reservation, prompt_tokens: int, completion_tokens: int,
               cost_usd: float | None) -> None:
        """A sent call finished (or failed): its estimate becomes what it really used.
        An unknown price adds nothing to the USD count."""
        with self._lock:
            self.tokens += prompt_tokens + completion_tokens - reservation.tokens
            self.cost_usd += (cost_usd or 0.0) - reservation.cost_usd
            if completion_tokens:
                self._settled_calls += 1
                self._completion_tokens += completion_tokens

    def release(self, reservation: Reservation) -> None:
        """The call was never sent (cancelled while it waited): give everything back."""
        with self._lock:
            self.lm_calls -= 1
            self.tokens -= reservation.tokens
            self.cost_usd -= reservation.cost_usd

    def exhausted(self) -> BudgetExceeded | None:
        """The first budget that has run out, if any (time: the deadline before the extract step)."""
        left = self.seconds_left()
        checks = (
            ("iterations", self.limits.max_iterations, self.iterations),
            ("lm_calls", self.limits.max_lm_calls, self.lm_calls),
            ("tokens", self.limits.max_tokens, self.tokens),
            ("cost_usd", self.limits.max_cost_usd, self.cost_usd),
        )
        for name, limit, used in checks:
            if limit is not None and used >= limit:
                return BudgetExceeded(name, limit, used)
        if left is not None and left <= 0:
            return BudgetExceeded("seconds", self.limits.max_seconds, self.elapsed)
        return None


MIN_SANDBOX_MB = 64  # the least a child sandbox is started with (the interpreter boots in less)
CHILD_MEMORY_SHARE = 4  # a child RLM's sandbox gets memory_mb / this from the tree's pool (or what is left)


def child_memory_mb(memory_mb: int) -> int:
    """What a child RLM's sandbox asks of the tree's pool when runs have `memory_mb` each."""
    return max(MIN_SANDBOX_MB, memory_mb // CHILD_MEMORY_SHARE)


class MemoryExhausted(RuntimeError):
    """The tree's memory pool cannot give a new sandbox its minimum."""


class MemoryPool:
    """The memory bound of one run tree: sandboxes take their caps from it and give them back."""

    def __init__(self, total_mb: int) -> None:
        self.total_mb = total_mb
        self.used_mb = 0
        self.peak_mb = 0
        self._lock = threading.Lock()

    @property
    def free_mb(self) -> int:
        return self.total_mb - self.used_mb

    def take(self, want_mb: int, minimum_mb: int = MIN_SANDBOX_MB) -> int:
        """Up to `want_mb` (at least `minimum_mb`, else `MemoryExhausted`); give it back with `give`."""
        with self._lock:
            got = min(want_mb, self.free_mb)
            if got < minimum_mb:
                raise MemoryExhausted(
                    f"the run's memory pool is spent ({self.used_mb} of {self.total_mb} MB held by open "
                    f"sandboxes; a new one needs at least {minimum_mb} MB): wait for running sub-tasks "
                    f"to finish, run fewer at once, or raise max_memory_mb")
            self.used_mb += got
            self.peak_mb = max(self.peak_mb, self.used_mb)
            return got

    def give(self, mb: int) -> None:
        with self._lock:
            self.used_mb -= mb
