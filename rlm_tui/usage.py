"""`Usage`: what LM calls (and a run's iterations) used, the one shape it has everywhere: an
LM call's completion, `RunFinished`, the `Prediction`, a chat turn's `TurnResult`, the TUI.
No imports beyond the standard library, so any layer may hold one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    """What LM calls used. Additive.

    ``cost_usd`` is what the calls of known price cost; ``unpriced_calls`` counts the calls whose
    price is unknown (not in ``cost_usd``, never silently 0). ``cost_usd`` is ``None`` only when
    there were calls and none had a known price. A one-call ``Usage(..., cost_usd=None, ...,
    lm_calls=1)`` counts itself as unpriced. ``iterations`` counts a run's root-LM steps.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0
    lm_calls: int = 0
    unpriced_calls: int = 0
    iterations: int = 0

    def __post_init__(self) -> None:
        if self.cost_usd is None and self.lm_calls and not self.unpriced_calls:
            object.__setattr__(self, "unpriced_calls", self.lm_calls)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        """From `to_dict()` output (a trace line); unknown keys are ignored, missing ones are 0."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and (v is not None or k == "cost_usd")})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        """Every call's price is known, so ``cost_usd`` is the whole cost."""
        return self.unpriced_calls == 0 and self.cost_usd is not None

    def cost_text(self, free: bool = False) -> str:
        """``$0.0123``, ``$0.0123 + 2 calls of unknown price``, or ``unknown price (3 calls)``;
        ``free`` when the calls were to local (offline) models, which have no price."""
        if free:
            return "free"
        if self.cost_usd is None or (self.unpriced_calls and not self.cost_usd):  # never "$0 + 3 of unknown price"
            return f"unknown price ({self.unpriced_calls} call{'s' * (self.unpriced_calls != 1)})"
        text = usd_text(self.cost_usd)
        if self.unpriced_calls:
            text += f" + {self.unpriced_calls} call{'s' * (self.unpriced_calls != 1)} of unknown price"
        return text

    def summary(self, free: bool = False) -> str:
        """``12 LM calls, 3,456 tokens, $0.0123`` (the cost as in `cost_text`)."""
        return (f"{self.lm_calls} LM call{'s' * (self.lm_calls != 1)}, {self.total_tokens:,} tokens, "
                f"{self.cost_text(free)}")

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        calls = self.lm_calls + other.lm_calls
        unpriced = self.unpriced_calls + other.unpriced_calls
        known = [u.cost_usd for u in (self, other) if u.cost_usd is not None]
        cost = sum(known) if known and (unpriced < calls or calls == 0) else (None if calls else 0.0)
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=cost,
            latency_s=self.latency_s + other.latency_s,
            lm_calls=calls,
            unpriced_calls=unpriced,
            iterations=self.iterations + other.iterations,
        )


def usd_text(usd: float) -> str:
    """`$0.0123`; `$0` for nothing and `<$0.0001` for a cost too small for four decimals: never
    `$0.0000`."""
    if usd == 0:
        return "$0"
    return "<$0.0001" if 0 < usd < 0.0001 else f"${usd:.4f}"
