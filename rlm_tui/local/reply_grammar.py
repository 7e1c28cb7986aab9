"""Constrained root replies for offline models: one ```python block, its reasoning in a comment.

A small model left free answers in prose, writes several blocks, or rambles for hundreds of tokens
before its code; given one free line of reasoning, a 1.5B model wrote ``SUBMIT(...)`` there, where
it never ran, again and again. llama.cpp can constrain decoding with a GBNF grammar: `ROOT_REPLY`
makes the reply a ```python block from its first character (brief reasoning goes in a ``#``
comment, as the compact prompt's example shows), whose lines may not start with a backtick, then
the closing fence, where the grammar ends and so does generation (only end-of-generation tokens
remain possible).

The grammar reaches the model through a context variable, not through the request: the run loop
wraps its root call in ``with root_replies(model):``; the ``embedded/`` provider reads
`active()` in the caller's context (litellm calls it in the same task) and hands the grammar to
llama.cpp. Only ``embedded/`` models are constrained; ``RLM_TUI_LOCAL_GRAMMAR=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

ROOT_REPLY = r"""
root      ::= "```python\n" code "```"
code      ::= line+
line      ::= ([^`\n] [^\n]*)? "\n"
""".strip()

_active: contextvars.ContextVar[str | None] = contextvars.ContextVar("rlm_tui_reply_grammar", default=None)


def enabled() -> bool:
    flag = os.environ.get("RLM_TUI_LOCAL_GRAMMAR", "1").strip().lower()
    return flag not in ("0", "false", "no", "off")


def active() -> str | None:
    """The grammar the current call must follow, or ``None``."""
    return _active.get()


@contextlib.contextmanager
def root_replies(model: str) -> Iterator[None]:
    """Within this block, an ``embedded/`` model's replies follow `ROOT_REPLY` (others: no change)."""
    if not (model.startswith("embedded/") and enabled()):
        yield
        return
    token = _active.set(ROOT_REPLY)
    try:
        yield
    finally:
        _active.reset(token)
