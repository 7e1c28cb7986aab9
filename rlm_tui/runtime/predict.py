"""Typed sub-calls: `predict(signature, **inputs)` through `dspy.Predict` on a sub-LM."""

from __future__ import annotations

import time
from typing import Any

import dspy

from rlm_tui.lm import LM, Usage, price_usd
from rlm_tui.runtime.outputs import jsonable, make_signature


async def run_predict(lm: LM, signature: str, instructions: str | None, inputs: dict[str, Any]) -> tuple[dict, Usage]:
    """The output fields as JSON-ready data, and what the call cost."""
    sig = make_signature(signature)
    if instructions:
        sig = sig.with_instructions(instructions)
    missing = [name for name in sig.input_fields if name not in inputs]
    if missing:
        raise TypeError(f"predict() is missing input(s) {', '.join(missing)} for signature {signature!r}")
    started = time.monotonic()
    with dspy.context(lm=lm.dspy_lm, track_usage=True):
        prediction = await dspy.Predict(sig).acall(**inputs)
    usage = _usage(lm, prediction, time.monotonic() - started)
    return {name: jsonable(prediction[name]) for name in sig.output_fields}, usage


def _usage(lm: LM, prediction: dspy.Prediction, latency: float) -> Usage:
    totals = prediction.get_lm_usage() or {}
    prompt = sum(int(u.get("prompt_tokens") or 0) for u in totals.values())
    completion = sum(int(u.get("completion_tokens") or 0) for u in totals.values())
    return Usage(prompt, completion, price_usd(lm.model, prompt, completion), latency, 1)

