"""Cleanup never costs a run its result: a deep workspace tree, or a close that fails, still
ends with the answer and a RunFinished in the trace."""

from __future__ import annotations

import os
from pathlib import Path

from rlm_tui.engine.events import RunFinished, Status
from rlm_tui.engine.rlm import RLM
from rlm_tui.engine.trace import read_trace
from rlm_tui.sandbox import Sandbox
from tests.engine.test_engine import Recorder, code

DEEP = ("import os\nos.chdir('/workspace')\nfor _ in range(2046):\n    os.mkdir('d')\n    os.chdir('d')\n"
        "os.chdir('/project')\nSUBMIT(answer='deep')")


def _rlm(server, project: Path, trace: Path) -> tuple[RLM, Recorder]:
    recorder = Recorder()
    rlm = RLM("question -> answer", lm="openai/root", sub_lm="openai/sub", project=project,
              api_base=server.url, on_event=recorder, trace=trace)
    return rlm, recorder


def _own_folders() -> set[str]:
    import tempfile

    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("rlm-workspace-", "rlm-tmp-"))
            and f"-{os.getpid()}-" in n}


async def test_a_deep_workspace_tree_keeps_the_answer_and_leaves_nothing(scripted_server, project, tmp_path):
    before = _own_folders()
    scripted_server.script("root", code(DEEP))
    rlm, _ = _rlm(scripted_server, project, tmp_path / "trace.jsonl")
    prediction = await rlm.aforward(question="go deep")
    assert prediction.answer == "deep"
    assert any(isinstance(e, RunFinished) for e in read_trace(tmp_path / "trace.jsonl"))
    assert _own_folders() <= before  # the run's workspace and /tmp folders are gone


async def test_a_close_that_fails_still_returns_the_answer(scripted_server, project, tmp_path, monkeypatch):
    real_close = Sandbox.close

    def broken_close(self: Sandbox) -> None:
        real_close(self)
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(Sandbox, "close", broken_close)
    scripted_server.script("root", code("SUBMIT(answer='kept')"))
    rlm, recorder = _rlm(scripted_server, project, tmp_path / "trace.jsonl")
    prediction = await rlm.aforward(question="anything")
    assert prediction.answer == "kept"
    finished = [e for e in read_trace(tmp_path / "trace.jsonl") if isinstance(e, RunFinished)]
    assert finished and finished[0].outputs == {"answer": "kept"}
    notes = [e.message for e in recorder.of(Status)]
    assert any("cleanup after the run failed: RecursionError" in n for n in notes)
