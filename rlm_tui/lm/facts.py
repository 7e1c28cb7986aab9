"""Facts about a model the engine plans with: its context window, the characters a token is
taken to be, and `warm_up`, which loads what a model's first call needs and says so when it is
slow (litellm's first import, an offline model's weights). Cheap to import: litellm and the
offline runtime are imported only when asked for."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

CHARS_PER_TOKEN = 4  # the rough size of a token when a prompt is budgeted before it is sent
DEFAULT_WINDOW = 128_000  # tokens, for a model litellm has no window for


@functools.lru_cache(maxsize=64)
def context_window(model: str) -> int:
    """The model's input window in tokens, from litellm's map; `DEFAULT_WINDOW` when unknown."""
    import litellm

    try:
        info = litellm.get_model_info(model)
        return int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_WINDOW)
    except Exception:  # unmapped models raise
        return DEFAULT_WINDOW


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
