"""Typed sub-calls: `predict(signature, **inputs)` through `dspy.Predict` on a sub-LM.

The guest's `predict` wrapper (guest/functions.py) sends, besides the signature text and the
inputs, the field schemas of REPL classes the signature names (under `TYPES_KEY`), and images
as markers; `guest_types` turns both into what DSPy takes, without eval or imports.
"""

from __future__ import annotations

import time
from typing import Any

import dspy

from rlm_tui.engine.guest_types import (
    TYPES_KEY,
    GuestTypeError,
    build_models,
    decode_images,
    make_typed_signature,
    validate_inputs,
)
from rlm_tui.engine.outputs import jsonable
from rlm_tui.lm.client import LM, Usage, price_usd


async def run_predict(lm: LM, signature: str, instructions: str | None, inputs: dict[str, Any]) -> tuple[dict, Usage]:
    """The output fields as JSON-ready data, and what the call cost."""
    inputs = dict(inputs)
    schemas = inputs.pop(TYPES_KEY, None)
    try:
        inputs = {name: decode_images(value) for name, value in inputs.items()}
    except GuestTypeError as e:
        raise ValueError(str(e)) from None
    sig = typed_signature(signature, instructions, schemas, inputs)
    missing = [name for name in sig.input_fields if name not in inputs]
    if missing:
        raise TypeError(f"predict() is missing input(s) {', '.join(missing)} for signature {signature!r}")
    unknown = [name for name in inputs if name not in sig.input_fields]
    if unknown:
        raise TypeError(f"predict() got input(s) {', '.join(unknown)} that signature {signature!r} does not have")
    try:
        inputs = validate_inputs(sig, inputs)
    except GuestTypeError as e:
        raise ValueError(str(e)) from None
    started = time.monotonic()
    with dspy.context(lm=lm.dspy_lm, track_usage=True):
        prediction = await dspy.Predict(sig).acall(**inputs)
    usage = _usage(lm, prediction, time.monotonic() - started)
    return {name: jsonable(prediction[name]) for name in sig.output_fields}, usage


def typed_signature(signature: str | type[dspy.Signature], instructions: str | None, schemas: Any = None,
                    inputs: dict[str, Any] | None = None) -> type[dspy.Signature]:
    """A DSPy signature from the guest's text and class schemas (ValueError when unusable)."""
    if not isinstance(signature, str):  # host callers pass a dspy.Signature class
        return signature.with_instructions(instructions) if instructions else signature
    try:
        names = build_models(schemas) if schemas else {}
        return make_typed_signature(signature, instructions or None, names, inputs or {})
    except GuestTypeError as e:
        raise ValueError(str(e)) from None


def _usage(lm: LM, prediction: dspy.Prediction, latency: float) -> Usage:
    totals = prediction.get_lm_usage() or {}
    prompt = sum(int(u.get("prompt_tokens") or 0) for u in totals.values())
    completion = sum(int(u.get("completion_tokens") or 0) for u in totals.values())
    return Usage(prompt, completion, price_usd(lm.model, prompt, completion), latency, 1)
