"""`--dry-run`: what a run would cost before it spends anything: tasks, tokens, USD, wall time.

Nothing is sent to any LM. Tokens per task come from each task's context size; prices from
litellm's price map for the configured models. The model of a run is stated in the output:

- direct: one call whose prompt is the context (cut to the window) plus the question, and a
  short reply (`DIRECT_REPLY` tokens);
- rlm: `ROOT_ITERATIONS` root iterations (capped by the iteration budget), each prompt the
  system prompt and question plus the history so far (`STEP_TOKENS` per earlier step), each
  reply `ROOT_REPLY` tokens; and one pass of sub-LM calls over the whole context in
  `SUB_CHUNK`-token chunks with `SUB_REPLY`-token replies. Real RLM runs vary widely around this
  (the paper reports a standard deviation about the size of the mean);
- an LM judge (browsecomp-plus) adds one `JUDGE_PROMPT` / `JUDGE_REPLY` call per answer.

Wall time assumes `CALL_OVERHEAD_S` per call, `PREFILL_TPS` prompt and `DECODE_TPS` reply tokens
per second, sub-calls `Settings.concurrency` at a time, tasks `--concurrency` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rlm_tui.eval.modes import direct_reserve
from rlm_tui.lm.client import price_usd

DIRECT_REPLY = 64
ROOT_ITERATIONS = 6
SYSTEM_TOKENS = 1500
STEP_TOKENS = 700
ROOT_REPLY = 300
SUB_CHUNK = 50_000
SUB_REPLY = 200
JUDGE_PROMPT, JUDGE_REPLY = 800, 150
CALL_OVERHEAD_S = 1.0
PREFILL_TPS = 5000.0
DECODE_TPS = 60.0


@dataclass
class Line:
    """One mode's (or the judge's) totals."""

    mode: str
    runs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float | None = 0.0
    seconds: float = 0.0
    unpriced: set[str] = field(default_factory=set)

    def add(self, model: str, prompt: int, completion: int, seconds: float) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.seconds += seconds
        cost = price_usd(model, prompt, completion)
        if cost is None:
            self.unpriced.add(model)
            self.usd = None
        elif self.usd is not None:
            self.usd += cost


@dataclass
class Estimate:
    tasks: int
    families: dict[str, int]
    lines: list[Line]
    concurrency: int
    models: str
    notes: list[str]

    @property
    def usd(self) -> float | None:
        costs = [line.usd for line in self.lines]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    @property
    def wall_s(self) -> float:
        return sum(line.seconds for line in self.lines) / max(1, self.concurrency)

    def format(self) -> str:
        runs = sum(line.runs for line in self.lines if line.mode != "judge")
        families = ", ".join(f"{name} {count}" for name, count in self.families.items())
        out = [f"dry run: {self.tasks} task(s) ({families}), {runs} run(s) on {self.models}; no LM was called",
               "", f"{'mode':<8} {'runs':>6} {'prompt tokens':>15} {'completion tokens':>18} {'USD (est.)':>12}"]
        for line in self.lines:
            usd = "n/a" if line.usd is None else f"{line.usd:.4f}"
            out.append(f"{line.mode:<8} {line.runs:>6} {line.prompt_tokens:>15,} {line.completion_tokens:>18,} "
                       f"{usd:>12}")
        total = "n/a" if self.usd is None else f"{self.usd:.4f}"
        out.append(f"{'total':<8} {'':>6} {'':>15} {'':>18} {total:>12}")
        for line in self.lines:
            for model in sorted(line.unpriced):
                out.append(f"(no price for {model} in litellm's map: its USD is unknown)")
        out += ["", f"wall time at --concurrency {self.concurrency}: about {_duration(self.wall_s)}", *self.notes]
        return "\n".join(out)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _call_s(prompt: int, completion: int) -> float:
    return CALL_OVERHEAD_S + prompt / PREFILL_TPS + completion / DECODE_TPS


def rlm_tokens(tokens: int, question: int, iterations: int) -> tuple[int, int, int, int]:
    """(root prompt, root reply, sub prompt, sub reply) tokens of one RLM run, by the model above."""
    root_prompt = iterations * (SYSTEM_TOKENS + question) + STEP_TOKENS * iterations * (iterations - 1) // 2
    calls = max(1, math.ceil(tokens / SUB_CHUNK)) if tokens else 0
    return root_prompt, iterations * ROOT_REPLY, tokens + 200 * calls, SUB_REPLY * calls


def estimate(runner: Any) -> Estimate:
    """The estimate for `runner`'s plan (a `Runner`; nothing is run)."""
    config, settings = runner.config, runner.settings
    lm, sub, judge = runner.lm, runner.sub_lm, runner.judge_lm
    tasks = runner.plan()
    window = runner.direct_window()
    iterations = min(ROOT_ITERATIONS, settings.budget.max_iterations or ROOT_ITERATIONS)
    lines = {mode: Line(mode) for mode in config.modes}
    judge_line = Line("judge")
    families: dict[str, int] = {}
    notes = []
    for task in tasks:
        families[task.family] = families.get(task.family, 0) + 1
        family = runner.families[task.family]
        tokens, question, judged = task.tokens, 100, False
        if not tokens or getattr(family, "name", "") == "browsecomp-plus":
            try:
                instance = family.build(task)
            except Exception as e:  # the codebase cannot be fetched here, say
                notes.append(f"note: {task.id} could not be built to measure it ({e}); counted as empty")
                instance = None
            if instance is not None:
                tokens, question, judged = instance.context_tokens, len(instance.question) // 4, bool(instance.judge)
                if instance.cleanup is not None:
                    instance.cleanup()
        for mode, line in lines.items():
            line.runs += 1
            if mode == "direct":
                prompt = min(tokens, max(0, window - direct_reserve(lm, window, question * 4))) + question + 60
                line.add(lm.model, prompt, DIRECT_REPLY, _call_s(prompt, DIRECT_REPLY))
            else:
                root_prompt, root_reply, sub_prompt, sub_reply = rlm_tokens(tokens, question, iterations)
                calls = max(1, math.ceil(tokens / SUB_CHUNK)) if tokens else 0
                root_s = iterations * CALL_OVERHEAD_S + root_prompt / PREFILL_TPS + root_reply / DECODE_TPS
                sub_s = math.ceil(calls / max(1, settings.concurrency)) * _call_s(SUB_CHUNK, SUB_REPLY) if calls else 0
                line.add(lm.model, root_prompt, root_reply, root_s)
                line.add(sub.model, sub_prompt, sub_reply, sub_s)
            if judged:
                judge_line.runs += 1
                judge_line.add(judge.model, JUDGE_PROMPT, JUDGE_REPLY, _call_s(JUDGE_PROMPT, JUDGE_REPLY))
    models = lm.model if sub.model == lm.model else f"{lm.model} (sub-model {sub.model})"
    notes.append(f"(assumes {iterations} root iterations and one sub-LM pass over each context for rlm; "
                 f"{PREFILL_TPS:,.0f} prompt and {DECODE_TPS:.0f} reply tokens/s; real runs vary)")
    if config.max_cost_usd is not None:
        notes.append(f"--max-cost ${config.max_cost_usd:g} would stop the run once reached")
    all_lines = [*lines.values(), *([judge_line] if judge_line.runs else [])]
    return Estimate(len(tasks), families, all_lines, config.concurrency, models, notes)
