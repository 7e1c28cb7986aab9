"""`rlm-tui doctor`, beyond the sandbox: the configured models, the provider keys present, the
offline runtime and the offline models. Each `Check` is ok or missing, and a missing one says the
exact command that fixes it.

Keys are reported by variable NAME only ("OPENAI_API_KEY: set"): no value, nor any part of one,
is ever put in a check. The sandbox's own report is `rlm_tui.sandbox.doctor`; `rlm-tui doctor`
prints both and fails only when the sandbox cannot run (nothing runs without it).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rlm_tui.config import Settings
from rlm_tui.local.catalog import DEFAULT_OFFLINE_MODEL, PROVIDER, installed_default, known_models
from rlm_tui.local.commands import llama_available

SET_A_MODEL = "rlm-tui --model openai/gpt-4o-mini (or RLM_TUI_MODEL, or model = \"...\" in config.toml)"
SETUP = f"{sys.executable} -m rlm_tui.local.setup"


@dataclass(frozen=True)
class Check:
    """One thing `doctor` looked at: what it found and, when missing, what to run."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def format(self) -> str:
        line = f"  {'ok' if self.ok else 'missing':<8} {self.name:<16} {self.detail}"
        return line if self.ok or not self.fix else f"{line}\n  {'':<8} {'':<16} next: {self.fix}"


def model_checks(settings: Settings, env: Mapping[str, str], config: Path) -> list[Check]:
    """The root and sub model as configured, and the key the root model needs."""
    if not settings.model and settings.router is None:
        return [_offline_default()]
    checks = []
    for role, model, variable in (("model", settings.model, "RLM_TUI_MODEL"),
                                  ("sub-model", settings.sub_model, "RLM_TUI_SUB_MODEL")):
        if model:
            checks.append(_model(role, model, f"from {variable}" if variable in env else f"from {config}", settings))
    if settings.model:
        checks.append(_key_for(settings.model, settings, env))
    return checks


def _model(role: str, model: str, source: str, settings: Settings) -> Check:
    from rlm_tui.lm.model_check import model_problem

    problem = model_problem(model, settings)
    if problem is None:
        return Check(role, True, f"{model} ({source})")
    return Check(role, False, f"{model} ({source}): {problem}", fix=SET_A_MODEL)


def _offline_default() -> Check:
    spec = installed_default()
    if spec is not None and llama_available():
        return Check("model", True, f"none configured: the offline model {spec.model_string} runs (no key); "
                                    f"for a hosted one: {SET_A_MODEL}")
    fix = f"rlm-tui models pull {DEFAULT_OFFLINE_MODEL}" if llama_available() else SETUP
    return Check("model", False, "none configured, and no offline model to run instead",
                 fix=f"{SET_A_MODEL}; or offline: {fix}")


def _key_for(model: str, settings: Settings, env: Mapping[str, str]) -> Check:
    if model.startswith((f"{PROVIDER}/", "router/")) or settings.router is not None:
        return Check("key", True, f"none needed ({'offline' if model.startswith(PROVIDER) else 'the router holds them'})")
    if settings.api_key is not None:
        return Check("key", True, "api_key: set (RLM_TUI_API_KEY or config.toml)")
    if settings.api_base:
        return Check("key", True, f"none needed for api_base {settings.api_base} (set api_key if it asks for one)")
    from rlm_tui.lm.client import key_env_vars

    names = key_env_vars(model)
    present = [name for name in names if env.get(name)]
    if present:
        return Check("key", True, f"{present[0]}: set (for {model})")
    return Check("key", False, f"{' or '.join(names)}: not set (for {model})", fix=f"export {names[0]}=<your key>")


def key_checks(env: Mapping[str, str]) -> list[Check]:
    """Which provider key variables are set, by name."""
    from rlm_tui.lm.client import provider_key_vars

    names = provider_key_vars()
    present = [name for name in names if env.get(name)]
    if present:
        return [Check("provider keys", True, ", ".join(f"{name}: set" for name in present))]
    return [Check("provider keys", False, f"none of the {len(names)} provider key variables is set "
                                          f"({', '.join(names[:3])}, ...)",
                  fix="export OPENAI_API_KEY=<your key> (or your provider's variable), or run offline")]


def offline_checks() -> list[Check]:
    """The llama.cpp runtime and each offline model: pulled or not, its size, the default marked."""
    if llama_available():
        try:
            version = importlib.metadata.version("llama_cpp_python")
        except importlib.metadata.PackageNotFoundError:
            version = "version unknown"
        checks = [Check("offline runtime", True, f"llama-cpp-python {version}")]
    else:
        checks = [Check("offline runtime", False, "llama-cpp-python is not installed", fix=SETUP)]
    for spec in known_models():
        label = spec.model_string + (" (default)" if spec.name == DEFAULT_OFFLINE_MODEL else "")
        size = f"{spec.size / 1e6:,.0f} MB"
        if spec.is_installed():
            checks.append(Check("offline model", True, f"{label}: {size} at {spec.path()}"))
        else:
            checks.append(Check("offline model", False, f"{label}: not pulled ({size})",
                                fix=f"rlm-tui models pull {spec.name}"))
    return checks


def format_checks(checks: list[Check]) -> str:
    return "\n".join(["rlm-tui doctor: models, keys, offline", *(check.format() for check in checks)])
