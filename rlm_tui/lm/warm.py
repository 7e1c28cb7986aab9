"""`warm_up`: load what a model's first call needs before the call, saying so when a step is
slow (litellm's first import, an offline model's weights), so a first run shows its progress."""

from __future__ import annotations

import sys
from collections.abc import Callable


def warm_up(model: str, status: Callable[[str], None]) -> None:
    """Load the LM client and, for an offline (``embedded/``) model, its weights, calling
    `status` before each step that has not happened yet in this process (it takes seconds)."""
    if "litellm" not in sys.modules:
        status("Loading the LM client…")
    from rlm_tui.lm.client import preload

    preload()
    if not model.startswith("embedded/"):
        return
    from rlm_tui.local.provider import resolve

    try:
        local = resolve(model)
    except Exception:  # noqa: BLE001 - the model's first call reports it, in the LM's own terms
        return
    if local.load_s is None:
        status(f"Loading the offline model {local.name}…")
        try:
            local.load()
        except Exception:  # noqa: BLE001 - as above: the call that needs it raises the LMError
            return
