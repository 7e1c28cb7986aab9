"""Build the root LM, the sub-LM and named role LMs from settings."""

from __future__ import annotations

from typing import Any

from rlm_tui.config import Settings
from rlm_tui.lm.client import LM


class NoModelError(ValueError):
    """No root model is configured."""


HOW_TO_SET_A_MODEL = """\
No model is configured. Set one in any of these ways:
  • flag:    rlm-tui --model openai/gpt-4o-mini        (any litellm model string)
  • env:     export RLM_TUI_MODEL=anthropic/claude-sonnet-4-5
  • config:  {config}
             model = "openai/gpt-4o-mini"
Local or self-hosted (Ollama, vLLM, LM Studio, a LiteLLM proxy):
  rlm-tui --model openai/qwen2.5-coder --api-base http://localhost:8000/v1
Hosted providers read their usual key variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...)."""


def build_lms(settings: Settings) -> tuple[LM, LM, dict[str, LM]]:
    if not settings.model:
        from rlm_tui.config import config_file
        from rlm_tui.local.commands import offline_hint

        raise NoModelError(HOW_TO_SET_A_MODEL.format(config=config_file()) + "\n" + offline_hint())
    key = settings.api_key.get_secret_value() if settings.api_key else None
    common: dict[str, Any] = {"api_base": settings.api_base, "api_key": key, "temperature": settings.temperature}
    groups = _router_groups(settings)  # None without a router; else root and sub go through it

    def served(model: str, role: bool = False) -> str:
        return f"router/{model}" if groups is not None and (model in groups or not role) else model

    root = LM(served(settings.model), **common)
    sub = root if settings.effective_sub_model == settings.model else LM(served(settings.effective_sub_model or settings.model), **common)
    roles = {}
    for name, role in settings.roles.items():
        roles[name] = LM(
            served(role.model, role=True),
            api_base=role.api_base or settings.api_base,
            api_key=key if (role.api_base or settings.api_base) == settings.api_base else None,
            temperature=role.temperature if role.temperature is not None else settings.temperature,
            **({"max_tokens": role.max_tokens} if role.max_tokens else {}),
        )
    return root, sub, roles


def _router_groups(settings: Settings) -> list[str] | None:
    """The model groups of the configured LiteLLM Router, installed now; None without one."""
    if settings.router is None:
        return None
    from rlm_tui.lm.router import install

    return install(settings.router)
