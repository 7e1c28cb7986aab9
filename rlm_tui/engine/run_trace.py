"""`RunTrace`: one run as a typed record, folded from its events (the one place that does it).

The same events feed the JSONL trace, so `RunTrace.from_events(read_trace(path))` equals the
`prediction.trace` of the run that wrote it (and the `err.trace` of one that failed):

    RunTrace
    ├── iterations: Iteration (reasoning, code, output, error, duration, its root LMCall)
    │   └── sub_calls: SubCall (function, model, tokens, cost, latency; a batch's items as
    │       `items`, an `rlm_query` child run as `run`, itself a RunTrace)
    ├── extract: the LM calls outside any iteration (the extract step after a budget ran out)
    └── usage, root_usage, sub_usage: all of it; the run's own root-LM calls; everything else
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from rlm_tui.engine import events as ev
from rlm_tui.usage import Usage

Status = Literal["running", "finished", "failed", "cancelled"]
LM_FUNCTIONS = ("llm_query", "predict", "rlm_query")  # sub-calls that are one LM call of their own


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # computed usage fields come back from JSON


class LMCall(_Record):
    """One root-LM request (an iteration's reply, or the extract step)."""

    call_id: str
    model: str
    role: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    error: str | None = None

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens, self.cost_usd, self.latency_s, lm_calls=1)


class Refusal(_Record):
    """Sub-calls the budget refused before sending them."""

    function: str
    model: str
    budget: str
    count: int
    reason: str


class SubCall(_Record):
    """A guest function call: `llm_query`, `predict`, `rlm_query`, a batch, a tool."""

    call_id: str
    function: str
    model: str
    prompt: str = ""
    response: str = ""
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    items: list[SubCall] = Field(default_factory=list)  # a batch's calls
    refused: list[Refusal] = Field(default_factory=list)
    run: RunTrace | None = None  # the child run of an `rlm_query`

    @property
    def usage(self) -> Usage:
        """This call's LM usage, its items' and its child run's included."""
        own = Usage()
        if self.run is not None:
            own = self.run.usage
        elif self.function in LM_FUNCTIONS:
            own = Usage(self.prompt_tokens, self.completion_tokens, self.cost_usd, self.latency_s, lm_calls=1)
        return sum((item.usage for item in self.items), own)


class Iteration(_Record):
    """One root-LM step: its reply, the code it ran and what that printed."""

    call_id: str
    iteration: int
    reasoning: str = ""
    code: str | None = None  # None: the reply had no code block
    output: str = ""
    stderr: str = ""
    error: str | None = None
    cell_s: float = 0.0  # the code cell's run time
    duration_s: float = 0.0  # the whole step: LM reply, cell, sub-calls
    restarted: bool = False
    lm_calls: list[LMCall] = Field(default_factory=list)  # the reply (two when the first overflowed the window)
    sub_calls: list[SubCall] = Field(default_factory=list)
    refused: list[Refusal] = Field(default_factory=list)
    submitted: dict[str, Any] | None = None
    submit_rejected: list[str] = Field(default_factory=list)


class RunTrace(_Record):
    """A run (a turn, or an `rlm_query` child): what it did, step by step, and what it used."""

    run_id: str
    call_id: str
    task: str
    inputs: dict[str, str] = Field(default_factory=dict)
    model: str = ""
    sub_model: str = ""
    depth: int = 0
    status: Status = "running"
    outputs: dict[str, Any] = Field(default_factory=dict)
    partial: bool = False
    budget_exhausted: str | None = None
    error: str | None = None
    error_type: str | None = None
    duration_s: float = 0.0
    iterations: list[Iteration] = Field(default_factory=list)
    extract: list[LMCall] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def root_usage(self) -> Usage:
        """What this run's own root-LM calls used (the iterations' replies and the extract step)."""
        calls = [call for i in self.iterations for call in i.lm_calls] + self.extract
        return sum((call.usage for call in calls), Usage())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sub_usage(self) -> Usage:
        """What everything below the root LM used: sub-LM calls and child runs, all depths."""
        return sum((call.usage for call in self.sub_calls), Usage())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usage(self) -> Usage:
        return self.root_usage + self.sub_usage

    @property
    def sub_calls(self) -> list[SubCall]:
        """The sub-calls this run's code made, in order (a batch's items stay under it)."""
        return [call for iteration in self.iterations for call in iteration.sub_calls]

    @classmethod
    def from_events(cls, events: Iterable[ev.Event], call_id: str | None = None) -> RunTrace:
        """The run `call_id` (default: the last top-level run) among `events`."""
        traces = _Fold(events)
        if call_id is None:
            tops = [e.call_id for e in traces.runs.values() if e.parent_id is None]
            if not tops:
                raise ValueError("no run in these events")
            call_id = tops[-1]
        if call_id not in traces.runs:
            raise ValueError(f"no run {call_id!r} in these events")
        return traces.run(call_id)


def run_traces(events: Iterable[ev.Event]) -> list[RunTrace]:
    """Every top-level run among `events` (a chat session's trace holds one per turn)."""
    fold = _Fold(events)
    return [fold.run(e.call_id) for e in fold.runs.values() if e.parent_id is None]


