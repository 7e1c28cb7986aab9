"""End to end: the installed `rlm-tui` in tmux against the scripted server, read off the screen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import platformdirs
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RLM_TUI = Path(sys.executable).parent / "rlm-tui"


def cell(body: str, reasoning: str) -> str:
    return f"{reasoning}\n```python\n{body}\n```"


SCRIPT = {
    "root": [
        cell("readme = open('/project/README.md').read()\nprint(len(readme), 'chars')",
             "Read the README first."),
        cell("summary = llm_query('Summarise: ' + readme)\nSUBMIT(answer='ANSWER: ' + summary)",
             "Summarise it with a sub-model."),
    ],
    "sub": ["a tiny demo project"],
    "default": "echo",
}


SOCKET = f"rlm-e2e-{os.getpid()}"  # a private tmux server: no one else's sizes or config


def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args], capture_output=True,
                          text=True, check=check)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session, check=False).stdout


def wait_screen(session: str, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen(session)
        if needle in text:
            return text
        time.sleep(0.3)
    raise AssertionError(f"{needle!r} never appeared; screen:\n{text}")


@pytest.mark.skipif(shutil.which("tmux") is None or not RLM_TUI.exists(),
                    reason="needs tmux and the installed rlm-tui")
def test_rlm_tui_in_tmux(tmp_path: Path, project: Path, tui_home: Path):
    (tmp_path / "script.json").write_text(json.dumps(SCRIPT))
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/scripted_server.py"), "--port", "0",
         "--script", str(tmp_path / "script.json")], stdout=subprocess.PIPE, text=True)
    session = f"rlm-e2e-{os.getpid()}"
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        tui_home.mkdir(parents=True, exist_ok=True)
        real_cache = Path(platformdirs.user_cache_dir("rlm-tui"))
        real_cache.mkdir(parents=True, exist_ok=True)
        (tui_home / "cache").symlink_to(real_cache, target_is_directory=True)
        env = {"RLM_TUI_HOME": str(tui_home), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        command = " ".join([f"{k}={v}" for k, v in env.items()] + [
            str(RLM_TUI), "--model", "openai/root", "--sub-model", "openai/sub",
            "--api-base", url, str(project)])
        tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36",
             f"env -u COLUMNS -u LINES {command}")  # pytest exports COLUMNS=80
        wait_screen(session, "Ask about the project", 20)
        wait_screen(session, "ready", 120)
        tmux("send-keys", "-t", session, "What is this project?", "Enter")
        wait_screen(session, "ANSWER: a tiny demo project", 90)
        # The answer is drawn as soon as it arrives; the variables pane and the status line follow
        # when the turn ends (a moment later on a loaded machine).
        text = wait_screen(session, "ready", 30)
        assert "Turn 1: What is" in text  # the call tree (the question squeezed to fit its figures)
        assert "llm_query" in text
        assert "readme" in text and "summary" in text  # the variables pane
        tmux("send-keys", "-t", session, "C-q")
    finally:
        tmux("kill-server", check=False)
        server.terminate()
        server.wait(timeout=10)
