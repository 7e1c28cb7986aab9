"""Run eval tasks in both modes, concurrently within a limit, appending each result as it lands.

`results.jsonl` gets one line per finished (task, mode); `--resume` skips those already there
(errors are retried, a unit is never counted twice). `--max-cost` stops the whole eval once this
run's spend reaches it: no unit starts after that, the running ones are cancelled (they run again
on `--resume`), and what finished is kept. At the end `results.json` (config, summary rows,
records), `results.md` (the table, failures first) and `results.png` (the chart) are written, also
after an interruption, for what finished.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlm_tui.config import Settings
from rlm_tui.eval.aggregate import AggregateFamily
from rlm_tui.eval.charts import write_png
from rlm_tui.eval.code_rate import count_code_cells
from rlm_tui.eval.codebase import CodebaseFamily
from rlm_tui.eval.modes import Models, answer_direct, answer_rlm
from rlm_tui.eval.needle import NeedleFamily
from rlm_tui.eval.report import SCORING, markdown, summarize
from rlm_tui.eval.tasks import Family, Instance, Task, plan

MODES = ("rlm", "direct")
GENERATED = ("needle", "aggregate", "codebase")


def default_families() -> dict[str, Family]:
    return {"needle": NeedleFamily(), "aggregate": AggregateFamily(), "codebase": CodebaseFamily()}


class EvalError(Exception):
    """A usage problem (existing results without --resume, unknown family, ...)."""


@dataclass
class EvalConfig:
    model: str
    sub_model: str | None = None
    families: list[str] = field(default_factory=lambda: list(GENERATED))
    sizes: list[str] | None = None
    n: int = 2
    seed: int = 0
    modes: list[str] = field(default_factory=lambda: list(MODES))
    out: Path = Path("eval-results")
    concurrency: int = 4
    resume: bool = False
    context_window: int | None = None  # the direct mode's window in tokens (default: the model's)
    traces: bool = True
    max_cost_usd: float | None = None  # this run's spend (LM calls and judging) that stops the eval
    judge_model: str | None = None  # the LM judge where a benchmark's rule needs one (default: sub-model)
    datasets: dict[str, str] = field(default_factory=dict)  # name -> PATH, for the record

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


@dataclass
class EvalResults:
    config: dict[str, Any]
    records: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    results_json: Path
    results_md: Path
    stopped: str | None = None  # why the run stopped early (the --max-cost), else None


def trace_name(task_id: str, mode: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", task_id.replace("/", "_")) + f".{mode}.jsonl"


class Reporter(Protocol):
    """Where a run reports its progress (the eval command's is `progress.EvalProgress`)."""

    def begin(self, total: int, done: int) -> None: ...
    def started_unit(self, name: str) -> None: ...
    def finished_unit(self, name: str, record: dict[str, Any]) -> None: ...
    def note(self, line: str) -> None: ...
    def close(self) -> None: ...


class Silent:
    """A `Reporter` that reports nothing."""

    def begin(self, total: int, done: int) -> None:
        pass

    def started_unit(self, name: str) -> None:
        pass

    def finished_unit(self, name: str, record: dict[str, Any]) -> None:
        pass

    def note(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


class Runner:
    def __init__(self, config: EvalConfig, settings: Settings, families: dict[str, Family] | None = None,
                 progress: Reporter | None = None) -> None:
        from rlm_tui.lm.build import build_lms
        from rlm_tui.lm.client import LM

        self.config, self.settings = config, settings
        self.families = families or default_families()
        unknown = [f for f in config.families if f not in self.families]
        if unknown:
            raise EvalError(f"unknown task famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                            f"choose from {', '.join(self.families)} (published benchmarks: --dataset NAME PATH)")
        bad_modes = [m for m in config.modes if m not in MODES]
        if bad_modes:
            raise EvalError(f"unknown mode(s) {', '.join(bad_modes)}; choose from {', '.join(MODES)}")
        self.lm, self.sub_lm, self.roles = build_lms(settings)
        self.judge_lm = self.sub_lm
        if config.judge_model:
            key = settings.api_key.get_secret_value() if settings.api_key else None
            self.judge_lm = LM(config.judge_model, api_base=settings.api_base, api_key=key)
        self.models = Models(self.lm, self.sub_lm, self.roles, settings)
        self.progress: Reporter = progress if progress is not None else Silent()
        self.out = Path(config.out)
        self.jsonl = self.out / "results.jsonl"
        self._instances: dict[str, asyncio.Task[Instance]] = {}
        self._remaining: dict[str, int] = {}
        self._write_lock = asyncio.Lock()
        self.spent = 0.0
        self.stopped: str | None = None

    # -- public ------------------------------------------------------------------------------------

    def plan(self) -> list[Task]:
        c = self.config
        return plan(self.families, c.families, c.sizes, c.n, c.seed)

    async def run(self) -> EvalResults:
        config = self.config
        _preload()
        tasks = self.plan()
        previous = self._previous()
        done = {(r["id"], r["mode"]) for r in previous if not r.get("error")}
        units = [(t, m) for t in tasks for m in config.modes if (t.id, m) not in done]
        planned = {(t.id, m) for t in tasks for m in config.modes}
        kept = [r for r in previous if (r["id"], r["mode"]) in planned and not r.get("error")]
        for task, _ in units:
            self._remaining[task.id] = self._remaining.get(task.id, 0) + 1
        progress = self.progress
        progress.begin(len(planned), len(planned) - len(units))
        semaphore = asyncio.Semaphore(max(1, config.concurrency))
        fresh: list[dict[str, Any]] = []
        running: set[asyncio.Task[None]] = set()

        async def one(task: Task, mode: str) -> None:
            async with semaphore:
                if self.stopped:
                    return
                name = f"{task.id} [{mode}]"
                progress.started_unit(name)
                record = await self._unit(task, mode)
                async with self._write_lock:
                    with self.jsonl.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(record, default=str) + "\n")
                fresh.append(record)
                progress.finished_unit(name, record)
                self.spent += (record.get("cost_usd") or 0.0) + (record.get("judge_cost_usd") or 0.0)
                if config.max_cost_usd is not None and self.spent >= config.max_cost_usd and not self.stopped:
                    self.stopped = (f"--max-cost ${config.max_cost_usd:g} reached (${self.spent:.4f} spent this run); "
                                    "rerun with --resume to continue")
                    for other in running:
                        if other is not asyncio.current_task():
                            other.cancel()

        try:
            running.update(asyncio.ensure_future(one(t, m)) for t, m in units)
            outcomes = await asyncio.gather(*running, return_exceptions=True)
            failures = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, asyncio.CancelledError)]
            if failures:
                raise failures[0]
        finally:
            for unit in running:
                unit.cancel()
            progress.close()
            results = self._write(kept + fresh)
        if self.stopped:
            progress.note(f"stopped: {self.stopped}")
        return results

    # -- one (task, mode) ----------------------------------------------------------------------------

    async def _instance(self, task: Task) -> Instance:
        if task.id not in self._instances:
            family = self.families[task.family]
            self._instances[task.id] = asyncio.ensure_future(asyncio.to_thread(family.build, task))
        return await self._instances[task.id]

    async def _unit(self, task: Task, mode: str) -> dict[str, Any]:
        config = self.config
        record: dict[str, Any] = {
            "id": task.id, "family": task.family, "variant": task.variant, "size": task.size,
            "index": task.index, "mode": mode, "seed": config.seed, "model": self.lm.model,
            "sub_model": self.sub_lm.model if mode == "rlm" else None,
        }
        trace = None
        if config.traces:
            folder = self.out / "traces" / ("direct" if mode == "direct" else "")
            trace = folder / trace_name(task.id, mode)
            trace.parent.mkdir(parents=True, exist_ok=True)
            trace.unlink(missing_ok=True)  # a retried unit starts a fresh trace
            record["trace"] = str(trace.relative_to(self.out))
        started = time.monotonic()
        try:
            instance = await self._instance(task)
            record.update(question=instance.question, expected=instance.expected, scoring=instance.scoring,
                          context_tokens=instance.context_tokens)
            if mode == "rlm":
                files = self.out / "files" / trace_name(task.id, "rlm").removesuffix(".rlm.jsonl")
                answer = await answer_rlm(instance, record, self.models, trace=trace, files_dir=files)
            else:
                answer = await answer_direct(instance, record, self.lm, self.direct_window(), trace=trace)
            record["answer"] = answer
            if instance.judge is not None:
                judged = await instance.judge(answer, instance.expected, self.judge_lm)
                record.update(score=round(judged.score, 4), judge_verdict=judged.verdict[:2000],
                              judge_model=self.judge_lm.model, judge_cost_usd=judged.cost_usd,
                              judge_tokens=judged.prompt_tokens + judged.completion_tokens)
            else:
                assert instance.score is not None
                record["score"] = round(float(instance.score(answer, instance.expected)), 4)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed task is a result (score 0), not a failed run
            record.update(answer=None, score=0.0, error=f"{type(e).__name__}: {e}")
        finally:
            self._release(task.id)
        if trace is not None and not trace.exists():
            record.pop("trace")
        elif trace is not None and mode == "rlm":
            counted = count_code_cells(trace)
            record.update(root_iterations=counted.iterations, no_code_iterations=counted.no_code)
        record["correct"] = record.get("score") == 1.0
        record["wall_s"] = round(time.monotonic() - started, 3)
        record["tokens"] = (record.get("prompt_tokens") or 0) + (record.get("completion_tokens") or 0)
        return record

    def _release(self, task_id: str) -> None:
        self._remaining[task_id] = self._remaining.get(task_id, 1) - 1
        if self._remaining[task_id] <= 0:
            future = self._instances.pop(task_id, None)  # let a big context go once both modes are done
            if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                cleanup = future.result().cleanup
                if cleanup is not None:
                    cleanup()

    def direct_window(self) -> int:
        from rlm_tui.lm.facts import context_window

        return self.config.context_window or context_window(self.lm.model)

    # -- files -------------------------------------------------------------------------------------

    def _previous(self) -> list[dict[str, Any]]:
        self.out.mkdir(parents=True, exist_ok=True)
        if not self.jsonl.exists():
            return []
        if not self.config.resume:
            raise EvalError(f"{self.jsonl} already holds results: pass --resume to continue that run, "
                            "or choose another --out")
        records = []
        for line in self.jsonl.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by an interruption
            same = (record.get("seed") == self.config.seed and record.get("model") == self.lm.model
                    and record.get("sub_model") in (None, self.sub_lm.model))
            if same and isinstance(record, dict) and "id" in record and "mode" in record:
                records.append(record)
        latest = {(r["id"], r["mode"]): r for r in records}  # a retried unit: its last line counts
        return list(latest.values())

    def _write(self, records: list[dict[str, Any]]) -> EvalResults:
        order = {(t.id, m): i for i, (t, m) in enumerate((t, m) for t in self.plan() for m in self.config.modes)}
        records = sorted(records, key=lambda r: order.get((r["id"], r["mode"]), len(order)))
        config = {**self.config.to_dict(), "model": self.lm.model, "sub_model": self.sub_lm.model,
                  "direct_window_tokens": self.direct_window(), "extra_skills": list(self.settings.skills)}
        if self.stopped:
            config["stopped"] = self.stopped
        summary = summarize(records)
        results_json = self.out / "results.json"
        results_md = self.out / "results.md"
        results_json.write_text(json.dumps({"config": config, "scoring": SCORING, "summary": summary,
                                            "records": records}, indent=2, default=str), encoding="utf-8")
        chart = write_png(records, self.out / "results.png") if records else None
        results_md.write_text(markdown(summary, config, records, chart=chart), encoding="utf-8")
        return EvalResults(config, records, summary, results_json, results_md, self.stopped)


def _preload() -> None:
    """Import what the concurrent tasks use, once, before they start: a lazy first import from
    two threads at once can see a half-initialised module."""
    import litellm  # noqa: F401

    import rlm_tui.engine.rlm  # noqa: F401
    import rlm_tui.sandbox.sandbox  # noqa: F401


async def run_eval(config: EvalConfig, settings: Settings, *, families: dict[str, Family] | None = None,
                   progress: Reporter | None = None) -> EvalResults:
    return await Runner(config, settings, families, progress).run()