class _Fold:
    """Events indexed by the node they belong to, then built into records on demand."""

    def __init__(self, events: Iterable[ev.Event]) -> None:
        self.runs: dict[str, ev.RunStarted] = {}
        self.by_node: dict[str, list[ev.Event]] = defaultdict(list)  # events whose call_id is the node
        self.below: dict[str, list[ev.Event]] = defaultdict(list)  # events whose parent_id is the node
        for e in events:
            if isinstance(e, ev.LMToken):
                continue  # never in the JSONL trace: LMCallFinished has the whole text
            if isinstance(e, ev.RunStarted):
                self.runs[e.call_id] = e
            self.by_node[e.call_id].append(e)
            if e.parent_id is not None:
                self.below[e.parent_id].append(e)

    def run(self, call_id: str) -> RunTrace:
        start = self.runs[call_id]
        fields: dict[str, Any] = {}
        end = start.ts
        for e in self.by_node[call_id]:
            end = max(end, e.ts)
            if isinstance(e, ev.RunFinished):
                fields.update(status="finished", outputs=e.outputs, partial=e.partial, duration_s=e.duration_s)
            elif isinstance(e, ev.RunFailed):
                fields.update(status="cancelled" if e.cancelled else "failed", error=e.error,
                              error_type=e.error_type, duration_s=e.ts - start.ts)
            elif isinstance(e, ev.BudgetExhausted):
                fields["budget_exhausted"] = e.budget
        below = self.below[call_id]
        iterations = [self.iteration(e) for e in below if isinstance(e, ev.IterationStarted)]
        extract = [call for e in below if isinstance(e, ev.LMCallStarted) and (call := self.lm_call(e.call_id))]
        return RunTrace(
            run_id=start.run_id, call_id=call_id, task=start.task, inputs=start.inputs, model=start.model,
            sub_model=start.sub_model, depth=start.depth, iterations=iterations, extract=extract,
            **{"duration_s": end - start.ts, **fields},
        )

    def iteration(self, start: ev.IterationStarted) -> Iteration:
        fields: dict[str, Any] = {"submit_rejected": []}
        end = start.ts
        for e in self.by_node[start.call_id]:
            end = max(end, e.ts)
            if isinstance(e, ev.CodeCell):
                fields.update(reasoning=e.reasoning, code=e.code)
            elif isinstance(e, ev.CellOutput):
                fields.update(output=e.stdout, stderr=e.stderr, error=e.error, cell_s=e.duration_s,
                              restarted=e.restarted)
            elif isinstance(e, ev.Submitted):
                fields["submitted"] = e.outputs
            elif isinstance(e, ev.SubmitRejected):
                fields["submit_rejected"].append(e.error)
        below = self.below[start.call_id]
        calls = [call for e in below if isinstance(e, ev.LMCallStarted) and (call := self.lm_call(e.call_id))]
        for call in calls:
            end = max(end, *(e.ts for e in self.by_node[call.call_id]))
        return Iteration(
            call_id=start.call_id, iteration=start.iteration, duration_s=end - start.ts,
            lm_calls=calls, sub_calls=self.sub_calls(below),
            refused=self.refusals(below), **fields,
        )

    def lm_call(self, call_id: str) -> LMCall | None:
        done = _last(self.by_node[call_id], ev.LMCallFinished)
        started = _last(self.by_node[call_id], ev.LMCallStarted)
        if started is None:
            return None
        if done is None:
            return LMCall(call_id=call_id, model=started.model, role=started.role)
        return LMCall(call_id=call_id, model=done.model, role=done.role, prompt_tokens=done.prompt_tokens,
                      completion_tokens=done.completion_tokens, cost_usd=done.cost_usd,
                      latency_s=done.latency_s, error=done.error)

    def sub_calls(self, below: list[ev.Event]) -> list[SubCall]:
        return [self.sub_call(e) for e in below if isinstance(e, ev.SubCallStarted)]

    def sub_call(self, start: ev.SubCallStarted) -> SubCall:
        below = self.below[start.call_id]
        child = next((e.call_id for e in below if isinstance(e, ev.RunStarted)), None)
        fields: dict[str, Any] = {}
        done = _last(self.by_node[start.call_id], ev.SubCallFinished)
        if done is not None:
            fields.update(response=done.response, error=done.error, latency_s=done.duration_s,
                          prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                          cost_usd=done.cost_usd)
        return SubCall(
            call_id=start.call_id, function=start.function, model=start.model, prompt=start.prompt,
            items=self.sub_calls(below), refused=self.refusals(below),
            run=self.run(child) if child is not None else None, **fields,
        )

    @staticmethod
    def refusals(below: list[ev.Event]) -> list[Refusal]:
        return [Refusal(function=e.function, model=e.model, budget=e.budget, count=e.count, reason=e.reason)
                for e in below if isinstance(e, ev.CallsRefused)]


def _last(events: list[ev.Event], kind: type[ev.Event]) -> Any:
    return next((e for e in reversed(events) if isinstance(e, kind)), None)


class TraceRecorder:
    """An event sink that keeps what passes through it (and hands it on to `inner`), so a run's
    `RunTrace` can be built when it ends."""

    def __init__(self, inner: Callable[[ev.Event], None]) -> None:
        self.inner = inner
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        if not isinstance(event, ev.LMToken):
            self.events.append(event)
        self.inner(event)

    def trace(self, call_id: str) -> RunTrace | None:
        """The run `call_id` so far (None when it never started)."""
        try:
            return RunTrace.from_events(self.events, call_id)
        except ValueError:
            return None


SubCall.model_rebuild()
