"""The offline default: no model configured + an offline model installed -> embedded; configured wins."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import dspy
import pytest

from rlm_tui import cli
from rlm_tui.config import RouterSettings, Settings, load_settings
from rlm_tui.local import default
from rlm_tui.local.catalog import DEFAULT_OFFLINE_MODEL, SMALL_TEST_MODEL, get_model
from rlm_tui.usage import Usage


def install(name: str) -> None:
    """A sparse file of the model's size: what `is_installed` checks (the hash was checked at pull)."""
    path = get_model(name).path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(get_model(name).size)


@pytest.fixture
def no_model(isolated_home, monkeypatch) -> Settings:
    """No config file, no RLM_TUI_MODEL, the runtime importable."""
    for name in ("RLM_TUI_MODEL", "RLM_TUI_SUB_MODEL", "RLM_TUI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(default, "llama_available", lambda: True)
    return load_settings()


def test_no_model_and_the_default_installed_picks_it(no_model):
    install(DEFAULT_OFFLINE_MODEL)
    install(SMALL_TEST_MODEL)
    chosen = default.offline_default(no_model)
    assert chosen is not None
    assert chosen.model == chosen.settings.model == f"embedded/{DEFAULT_OFFLINE_MODEL}"
    assert "no key" in chosen.notice and "--model" in chosen.notice and chosen.model in chosen.notice


def test_only_the_small_model_installed_picks_it(no_model):
    install(SMALL_TEST_MODEL)
    chosen = default.offline_default(no_model)
    assert chosen is not None and chosen.model == f"embedded/{SMALL_TEST_MODEL}"


def test_a_configured_model_wins(no_model, monkeypatch):
    install(DEFAULT_OFFLINE_MODEL)
    assert default.offline_default(no_model.with_overrides(model="openai/gpt-4o-mini")) is None
    monkeypatch.setenv("RLM_TUI_MODEL", "anthropic/claude-sonnet-4-5")
    assert default.offline_default(load_settings()) is None
    assert default.offline_default(load_settings(model="openai/gpt-4o-mini")) is None
    routed = no_model.model_copy(update={"router": RouterSettings()})
    assert default.offline_default(routed) is None


def test_nothing_installed_or_no_runtime_picks_nothing(no_model, monkeypatch):
    assert default.offline_default(no_model) is None
    install(DEFAULT_OFFLINE_MODEL)
    monkeypatch.setattr(default, "llama_available", lambda: False)
    assert default.offline_default(no_model) is None


class _FakeRLM:
    """Stands in for `RLM.from_settings` in `ask`: records the settings, answers at once."""

    seen: list[Settings] = []

    @classmethod
    def from_settings(cls, settings: Settings, signature: str, **kwargs) -> SimpleNamespace:
        cls.seen.append(settings)

        async def aforward(**inputs):
            return dspy.Prediction(answer="42", usage=Usage(), partial=False, budget_exhausted=None)

        return SimpleNamespace(
            signature=dspy.Signature(signature), aforward=aforward,
            lm=SimpleNamespace(check_credentials=lambda: None),
            skills=SimpleNamespace(notes=[], catalogue=SimpleNamespace(shadowed=[])))


@pytest.fixture
def fake_rlm(monkeypatch) -> type[_FakeRLM]:
    import rlm_tui.engine.rlm as rlm_module

    _FakeRLM.seen = []
    monkeypatch.setattr(rlm_module, "RLM", _FakeRLM)
    return _FakeRLM


def test_ask_with_no_model_uses_the_offline_model_and_says_so_on_stderr(no_model, fake_rlm, capsys,
                                                                         tmp_path: Path):
    install(DEFAULT_OFFLINE_MODEL)
    assert cli.main(["ask", "what?", "--project", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "42"
    assert fake_rlm.seen[-1].model == f"embedded/{DEFAULT_OFFLINE_MODEL}"
    assert f"using the offline model embedded/{DEFAULT_OFFLINE_MODEL}" in err and "--model" in err


def test_ask_with_model_flag_keeps_it_and_says_nothing(no_model, fake_rlm, capsys, tmp_path: Path):
    install(DEFAULT_OFFLINE_MODEL)
    assert cli.main(["ask", "what?", "--project", str(tmp_path), "--model", "openai/gpt-4o-mini"]) == 0
    assert fake_rlm.seen[-1].model == "openai/gpt-4o-mini"
    assert "offline" not in capsys.readouterr().err


def test_tui_with_no_model_opens_on_the_offline_model(no_model, monkeypatch, tmp_path: Path):
    import rlm_tui.tui.app as app_module

    install(DEFAULT_OFFLINE_MODEL)
    opened = []
    monkeypatch.setattr(app_module, "make_app", lambda settings, project, **kw: SimpleNamespace(
        run=lambda **_options: opened.append((settings, kw))))
    assert cli.main([str(tmp_path)]) == 0
    settings, kwargs = opened[0]
    assert settings.model == kwargs["offline_default"] == f"embedded/{DEFAULT_OFFLINE_MODEL}"
    assert cli.main([str(tmp_path), "--model", "openai/gpt-4o-mini"]) == 0
    settings, kwargs = opened[1]
    assert settings.model == "openai/gpt-4o-mini" and kwargs["offline_default"] is None


def test_status_line_tags_the_offline_default_while_it_is_in_use(tmp_path: Path):
    from rlm_tui.tui.widgets.status import OFFLINE_DEFAULT_TAG, StatusLine

    async def scenario() -> tuple[str, str]:
        from textual.app import App

        class Host(App[None]):
            def compose(self):
                yield StatusLine()

        app = Host()
        async with app.run_test() as pilot:
            status = app.query_one(StatusLine)
            model = f"embedded/{DEFAULT_OFFLINE_MODEL}"
            status.update_info(model=model, offline_default=model, state="ready")
            await pilot.pause()
            tagged = str(status._left.render())
            status.update_info(model="openai/gpt-4o-mini")  # /model switched away
            await pilot.pause()
            return tagged, str(status._left.render())

    tagged, switched = asyncio.run(scenario())
    assert OFFLINE_DEFAULT_TAG in tagged
    assert OFFLINE_DEFAULT_TAG not in switched and "openai/gpt-4o-mini" in switched
