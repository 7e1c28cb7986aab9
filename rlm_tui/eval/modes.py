"""The two ways a task is answered: `rlm` (the sandbox REPL) and `direct` (one prompt).

`answer_rlm` runs the instance's signature on an RLM whose project holds the task's files (its
extra mounts in the sandbox too, read-only); `answer_direct` pastes the context into one prompt,
truncated to the model's window (and says so). Both fill the record with usage and write a
trace that `rlm-tui replay` opens.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.config import Settings
from rlm_tui.eval.tasks import Instance
from rlm_tui.lm.client import LM, ContextWindowError

DIRECT_CHARS_PER_TOKEN = 3.0  # conservative: generated records and code tokenize denser than prose
DIRECT_SYSTEM = ("Answer the question from the context you are given. Reply with the final answer only, in the "
                 "format the question asks for, without explanation.")


@dataclass
class Models:
    lm: LM
    sub_lm: LM
    roles: dict[str, LM]
    settings: Settings


def direct_reserve(lm: LM, window: int, question_chars: int) -> int:
    """Tokens of the window kept for the question and the reply."""
    return min(lm.max_tokens or 4096, window // 4) + 256 + question_chars // 2


async def answer_rlm(instance: Instance, record: dict[str, Any], models: Models, *, trace: Path | None,
                     files_dir: Path) -> Any:
    from rlm_tui.engine.outputs import jsonable
    from rlm_tui.engine.rlm import RLM
    from rlm_tui.sandbox import Sandbox

    s = models.settings
    workdir = None
    project = instance.project
    if project is None:
        workdir = Path(tempfile.mkdtemp(prefix="rlm-eval-"))
        project = workdir
        for name, text in instance.files.items():
            await asyncio.to_thread((workdir / name).write_text, text, encoding="utf-8")
    inputs = instance.rlm_inputs or {"question": instance.rlm_preamble + instance.question}
    try:
        rlm = await asyncio.to_thread(
            RLM, instance.signature, lm=models.lm, sub_lm=models.sub_lm, roles=models.roles, project=project,
            budget=s.budget, max_depth=s.max_depth, concurrency=s.concurrency, output_limit=s.output_limit,
            cell_timeout_s=s.cell_timeout_s, memory_mb=s.memory_mb, trace=trace, files_dir=files_dir,
            skills=list(dict.fromkeys([*instance.skills, *s.skills])),  # the family's, plus --skill / config
        )
        if instance.mounts:  # a sandbox of our own, with the extra read-only mounts
            sandbox = await asyncio.to_thread(
                Sandbox, rlm.project, skills=rlm.skills.folder, timeout_s=s.cell_timeout_s, memory_mb=s.memory_mb,
                output_fields=list(rlm.signature.output_fields), mounts=instance.mounts)
            try:
                prediction = await rlm.arun(inputs, sandbox=sandbox)
            finally:
                await asyncio.to_thread(sandbox.close)
        else:
            prediction = await rlm.aforward(**inputs)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    usage = prediction.usage
    record.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                  cost_usd=usage.cost_usd, lm_calls=usage.lm_calls, iterations=usage.iterations,
                  partial=bool(prediction.partial))
    value = jsonable(prediction[next(iter(rlm.signature.output_fields))])
    return value if isinstance(value, list) else str(value)


async def answer_direct(instance: Instance, record: dict[str, Any], lm: LM, window: int, *,
                        trace: Path | None) -> str:
    reserve = direct_reserve(lm, window, len(instance.question))
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
            started = time.monotonic()
            completion = await lm.acomplete(messages)
        except ContextWindowError:
            chars = int(chars * 0.6)  # our estimate was off for this tokenizer: show less
            continue
        usage = completion.usage
        record.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      cost_usd=usage.cost_usd, lm_calls=1, truncated=truncated,
                      shown_chars=len(shown), context_chars=len(text))
        if trace is not None:
            write_direct_trace(trace, instance, lm, messages, completion, time.monotonic() - started)
        return completion.text
    raise ContextWindowError(f"the prompt did not fit {lm.model}'s window even at {chars:,} characters")


def write_direct_trace(path: Path, instance: Instance, lm: LM, messages: list[dict[str, str]],
                       completion: Any, duration_s: float) -> None:
    """The direct call as a trace `rlm-tui replay` opens: run started, one LM call, run finished."""
    from rlm_tui.engine.events import LMCallFinished, LMCallStarted, RunFinished, RunStarted, new_id
    from rlm_tui.engine.trace import TraceWriter

    run_id, call_id, lm_call = new_id(), new_id(), new_id()
    usage = completion.usage
    prompt = "\n\n".join(m["content"] for m in messages)
    writer = TraceWriter(path)
    try:
        for event in (
            RunStarted(run_id=run_id, call_id=call_id, task=instance.question, inputs={"mode": "direct"},
                       model=lm.model, sub_model=lm.model, project="(direct prompt)"),
            LMCallStarted(run_id=run_id, call_id=lm_call, parent_id=call_id, model=lm.model, role="direct",
                          prompt=prompt),
            LMCallFinished(run_id=run_id, call_id=lm_call, parent_id=call_id, model=lm.model, role="direct",
                           response=completion.text, prompt_tokens=usage.prompt_tokens,
                           completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd,
                           latency_s=usage.latency_s),
            RunFinished(run_id=run_id, call_id=call_id, outputs={"answer": completion.text}, partial=False,
                        usage=usage,
                        duration_s=duration_s),
        ):
            writer(event)
    finally:
        writer.close()
