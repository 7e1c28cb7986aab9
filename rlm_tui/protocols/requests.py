"""What a protocol client may ask for, checked against what the user configured.

A client never widens what the user set up: the per-call budget can only lower the configured
limits, and a signature may not name `File` fields (a File input stages a host path into the
sandbox; a File output writes a host file). The project is fixed when the server starts, so no
argument names a path at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rlm_tui.config import Budget


class BadRequest(ValueError):
    """An argument the server refuses; the message says which and why, for the client to fix."""


class BudgetRequest(BaseModel):
    """Per-call limits; each may only be at or below the server's configured limit."""

    model_config = ConfigDict(extra="forbid")

    max_iterations: int | None = Field(None, ge=1, description="Root-LM iterations (code cells).")
    max_lm_calls: int | None = Field(None, ge=1, description="LM calls of any kind, sub-calls included.")
    max_tokens: int | None = Field(None, ge=1, description="Prompt + completion tokens.")
    max_cost_usd: float | None = Field(None, gt=0, description="Spend in USD.")
    max_seconds: float | None = Field(None, gt=0, description="Wall-clock seconds for the call.")


def effective_budget(configured: Budget, requested: BudgetRequest | None) -> Budget:
    """The configured limits, lowered where the request asks; BadRequest for any raise."""
    if requested is None:
        return configured
    limits = configured.model_dump()
    too_high = []
    for name, value in requested.model_dump(exclude_none=True).items():
        cap = limits[name]
        if cap is not None and value > cap:
            too_high.append(f"{name}={value:g} is above the configured {cap:g}")
        else:
            limits[name] = value
    if too_high:
        raise BadRequest("budget: " + "; ".join(too_high) + " (a call may lower the server's limits, not raise them)")
    return Budget(**limits)


def checked_signature(signature: str) -> str:
    """`signature` if it is a valid one-input signature without File fields, else BadRequest."""
    from rlm_tui.engine.files import RunFiles
    from rlm_tui.engine.outputs import make_signature

    try:
        parsed = make_signature(signature)
        files = RunFiles(parsed)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    if files.inputs or files.outputs:
        raise BadRequest(f"signature {signature!r}: File fields ({', '.join([*files.inputs, *files.outputs])}) "
                         "are not available to protocol clients: they read or write host paths outside the "
                         "project; use str fields")
    if len(parsed.input_fields) != 1:
        raise BadRequest(f"signature {signature!r}: it takes one input (the question), not "
                         f"{len(parsed.input_fields)}: {', '.join(parsed.input_fields)}")
    return signature
