"""The offline default: with no model configured, run the installed offline model, and say so.

`offline_default(settings)` picks ``embedded/<name>`` when no root model is configured (no config
file entry, no ``RLM_TUI_MODEL``, no ``--model``, no router), llama-cpp-python is importable and an
offline model is pulled (the default one preferred). A configured model always wins. The returned
`OfflineDefault` carries the notice the front ends show: the TUI in its status line, ``rlm-tui ask``
on stderr. Cheap: it looks at the model cache and whether the runtime is importable, and imports
neither litellm nor llama_cpp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rlm_tui.local.catalog import installed_default
from rlm_tui.local.commands import llama_available

if TYPE_CHECKING:
    from rlm_tui.config import Settings

SWITCH_HINT = ("for a hosted model: --model openai/gpt-4o-mini (or RLM_TUI_MODEL, "
               "or model = \"...\" in config.toml)")


@dataclass(frozen=True)
class OfflineDefault:
    """The model chosen because none was configured, and what to tell the user about it."""

    settings: Settings  # the settings with ``model`` set to the offline model
    model: str  # ``embedded/<name>``

    @property
    def notice(self) -> str:
        """One line for stderr: what runs, that it needs no key, and how to switch."""
        return f"no model configured: using the offline model {self.model} (on this machine, no key); {SWITCH_HINT}"


def offline_default(settings: Settings) -> OfflineDefault | None:
    """The offline model to use when ``settings`` configures no root model; ``None`` otherwise."""
    if settings.model or settings.router is not None:
        return None
    spec = installed_default()
    if spec is None or not llama_available():
        return None
    return OfflineDefault(settings.with_overrides(model=spec.model_string), spec.model_string)
