"""`rlm-tui doctor` beyond the sandbox: the configured models (checked as `/model` checks them),
the provider keys present (by name: a key's value never appears), the offline runtime and the
offline models, each ok or missing with the command to run; the exit code fails only when the
sandbox cannot run. Nothing is downloaded: an empty cache is an empty `RLM_TUI_CACHE_DIR`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rlm_tui.doctor as doctor
from rlm_tui.cli import main
from rlm_tui.config import load_settings
from rlm_tui.doctor import SETUP, Check, key_checks, model_checks, offline_checks
from rlm_tui.local.catalog import DEFAULT_OFFLINE_MODEL, known_models

FAKE_KEY = "sk-QwZrTyUvXkPmNbLjHgFd"
NO_KEYS = {"PATH": os.environ.get("PATH", "")}


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("RLM_TUI_CACHE_DIR", str(cache))
    return cache


def test_a_configured_model_is_checked_and_its_missing_key_named(tmp_path: Path) -> None:
    env = {"RLM_TUI_MODEL": "openai/gpt-4o-mini"}
    checks = _by_name(model_checks(load_settings(env=env), env, tmp_path / "config.toml"))
    assert checks["model"].ok and checks["model"].detail == "openai/gpt-4o-mini (from RLM_TUI_MODEL)"
    key = checks["key"]
    assert not key.ok and key.detail.startswith("OPENAI_API_KEY: not set")
    assert key.fix == "export OPENAI_API_KEY=<your key>"
    assert "missing" in key.format() and "next: export OPENAI_API_KEY=<your key>" in key.format()


def test_a_model_from_the_config_file_says_so_and_a_present_key_is_set_by_name(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model = "anthropic/claude-sonnet-4-5"\nsub_model = "nosuchprovider-xyz/m"\n')
    env = {"ANTHROPIC_API_KEY": FAKE_KEY}
    checks = _by_name(model_checks(load_settings(config, env=env), env, config))
    assert checks["model"].ok and f"(from {config})" in checks["model"].detail
    assert not checks["sub-model"].ok and "litellm knows no provider" in checks["sub-model"].detail
    assert checks["sub-model"].fix.startswith("rlm-tui --model openai/gpt-4o-mini")
    assert checks["key"].ok and checks["key"].detail.startswith("ANTHROPIC_API_KEY: set")
    assert FAKE_KEY not in repr(checks)


def test_an_offline_model_that_is_not_pulled_says_how_to_pull_it(tmp_path: Path, empty_cache: Path) -> None:
    env = {"RLM_TUI_MODEL": "embedded/qwen2.5-coder-0.5b"}
    checks = _by_name(model_checks(load_settings(env=env), env, tmp_path / "config.toml"))
    assert not checks["model"].ok and "rlm-tui models pull qwen2.5-coder-0.5b" in checks["model"].detail
    assert checks["key"].ok and checks["key"].detail == "none needed (offline)"


def test_no_model_and_no_offline_model_is_missing_with_both_ways_out(tmp_path: Path, empty_cache: Path) -> None:
    (check,) = model_checks(load_settings(env={}), {}, tmp_path / "config.toml")
    assert not check.ok and check.detail == "none configured, and no offline model to run instead"
    assert "rlm-tui --model openai/gpt-4o-mini" in check.fix
    assert f"rlm-tui models pull {DEFAULT_OFFLINE_MODEL}" in check.fix or SETUP in check.fix


def test_provider_keys_are_listed_by_name_only() -> None:
    (check,) = key_checks({"OPENAI_API_KEY": FAKE_KEY, "GROQ_API_KEY": FAKE_KEY + "2", "UNRELATED": "x"})
    assert check.ok and check.detail == "OPENAI_API_KEY: set, GROQ_API_KEY: set"
    (none,) = key_checks({})
    assert not none.ok and "OPENAI_API_KEY" in none.detail and none.fix.startswith("export OPENAI_API_KEY=")


def test_offline_models_not_pulled_name_their_pull_command(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "llama_available", lambda: False)
    runtime, *models = offline_checks()
    assert not runtime.ok and runtime.fix == SETUP == f"{sys.executable} -m rlm_tui.local.setup"
    assert [m.fix for m in models] == [f"rlm-tui models pull {spec.name}" for spec in known_models()]
    assert models[0].detail == f"embedded/{DEFAULT_OFFLINE_MODEL} (default): not pulled (1,117 MB)"
    assert not any(m.ok for m in models)


def test_installed_offline_models_show_size_and_path(tmp_path: Path, empty_cache: Path) -> None:
    spec = known_models()[1]
    spec.path().parent.mkdir(parents=True)
    with open(spec.path(), "wb") as f:  # a sparse file of the expected size is "installed"
        f.truncate(spec.size)
    runtime, *models = offline_checks()
    assert runtime.ok == doctor.llama_available()
    pulled = models[1]
    assert pulled.ok and pulled.detail == f"{spec.model_string}: 491 MB at {spec.path()}"


def test_doctor_prints_key_names_never_values_and_a_missing_key_is_not_a_failure(tmp_path: Path) -> None:
    env = {**os.environ, "RLM_TUI_MODEL": "anthropic/claude-sonnet-4-5", "OPENAI_API_KEY": FAKE_KEY,
           "RLM_TUI_SUB_MODEL": "openai/gpt-4o-mini", "RLM_TUI_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("ANTHROPIC_API_KEY", None)
    done = subprocess.run([sys.executable, "-m", "rlm_tui", "doctor"], capture_output=True, text=True,
                          env=env, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out  # a missing key is reported, not failed: the sandbox runs
    assert "OPENAI_API_KEY: set" in out and "ANTHROPIC_API_KEY: not set" in out
    assert "next: export ANTHROPIC_API_KEY=<your key>" in out and "all good" in out
    for start in range(len(FAKE_KEY) - 7):  # no part of the key either
        assert FAKE_KEY[start:start + 8] not in out


def test_doctor_fails_only_when_the_sandbox_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import rlm_tui.sandbox.wasm_module as wasm_module

    monkeypatch.setattr(wasm_module, "_shared", None)  # as in a new process with an empty home
    monkeypatch.setenv("RLM_TUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RLM_TUI_IMAGE_WHEEL", str(tmp_path / "nope.whl"))  # never downloads
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "missing  offline model" in out and "problems:" in out and "is not a file" in out


def test_doctor_help_says_what_the_exit_code_means(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 the sandbox runs" in text and "1 the sandbox cannot run" in text
