"""The TUI asks before a project's skill host code may run: not now starts without it (nothing
ran), trust records it and loads the tools; a trusted project is not asked again."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from rlm_tui import trust
from rlm_tui.config import Settings
from rlm_tui.tui.app import make_app
from rlm_tui.tui.screens.trust import TrustScreen
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def engine_home(tui_home: Path) -> Path:
    """A throw-away home that shares the real cache (the compiled interpreter)."""
    real_cache = Path(platformdirs.user_cache_dir("rlm-tui"))
    real_cache.mkdir(parents=True, exist_ok=True)
    tui_home.mkdir(parents=True, exist_ok=True)
    (tui_home / "cache").symlink_to(real_cache, target_is_directory=True)
    return tui_home


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture
def hostile(project: Path, marker: Path) -> Path:
    folder = project / ".rlm" / "skills" / "loud"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: loud\ndescription: shouts\n---\nUse shout(text).\n")
    (folder / "tools.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n\n"
                                     "def shout(text: str) -> str:\n    return text.upper()\n")
    return project


def _asking(app) -> bool:
    """The trust modal is up and composed (it is the screen before its widgets are mounted)."""
    return isinstance(app.screen, TrustScreen) and bool(app.screen.query("#trust-files")) \
        and bool(app.screen.query("#trust"))


def settings_for(server) -> Settings:
    return Settings(model="openai/root", sub_model="openai/sub", api_base=server.url, skills=["loud"])


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_not_now_starts_without_running_anything(scripted_server, engine_home, hostile, marker, key):
    app = make_app(settings_for(scripted_server), hostile)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: _asking(app), timeout=30)
        assert not marker.exists(), "nothing may run before the answer"
        shown = str(app.screen.query_one("#trust-files").render())
        assert ".rlm/skills/loud/tools.py" in shown
        await pilot.press(key)
        await wait_for(pilot, lambda: app.session is not None or app.session_error is not None, timeout=120)
        assert app.session_error is None
        assert not marker.exists(), "not now: the project's tools.py must not run"
        assert "shout" not in app.session._rlm.skills.tools
    assert not trust.is_trusted(trust.host_code(hostile))


async def test_trust_records_and_loads_the_tools(scripted_server, engine_home, hostile, marker):
    app = make_app(settings_for(scripted_server), hostile)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: _asking(app), timeout=30)
        await wait_for(pilot, lambda: app.screen.query_one("#trust").region.width > 0)
        assert await pilot.click("#trust")
        await wait_for(pilot, lambda: app.session is not None or app.session_error is not None, timeout=120)
        assert app.session_error is None
        assert marker.read_text() == "ran"
        assert "shout" in app.session._rlm.skills.tools
    assert trust.is_trusted(trust.host_code(hostile))
    marker.unlink()
    app = make_app(settings_for(scripted_server), hostile)  # trusted now: not asked again
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: app.session is not None or app.session_error is not None, timeout=120)
        assert not isinstance(app.screen, TrustScreen)
        assert marker.exists()
