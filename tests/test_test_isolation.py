"""The suite's own isolation: a developer's env (RLM_TUI_HOME, RLM_TUI_MODEL, ...) never reaches a test.

CI once ran with RLM_TUI_HOME set: it won over every per-test folder, and 46 tests saw the
developer's pulled models, skills and zip caches. Each check runs pytest in a subprocess, with
that env, on a probe test file that uses this suite's conftest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_an_inherited_home_and_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    home = tmp_path / "developer-home"
    probe = tmp_path / "test_probe.py"
    probe.write_text(textwrap.dedent(f"""
        import os
        from pathlib import Path

        from rlm_tui.config import load_settings
        from rlm_tui.paths import cache_dir, config_dir, data_dir

        HOME = Path({str(home)!r})

        def test_probe():
            assert not config_dir().is_relative_to(HOME), config_dir()
            assert not data_dir().is_relative_to(HOME), data_dir()
            assert cache_dir() == HOME / "cache"  # the developer's cache is kept: it costs minutes
            settings = load_settings()
            assert settings.sub_model != "openai/developers-own"
            assert settings.theme != "developers-theme"
            assert "RLM_TUI_HOME" not in os.environ  # so subprocesses of tests do not see it either
    """))
    env = {**os.environ, "RLM_TUI_HOME": str(home), "RLM_TUI_SUB_MODEL": "openai/developers-own",
           "RLM_TUI_THEME": "developers-theme"}
    env.pop("RLM_TUI_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "--rootdir", str(tmp_path),
                           "-c", os.devnull, str(probe)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
