"""Settings: `~/.config/rlm-tui/config.toml`, overridden by `RLM_TUI_*` env vars, then flags.

    model = "openai/gpt-4o-mini"
    sub_model = "openai/gpt-4o-mini"
    api_base = "http://localhost:8000/v1"
    theme = "rlm-dark"

    [budget]
    max_iterations = 12
    max_cost_usd = 0.50

    [roles.summary]              # named sub-LMs: llm_query(..., model="summary")
    model = "openai/gpt-4o-mini"

    [keys]                       # rebind keys by binding id
    cancel = "escape"

Env vars: RLM_TUI_MODEL, RLM_TUI_SUB_MODEL, RLM_TUI_API_BASE, RLM_TUI_API_KEY, RLM_TUI_THEME,
RLM_TUI_MAX_ITERATIONS, RLM_TUI_MAX_COST_USD, ... (any budget field, upper-cased).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rlm_tui.paths import config_dir


class ConfigError(ValueError):
    """The config file or an override is invalid; the message says where and why."""


class BudgetSettings(BaseModel):
    """Limits shared by the whole call tree of one turn. `None` means unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_iterations: int | None = Field(12, ge=1, description="Root-LM iterations (code cells) per turn.")
    max_lm_calls: int | None = Field(200, ge=1, description="LM calls of any kind, sub-calls included.")
    max_tokens: int | None = Field(None, ge=1, description="Prompt + completion tokens.")
    max_cost_usd: float | None = Field(None, gt=0, description="Spend in USD (calls of unknown price count 0).")
    max_seconds: float | None = Field(600.0, gt=0, description="Wall-clock time for the turn.")
    max_memory_mb: int | None = Field(None, ge=64, description="Memory of all the turn's sandboxes together "
                                      "(root and child RLMs); default twice memory_mb.")


class RoleSettings(BaseModel):
    """A named sub-LM, usable as `llm_query(..., model="<role>")`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    api_base: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class Settings(BaseModel):
    """Everything rlm-tui reads from config, env and flags."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Root LM: any litellm model string.")
    sub_model: str | None = Field(None, description="Sub-LM for llm_query/predict; defaults to `model`.")
    api_base: str | None = Field(None, description="OpenAI-compatible endpoint for both models.")
    api_key: SecretStr | None = Field(None, description="Key for api_base (else the provider's env var).")
    temperature: float = 0.0
    max_depth: int = Field(2, ge=0, description="Deepest rlm_query nesting; at the cap it degrades to llm_query.")
    concurrency: int = Field(16, ge=1, description="Sub-calls in flight at once.")
    output_limit: int = Field(4000, ge=200, description="Characters of cell output the root LM sees per cell.")
    cell_timeout_s: float = Field(60.0, gt=0)
    memory_mb: int = Field(1024, ge=64)
    theme: str = "rlm-dark"
    skills: list[str] = Field(default_factory=lambda: ["codebase"], description="Skills enabled by default.")
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict, description="Binding id -> key.")

    @property
    def effective_sub_model(self) -> str | None:
        return self.sub_model or self.model

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with non-None overrides applied (budget fields may be given flat)."""
        data = self.model_dump()
        data["api_key"] = self.api_key.get_secret_value() if self.api_key else None
        budget_fields = set(BudgetSettings.model_fields)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in budget_fields:
                data["budget"][key] = value
            else:
                data[key] = value
        try:
            return Settings.model_validate(data)
        except ValidationError as e:
            raise ConfigError(_explain(e, "override")) from None


def config_file() -> Path:
    return config_dir() / "config.toml"


def load_settings(path: Path | None = None, env: dict[str, str] | None = None, **flags: Any) -> Settings:
    """File, then env, then flags (non-None) win."""
    path = path or config_file()
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_explain(e, str(path))) from None
    return settings.with_overrides(**_env_overrides(os.environ if env is None else env)).with_overrides(**flags)


def _env_overrides(env: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    names = [*Settings.model_fields, *BudgetSettings.model_fields]
    skip = {"budget", "roles", "keys", "skills"}
    return {name: env[f"RLM_TUI_{name.upper()}"] for name in names
            if name not in skip and f"RLM_TUI_{name.upper()}" in env}


def _explain(error: ValidationError, where: str) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
    return f"invalid settings in {where}: {problems}"
