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

    [router]                     # every LM call through a LiteLLM Router (or: file = "router.yaml")
    routing_strategy = "simple-shuffle"
    [[router.model_list]]        # `model` / `sub_model` then name a model_name group
    model_name = "qwen"
    litellm_params = { model = "hosted_vllm/Qwen/Qwen3-8B", api_base = "http://gpu1:8000/v1", rpm = 600 }

Env vars: RLM_TUI_MODEL, RLM_TUI_SUB_MODEL, RLM_TUI_API_BASE, RLM_TUI_API_KEY, RLM_TUI_THEME,
RLM_TUI_MAX_ITERATIONS, RLM_TUI_MAX_COST_USD, ... (any budget field, upper-cased).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rlm_tui.paths import config_dir

if TYPE_CHECKING:
    from rlm_tui.sandbox.disk_quota import DiskQuota


class ConfigError(ValueError):
    """The config file or an override is invalid; the message says where and why."""


class Budget(BaseModel):
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


class Deployment(BaseModel):
    """One deployment of a model group, in LiteLLM Router's `model_list` shape."""

    model_config = ConfigDict(extra="allow")  # model_info and other Router keys pass through

    model_name: str = Field(description="The group: what `model` / `sub_model` name.")
    litellm_params: dict[str, Any] = Field(description="litellm's call arguments: model, api_base, api_key, "
                                                       "rpm, tpm, ...")


class RouterSettings(BaseModel):
    """A LiteLLM Router that every LM call goes through: several deployments of a model (vLLM or
    SGLang servers, a LiteLLM proxy, several hosted keys), load balancing, fallbacks, rpm/tpm.
    `file` names a LiteLLM-style YAML or JSON (`model_list:` and `router_settings:`) instead.
    Other LiteLLM Router arguments (`routing_strategy_args`, `retry_policy`, ...) pass through."""

    model_config = ConfigDict(extra="allow")

    file: Path | None = Field(None, description="A router file (LiteLLM proxy config shape).")
    model_list: list[Deployment] = Field(default_factory=list)
    routing_strategy: str = "simple-shuffle"
    num_retries: int = Field(2, ge=0, description="Router retries on another deployment before failing.")
    allowed_fails: int = Field(1, ge=0, description="Failures in a minute before a deployment cools down.")
    cooldown_time: float = Field(30.0, ge=0, description="Seconds a failing deployment is skipped.")
    timeout: float | None = Field(None, gt=0)
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list, description="[{group: [other groups]}]")


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
    workspace_mb: int = Field(1024, ge=1, description="Disk quota of the sandbox's /workspace and /tmp together.")
    workspace_files: int = Field(20_000, ge=1, description="Files, folders and links /workspace and /tmp may hold.")
    theme: str = "rlm-dark"
    skills: list[str] = Field(default_factory=lambda: ["codebase"], description="Skills enabled by default.")
    budget: Budget = Field(default_factory=Budget)
    roles: dict[str, RoleSettings] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict, description="Binding id -> key.")
    router: RouterSettings | None = Field(None, description="Route every LM call through a LiteLLM Router.")

    @property
    def disk_quota(self) -> DiskQuota:
        """The sandbox's `DiskQuota` from `workspace_mb` and `workspace_files`."""
        from rlm_tui.sandbox.disk_quota import DiskQuota

        return DiskQuota(max_bytes=self.workspace_mb << 20, max_files=self.workspace_files)

    @property
    def effective_sub_model(self) -> str | None:
        return self.sub_model or self.model

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with non-None overrides applied (budget fields may be given flat)."""
        data = self.model_dump()
        data["api_key"] = self.api_key.get_secret_value() if self.api_key else None
        budget_fields = set(Budget.model_fields)
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


def settings_env_vars() -> dict[str, str]:
    """The env vars that override settings, each with the field it sets (RLM_TUI_MODEL: model)."""
    skip = {"budget", "roles", "keys", "skills", "router"}
    return {f"RLM_TUI_{name.upper()}": name for name in [*Settings.model_fields, *Budget.model_fields]
            if name not in skip}


def _env_overrides(env: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    return {name: env[variable] for variable, name in settings_env_vars().items() if variable in env}


def load_router_file(path: Path) -> RouterSettings:
    """A router file: LiteLLM proxy config shape (`model_list:` plus optional `router_settings:`),
    YAML or JSON. `ConfigError` says what is wrong and where."""
    import yaml

    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"router file {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"router file {path}: not valid YAML or JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"router file {path}: expected a mapping with model_list (and router_settings)")
    settings = data.get("router_settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"router file {path}: router_settings must be a mapping")
    try:
        return RouterSettings.model_validate({**settings, "model_list": data.get("model_list") or [], "file": path})
    except ValidationError as e:
        raise ConfigError(_explain(e, f"router file {path}")) from None


def _explain(error: ValidationError, where: str) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
    return f"invalid settings in {where}: {problems}"


def save_setting(key: str, value: str, path: Path | None = None) -> Path:
    """Set the top-level string `key` in the config file (created if missing), keeping every
    other line and comment as it is: its `key = ...` line is replaced, else a new one goes before
    the first table (or at the top). The result must read back as the same settings with only
    `key` changed, else nothing is written and `ConfigError` says why."""
    path = path or config_file()
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        want = {**tomllib.loads(text), key: value}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); {key} not saved") from None
    line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    lines = text.splitlines()
    first_table = next((i for i, s in enumerate(lines) if s.lstrip().startswith("[")), len(lines))
    own = re.compile(rf"\s*{re.escape(key)}\s*=")
    at = next((i for i in range(first_table) if own.match(lines[i])), None)
    candidates = [[*lines[:first_table], line, *lines[first_table:]], [line, *lines]]
    if at is not None:  # a look-alike line (inside a multi-line string) fails the check below
        candidates.insert(0, [*lines[:at], line, *lines[at + 1:]])
    for candidate in candidates:
        new_text = "\n".join(candidate) + "\n"
        try:
            if tomllib.loads(new_text) == want:
                break
        except tomllib.TOMLDecodeError:
            pass
    else:
        raise ConfigError(f"{path}: could not set {key} without changing other settings; "
                          f"add `{line}` yourself")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600: keys
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(new_text)
        if path.is_file():
            os.chmod(staged, path.stat().st_mode & 0o777)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return path
