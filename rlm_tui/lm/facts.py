"""Facts about a model the engine plans with: its context window, the characters a token is
taken to be, whether it is a local (offline) model. Cheap to import: litellm is imported only
when a window is asked for."""

from __future__ import annotations

import functools

CHARS_PER_TOKEN = 4  # the rough size of a token when a prompt is budgeted before it is sent
DEFAULT_WINDOW = 128_000  # tokens, for a model litellm has no window for
LOCAL_PREFIX = "embedded/"  # the offline llama.cpp models: they cost nothing


def is_local(model: str) -> bool:
    """An offline model run here by llama.cpp (`embedded/<name>`): no price, no key, no network."""
    return model.startswith(LOCAL_PREFIX)


@functools.lru_cache(maxsize=64)
def context_window(model: str) -> int:
    """The model's input window in tokens, from litellm's map; `DEFAULT_WINDOW` when unknown."""
    import litellm

    try:
        info = litellm.get_model_info(model)
        return int(info.get("max_input_tokens") or info.get("max_tokens") or DEFAULT_WINDOW)
    except Exception:  # unmapped models raise
        return DEFAULT_WINDOW

