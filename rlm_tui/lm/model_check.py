"""Whether a model string can be set (`/model`, `/sub-model`, `serve --model`, `doctor`), checked
before any request: litellm knows its providers (`litellm.get_llm_provider`); `embedded/<name>`
(offline models) and `router/<group>` / a bare group name (a configured LiteLLM Router) are
rlm-tui's own."""

from __future__ import annotations

from rlm_tui.config import Settings

PROVIDERS_HINT = ("a litellm model string is provider/name, e.g. openai/gpt-4o-mini, "
                  "anthropic/claude-sonnet-4-5, ollama/qwen2.5-coder, hosted_vllm/NAME "
                  "(openai/NAME for any OpenAI-compatible api_base), embedded/NAME offline")


def model_problem(model: str, settings: Settings) -> str | None:
    """Why `model` cannot be set with these settings, in one sentence; None when it can.
    May import litellm (seconds, the first time): call it off the event loop."""
    if not model or model.startswith("/") or any(c.isspace() for c in model):
        return f"{model!r} is not a model string: {PROVIDERS_HINT}."
    groups = {d.model_name for d in settings.router.model_list} if settings.router else set()
    if model in groups:
        return None
    if model.startswith("router/"):
        if model.removeprefix("router/") in groups:
            return None
        known = ", ".join(sorted(groups)) or "none: add a [router] to config.toml"
        return f"{model!r} names no model group of the router (groups: {known})."
    if model.startswith("embedded/"):
        return _offline_problem(model)
    from rlm_tui.lm.client import _litellm  # litellm configured as the engine uses it

    try:
        _litellm().get_llm_provider(model=model, api_base=settings.api_base)
    except Exception:  # noqa: BLE001 - litellm raises BadRequestError and others for unknown providers
        return f"litellm knows no provider for {model!r}: {PROVIDERS_HINT}."
    return None


def _offline_problem(model: str) -> str | None:
    from rlm_tui.local.catalog import UnknownModelError, get_model

    try:
        spec = get_model(model)
    except UnknownModelError as e:
        return str(e)
    if not spec.is_installed():
        return f"the offline model {model} is not pulled yet: rlm-tui models pull {spec.name}"
    return None
