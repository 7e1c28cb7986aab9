"""Everything the engine tells the world, as frozen dataclasses.

One stream of these feeds the TUI, the JSONL trace and the headless printer. Each event
carries `run_id` (the top-level run), `call_id` (the node it belongs to) and `parent_id`
(that node's parent), so the `parent_id` links form the call tree:

    run (RunStarted.call_id)
    └── iteration (IterationStarted.call_id)
        ├── root LM call (LMCallStarted/LMToken/LMCallFinished)
        ├── code cell (CodeCell, CellOutput, VariablesChanged), or CodeMissing when the reply had none
        └── sub-call (SubCallStarted/Finished)
            └── child run of rlm_query (RunStarted with parent_id = the sub-call)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rlm_tui.usage import Usage

EVENT_TYPES: dict[str, type[Event]] = {}


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, kw_only=True)
class Event:
    run_id: str
    call_id: str
    parent_id: str | None = None
    ts: float = field(default_factory=time.time)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        EVENT_TYPES[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from `to_dict()` output; unknown keys are ignored."""
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    task: str
    inputs: dict[str, str]
    model: str
    sub_model: str
    project: str = ""  # the host folder mounted at /project; "" in a trace from before it was recorded
    depth: int = 0


@dataclass(frozen=True, kw_only=True)
class IterationStarted(Event):
    iteration: int


@dataclass(frozen=True, kw_only=True)
class LMCallStarted(Event):
    model: str
    role: str
    prompt: str


@dataclass(frozen=True, kw_only=True)
class LMToken(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class LMCallFinished(Event):
    model: str
    role: str
    response: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class CodeCell(Event):
    iteration: int
    reasoning: str
    code: str


OFF_PROTOCOL_AFTER = 2  # replies in a row without a code cell: the model is not following the protocol


@dataclass(frozen=True, kw_only=True)
class CodeMissing(Event):
    """The root LM's reply had no code cell, so the iteration ran nothing. `in_a_row` counts
    such replies back to back in this run."""

    iteration: int
    in_a_row: int

    @property
    def off_protocol(self) -> bool:
        """Enough replies in a row without code to say the model is not following the protocol."""
        return self.in_a_row >= OFF_PROTOCOL_AFTER


@dataclass(frozen=True, kw_only=True)
class CellOutput(Event):
    iteration: int
    stdout: str
    stderr: str
    error: str | None
    duration_s: float
    restarted: bool = False


@dataclass(frozen=True, kw_only=True)
class SubCallStarted(Event):
    function: str  # llm_query, llm_query_batched, predict, rlm_query
    model: str
    prompt: str


@dataclass(frozen=True, kw_only=True)
class SubCallFinished(Event):
    function: str
    model: str
    response: str
    error: str | None = None
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, kw_only=True)
class CallsRefused(Event):
    """Sub-calls the budget refused before sending (`count` of them: a batch's in one event)."""

    function: str
    model: str
    budget: str
    count: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class VariablesChanged(Event):
    variables: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Submitted(Event):
    outputs: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class SubmitRejected(Event):
    error: str


@dataclass(frozen=True, kw_only=True)
class BudgetExhausted(Event):
    budget: str
    limit: float
    used: float


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    outputs: dict[str, Any]
    partial: bool
    usage: Usage
    duration_s: float

    def __post_init__(self) -> None:
        if isinstance(self.usage, dict):  # read back from a trace
            object.__setattr__(self, "usage", Usage.from_dict(self.usage))


@dataclass(frozen=True, kw_only=True)
class RunFailed(Event):
    error: str
    error_type: str
    cancelled: bool = False


@dataclass(frozen=True, kw_only=True)
class TraceCapped(Event):
    """The run's trace reached its byte cap: later long texts keep only their size and hash."""

    limit_bytes: int


@dataclass(frozen=True, kw_only=True)
class Status(Event):
    """Progress outside any LM call: sandbox starting, compiling, resuming."""

    message: str
