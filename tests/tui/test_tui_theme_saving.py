"""A chosen theme (/theme NAME, the picker, ctrl+p's Theme) is saved in config.toml, keeping the
rest of the file, and the next start uses it."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from rlm_tui.config import ConfigError, config_file, load_settings, save_setting
from rlm_tui.tui.app import make_app
from rlm_tui.tui.screens.modals import PickerScreen
from tests.tui.conftest import wait_for
from tests.tui.test_tui_commands import slash

CONFIG = """# my settings
model = "openai/root-model"   # the root LM
theme = "rlm-dark"

[budget]
max_iterations = 7  # keep it short
"""


async def _next_start_theme(project: Path, backend) -> str:
    again = make_app(load_settings(), project, backend=backend)
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        return again.theme


async def test_theme_by_name_is_saved_for_the_next_start(project, make_backend, tui_home):
    config_file().parent.mkdir(parents=True)
    config_file().write_text(CONFIG)
    backend = make_backend()
    app = make_app(load_settings(), project, backend=backend)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await slash(pilot, app, "/theme rlm-light")
        assert app.theme == "rlm-light"
    text = config_file().read_text()
    assert text == CONFIG.replace('theme = "rlm-dark"', 'theme = "rlm-light"')  # comments kept
    assert await _next_start_theme(project, backend) == "rlm-light"


async def test_the_picker_saves_the_choice_not_the_previews(project, settings, make_backend, tui_home):
    backend = make_backend()
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await slash(pilot, app, "/theme")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        await pilot.press("down")
        await pilot.press("escape")  # previewed, then cancelled: nothing saved
        assert not config_file().exists()
        await app.run_action("change_theme")  # ctrl+p's "Theme" opens the same picker
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen) and app.screen.query("OptionList"))
        keys = [k for k, _ in app.screen.options]
        app.screen.query_one("OptionList").highlighted = keys.index("rlm-high-contrast")
        await pilot.press("enter")
        assert app.theme == "rlm-high-contrast"
    assert tomllib.loads(config_file().read_text()) == {"theme": "rlm-high-contrast"}
    assert await _next_start_theme(project, backend) == "rlm-high-contrast"


def test_save_setting_goes_before_the_first_table_and_keeps_the_mode(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('# top\nmodel = "m"\n\n[budget]\nmax_iterations = 3\n')
    path.chmod(0o600)
    save_setting("theme", 'odd "name" é', path)
    assert path.read_text() == '# top\nmodel = "m"\n\ntheme = "odd \\"name\\" é"\n[budget]\nmax_iterations = 3\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path, env={}).theme == 'odd "name" é'


def test_save_setting_refuses_what_it_cannot_write_cleanly(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text("model = [broken\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        save_setting("theme", "x", path)
    assert path.read_text() == "model = [broken\n"  # untouched
    path.write_text('note = """\ntheme = "inside a string"\n"""\n')
    save_setting("theme", "x", path)  # the line inside the string is not the key
    assert tomllib.loads(path.read_text()) == {"note": 'theme = "inside a string"\n', "theme": "x"}
