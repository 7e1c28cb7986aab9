"""Offline-model benchmark: speed through the litellm provider, and what prefix caching saves.

    .venv/bin/python tests/bench/bench_local.py [--models qwen2.5-coder-0.5b ...] [--iterations 5]

Needs llama-cpp-python and pulled models (`rlm-tui models pull NAME`); models not pulled are skipped.
Prints, from one run, per model:
1. Load time, time to first token and tokens/s (prompt and generation) for a ~600-token root
   prompt, through `rlm_tui.lm.client.LM` -> litellm -> the ``embedded/`` provider (streamed).
2. An RLM-shaped conversation (compact root prompt, growing by one reply + cell output per
   iteration, with an unrelated sub-call between iterations): the root-prompt tokens processed
   per iteration with prefix caching off, with llama.cpp's live KV prefix only, and with the live
   prefix plus the state stash (the default), and the root calls' time to first token.
The machine is shared and noisy: compare columns of one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rlm_tui.engine.prompts import COMPACT_SYSTEM  # noqa: E402
from rlm_tui.lm.client import LM  # noqa: E402
from rlm_tui.local import provider  # noqa: E402
from rlm_tui.local.catalog import get_model, known_models  # noqa: E402
from rlm_tui.local.llama import LocalModel, default_threads  # noqa: E402

TASK = (
    "Inputs (bound as REPL variables):\n- `question` (str, 52 chars): Which functions does calc.py "
    "define, and what do they return?\n\nStart by exploring; reply with reasoning and one ```python block."
)
CELL_OUTPUT = "Output:\n" + "\n".join(
    f"./src/module_{i}.py  {120 + 7 * i} lines" for i in range(12)
)
SUB_CALL = [{"role": "user", "content": "Summarise in one sentence: def add(a, b): return a + b"}]


def system_prompt() -> str:
    return COMPACT_SYSTEM.format(outputs="answer=str", output_limit=4000)


def use(model: LocalModel) -> LM:
    """An LM for ``embedded/<name>`` whose provider calls go to ``model`` (a configured instance)."""
    provider.register()
    provider.resolve = lambda name: model  # type: ignore[assignment]
    return LM(f"embedded/{model.name}", temperature=0.0, max_tokens=model.max_tokens)


async def timed(lm: LM, messages: list[dict[str, str]]) -> tuple[float, float, int, int]:
    """(time to first token, total seconds, prompt tokens, completion tokens) of one streamed call."""
    start = time.monotonic()
    first: list[float] = []
    completion = await lm.acomplete(
        messages, on_token=lambda t: first or first.append(time.monotonic() - start)
    )
    total = time.monotonic() - start
    return (
        (first[0] if first else total),
        total,
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )


async def speed(name: str, repeats: int = 3) -> None:
    spec = get_model(name)
    model = LocalModel(spec.path(), name=spec.name, prefix_cache=False, max_tokens=128)
    lm = use(model)
    start = time.monotonic()
    await lm.acomplete([{"role": "user", "content": "hi"}])  # loads the model
    warm = time.monotonic() - start
    rows = []
    for i in range(repeats):  # a different prompt each time: nothing reused
        messages = [
            {"role": "system", "content": system_prompt() + f"\n(run {i})"},
            {"role": "user", "content": TASK + "\n" + CELL_OUTPUT * 2},
        ]
        rows.append(await timed(lm, messages))
    ttft = statistics.median(r[0] for r in rows)
    prompt = statistics.median(r[2] for r in rows)
    gen = statistics.median((r[3] - 1) / (r[1] - r[0]) for r in rows if r[3] > 1 and r[1] > r[0])
    completion = statistics.median(r[3] for r in rows)
    print(
        f"  load {model.load_s:.2f} s (first call {warm:.2f} s); prompt {prompt:.0f} tok -> "
        f"time to first token {ttft:.2f} s ({prompt / ttft:.0f} prompt tok/s); "
        f"{completion:.0f} new tokens at {gen:.1f} tok/s (median of {repeats})"
    )
    model.close()


class RecordingModel(LocalModel):
    """Keeps the last reply's text so the benchmark conversation grows with the model's own words."""

    last_text = ""

    def _generate(self, messages, **kwargs):
        generation = super()._generate(messages, **kwargs)
        if messages != SUB_CALL:
            self.last_text = generation.text
        return generation


async def conversation(
    model: RecordingModel, iterations: int, sub_calls: bool
) -> list[tuple[int, int, float]]:
    """Per root iteration: (prompt tokens, prompt tokens processed, time to first token)."""
    lm = use(model)
    messages = [{"role": "system", "content": system_prompt()}, {"role": "user", "content": TASK}]
    rows = []
    for _ in range(iterations):
        ttft, _total, _prompt, _completion = await timed(lm, messages)
        stats = model.calls[-1]
        rows.append((stats.prompt_tokens, stats.evaluated_tokens, ttft))
        messages += [
            {"role": "assistant", "content": model.last_text},
            {"role": "user", "content": CELL_OUTPUT},
        ]
        if sub_calls:
            await lm.acomplete(SUB_CALL)
    return rows


async def prefix_cache(name: str, iterations: int) -> None:
    spec = get_model(name)
    modes = {
        "off": dict(prefix_cache=False),
        "live KV only": dict(prefix_cache=True, stash_slots=0),
        "live KV + stash": dict(prefix_cache=True),
    }
    results = {}
    for label, options in modes.items():
        model = RecordingModel(spec.path(), name=spec.name, max_tokens=64, **options)
        results[label] = await conversation(model, iterations, sub_calls=True)
        model.close()
    header = "  iter  prompt tok | processed: " + " | ".join(f"{m:>15}" for m in modes)
    print(header + " | ttft: " + " | ".join(f"{m:>15}" for m in modes))
    for i in range(iterations):
        prompt = results["live KV + stash"][i][0]
        processed = " | ".join(f"{results[m][i][1]:>15,}" for m in modes)
        ttft = " | ".join(f"{results[m][i][2]:>13.2f} s" for m in modes)
        print(f"  {i + 1:>4}  {prompt:>10,} | {' ' * 11}{processed} | {' ' * 6}{ttft}")
    totals = {m: sum(r[1] for r in rows) for m, rows in results.items()}
    times = {m: sum(r[2] for r in rows) for m, rows in results.items()}
    print(
        "  total processed: "
        + ", ".join(f"{m} {t:,}" for m, t in totals.items())
        + f"  ->  stash processes {totals['live KV + stash'] / max(totals['off'], 1):.0%} of 'off'"
    )
    print("  total time to first token: " + ", ".join(f"{m} {t:.1f} s" for m, t in times.items()))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=[s.name for s in reversed(known_models())])
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("dspy").setLevel(
        logging.ERROR
    )  # "response was truncated": max_tokens is small on purpose
    threads, batch = default_threads()
    print(
        f"offline models on {os.cpu_count()} cores: {threads} generation thread(s), {batch} prompt threads; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name in args.models:
        spec = get_model(name)
        if not spec.is_installed():
            print(f"\n{spec.model_string}: not pulled, skipped (rlm-tui models pull {spec.name})")
            continue
        print(f"\n{spec.model_string}")
        print(" 1. speed through the litellm provider")
        await speed(name)
        print(
            f" 2. root prompt processed per iteration ({args.iterations} iterations, a sub-call between each)"
        )
        await prefix_cache(name, args.iterations)


if __name__ == "__main__":
    asyncio.run(main())
