"""Run eval tasks in both modes, concurrently within a limit, appending each result as it lands.

`results.jsonl` gets one line per finished (task, mode); `--resume` skips those already there
(errors are retried). At the end `results.json` (config, summary rows, records) and `results.md`
(the table) are written, also after an interruption, for what finished.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.config import Settings
from rlm_tui.eval.aggregate import AggregateFamily
from rlm_tui.eval.codebase import CodebaseFamily
from rlm_tui.eval.needle import NeedleFamily
from rlm_tui.eval.progress import ProgressBar
from rlm_tui.eval.report import SCORING, markdown, summarize
from rlm_tui.eval.tasks import Family, Instance, Task, plan
from rlm_tui.lm import ContextWindowError

MODES = ("rlm", "direct")
DIRECT_CHARS_PER_TOKEN = 3.0  # conservative: generated records and code tokenize denser than prose
DIRECT_SYSTEM = ("Answer the question from the context you are given. Reply with the final answer only, in the "
                 "format the question asks for, without explanation.")


def default_families() -> dict[str, Family]:
    return {"needle": NeedleFamily(), "aggregate": AggregateFamily(), "codebase": CodebaseFamily()}


class EvalError(Exception):
    """A usage problem (existing results without --resume, unknown family, ...)."""


@dataclass
class EvalConfig:
    model: str
    sub_model: str | None = None
    families: list[str] = field(default_factory=lambda: ["needle", "aggregate", "codebase"])
    sizes: list[str] | None = None
    n: int = 2
    seed: int = 0
    modes: list[str] = field(default_factory=lambda: list(MODES))
    out: Path = Path("eval-results")
    concurrency: int = 4
    resume: bool = False
    context_window: int | None = None  # the direct mode's window in tokens (default: the model's)
    traces: bool = True

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


class Runner:
    def __init__(self, config: EvalConfig, settings: Settings, families: dict[str, Family] | None = None,
                 progress_stream: Any = None) -> None:
        from rlm_tui.runtime.models import build_lms

        self.config, self.settings = config, settings
        self.families = families or default_families()
        unknown = [f for f in config.families if f not in self.families]
        if unknown:
            raise EvalError(f"unknown task famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                            f"choose from {', '.join(self.families)}")
        bad_modes = [m for m in config.modes if m not in MODES]
        if bad_modes:
            raise EvalError(f"unknown mode(s) {', '.join(bad_modes)}; choose from {', '.join(MODES)}")
        self.lm, self.sub_lm, self.roles = build_lms(settings)
        self.progress_stream = progress_stream
        self.out = Path(config.out)
        self.jsonl = self.out / "results.jsonl"
        self._instances: dict[str, asyncio.Task[Instance]] = {}
        self._remaining: dict[str, int] = {}
        self._write_lock = asyncio.Lock()

    # -- public ------------------------------------------------------------------------------------

    async def run(self) -> EvalResults:
        config = self.config
        _preload()
        tasks = plan(self.families, config.families, config.sizes, config.n, config.seed)
        previous = self._previous()
        done = {(r["id"], r["mode"]) for r in previous if not r.get("error")}
        units = [(t, m) for t in tasks for m in config.modes if (t.id, m) not in done]
        planned = {(t.id, m) for t in tasks for m in config.modes}
        kept = [r for r in previous if (r["id"], r["mode"]) in planned and not r.get("error")]
        for task, _ in units:
            self._remaining[task.id] = self._remaining.get(task.id, 0) + 1
        progress = ProgressBar(len(planned), done=len(planned) - len(units), stream=self.progress_stream)
        semaphore = asyncio.Semaphore(max(1, config.concurrency))
        fresh: list[dict[str, Any]] = []

        async def one(task: Task, mode: str) -> None:
            async with semaphore:
                name = f"{task.id} [{mode}]"
                progress.started_unit(name)
                record = await self._unit(task, mode)
                async with self._write_lock:
                    with self.jsonl.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(record, default=str) + "\n")
                fresh.append(record)
                progress.finished_unit(name, record)

        try:
            await asyncio.gather(*(one(t, m) for t, m in units))
        finally:
            progress.close()
            results = self._write(kept + fresh)
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
        started = time.monotonic()
        try:
            instance = await self._instance(task)
            record.update(question=instance.question, expected=instance.expected, scoring=instance.scoring,
                          context_tokens=instance.context_tokens)
            if mode == "rlm":
                answer = await self._rlm(instance, record)
            else:
                answer = await self._direct(instance, record)
            record["answer"] = answer
            assert instance.score is not None
            record["score"] = round(float(instance.score(answer, instance.expected)), 4)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed task is a result (score 0), not a failed run
            record.update(answer=None, score=0.0, error=f"{type(e).__name__}: {e}")
        finally:
            self._release(task.id)
        record["correct"] = record.get("score") == 1.0
        record["wall_s"] = round(time.monotonic() - started, 3)
        record["tokens"] = (record.get("prompt_tokens") or 0) + (record.get("completion_tokens") or 0)
        return record

    def _release(self, task_id: str) -> None:
        self._remaining[task_id] = self._remaining.get(task_id, 1) - 1
        if self._remaining[task_id] <= 0:
            self._instances.pop(task_id, None)  # let a big context go once both modes are done

    async def _rlm(self, instance: Instance, record: dict[str, Any]) -> str:
        from rlm_tui.runtime.rlm import RLM

        s = self.settings
        workdir = None
        project = instance.project
        if project is None:
            workdir = Path(tempfile.mkdtemp(prefix="rlm-eval-"))
            project = workdir
            for name, text in instance.files.items():
                await asyncio.to_thread((workdir / name).write_text, text, encoding="utf-8")
        trace = None
        if self.config.traces:
            trace = self.out / "traces" / f"{instance.task.id.replace('/', '_')}.rlm.jsonl"
            trace.parent.mkdir(parents=True, exist_ok=True)
        try:
            rlm = await asyncio.to_thread(
                RLM, "question -> answer", lm=self.lm, sub_lm=self.sub_lm, roles=self.roles, project=project,
                budget=s.budget, max_depth=s.max_depth, concurrency=s.concurrency, output_limit=s.output_limit,
                cell_timeout_s=s.cell_timeout_s, memory_mb=s.memory_mb, trace=trace,
                skills=list(dict.fromkeys([*instance.skills, *s.skills])),  # the family's, plus --skill / config
            )
            prediction = await rlm.aforward(question=instance.rlm_preamble + instance.question)
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        usage = prediction.usage
        record.update(prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
                      cost_usd=usage["cost_usd"], lm_calls=usage["lm_calls"], iterations=usage["iterations"],
                      partial=bool(prediction.partial))
        return str(prediction.answer)

    def direct_window(self) -> int:
        from rlm_tui.runtime.run import context_window

        return self.config.context_window or context_window(self.lm.model)

    async def _direct(self, instance: Instance, record: dict[str, Any]) -> str:
        window = self.direct_window()
        reserve = min(self.lm.max_tokens or 4096, window // 4) + 256 + len(instance.question) // 2
        chars = max(1000, int((window - reserve) * DIRECT_CHARS_PER_TOKEN))
        text = instance.direct_context
        for _attempt in range(4):
            shown = text[:chars]
            truncated = len(shown) < len(text)
            note = ""
            if truncated:
                note = (f"[Note: the context is truncated to fit your context window: you see the first "
                        f"{len(shown):,} of {len(text):,} characters ({100 * len(shown) / len(text):.0f}%). "
                        "The answer may lie in the part you cannot see.]\n\n")
            messages = [{"role": "system", "content": DIRECT_SYSTEM},
                        {"role": "user", "content": f"{note}<context>\n{shown}\n</context>\n\nQuestion: {instance.question}"}]
            try:
                completion = await self.lm.acomplete(messages)
            except ContextWindowError:
                chars = int(chars * 0.6)  # our estimate was off for this tokenizer: show less
                continue
            usage = completion.usage
            record.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                          cost_usd=usage.cost_usd, lm_calls=1, truncated=truncated,
                          shown_chars=len(shown), context_chars=len(text))
            return completion.text
        raise ContextWindowError(f"the prompt did not fit {self.lm.model}'s window even at {chars:,} characters")

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
        return records

    def _write(self, records: list[dict[str, Any]]) -> EvalResults:
        order = {(t.id, m): i for i, (t, m) in enumerate(
            (t, m) for t in plan(self.families, self.config.families, self.config.sizes, self.config.n,
                                 self.config.seed) for m in self.config.modes)}
        records = sorted(records, key=lambda r: order.get((r["id"], r["mode"]), len(order)))
        config = {**self.config.to_dict(), "model": self.lm.model, "sub_model": self.sub_lm.model,
                  "direct_window_tokens": self.direct_window(), "extra_skills": list(self.settings.skills)}
        summary = summarize(records)
        results_json = self.out / "results.json"
        results_md = self.out / "results.md"
        results_json.write_text(json.dumps({"config": config, "scoring": SCORING, "summary": summary,
                                            "records": records}, indent=2, default=str), encoding="utf-8")
        results_md.write_text(markdown(summary, config), encoding="utf-8")
        return EvalResults(config, records, summary, results_json, results_md)


def _preload() -> None:
    """Import what the concurrent tasks use, once, before they start: a lazy first import from
    two threads at once can see a half-initialised module."""
    import litellm  # noqa: F401

    import rlm_tui.runtime.rlm  # noqa: F401
    import rlm_tui.sandbox.sandbox  # noqa: F401


async def run_eval(config: EvalConfig, settings: Settings, *, families: dict[str, Family] | None = None,
                   progress_stream: Any = None) -> EvalResults:
    return await Runner(config, settings, families, progress_stream).run()
