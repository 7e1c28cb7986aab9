"""Redaction: every key in use, scrubbed by value from text before it leaves the process.

One registry per process. Keys are registered where they come in (config.toml or
`RLM_TUI_API_KEY` through the CLI, `api_key=` given to `RLM`, the env vars each model's
provider reads); env vars whose names look like credentials (`*KEY*`, `*TOKEN*`, `*SECRET*`,
`*PASSWORD*`) are read again at every scrub, so a key exported later is caught too. Token
shapes that are keys whatever their source (`sk-...`, `Bearer ...`) are scrubbed as well.

Every exit uses `scrub` (or `scrub_data` for JSON-shaped data): the trace writer, a session's
meta.json, the TUI's /export, headless stdout and stderr, and error messages.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MIN_LENGTH = 8  # shorter values would scrub ordinary words ("test", "x") out of every text
_ENV_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-]{8,}"),
]

_registered: set[str] = set()
_lock = threading.Lock()


def register(*values: str | None) -> None:
    """Remember keys in use so every later `scrub` removes them."""
    with _lock:
        _registered.update(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)


def register_env(names: Iterable[str]) -> None:
    """Register the current values of these env vars (the ones a provider reads)."""
    register(*(os.environ.get(name) for name in names))


def known() -> list[str]:
    """Registered keys and credential-like env values, longest first (a key that contains
    another is replaced whole)."""
    env = [v for k, v in os.environ.items() if any(h in k.upper() for h in _ENV_HINTS) and len(v) >= MIN_LENGTH]
    with _lock:
        values = _registered | set(env)
    return sorted(values, key=len, reverse=True)


def scrub(text: str) -> str:
    """`text` with every known key and key-shaped token replaced by `[redacted]`."""
    for secret in known():
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def scrub_data(value: Any) -> Any:
    """`scrub` applied to every string inside dicts, lists and tuples (keys too)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_data(k): scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value
