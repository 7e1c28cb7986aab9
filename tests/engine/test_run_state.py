"""The engine with big inputs and restarts: a 100 MB input reaches the REPL, and a trap is told
to the model and the event stream, with the variables restored."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.engine.events import CellOutput
from rlm_tui.engine.rlm import RLM
from tests.engine.test_engine import Recorder, code

BIG = 100 << 20


def _rlm(server, project: Path, signature: str, **kwargs) -> tuple[RLM, Recorder]:
    recorder = Recorder()
    rlm = RLM(signature, lm="openai/root", sub_lm="openai/sub", project=project, api_base=server.url,
              on_event=recorder, **kwargs)
    return rlm, recorder


async def test_a_100_mb_input_reaches_the_repl(scripted_server, project):
    doc = "abcd" * (BIG // 4)
    scripted_server.script("root", code("SUBMIT(answer=f'{len(doc)} {doc[:4]} {len(items)}')"))
    rlm, _ = _rlm(scripted_server, project, "doc, items: list[int], question -> answer")
    prediction = await rlm.aforward(doc=doc, items=list(range(500_000)), question="how long?")
    assert prediction.answer == f"{BIG} abcd 500000"
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert len(prompt) < 50_000  # the input is described, never pasted


async def test_a_trap_is_told_to_the_model_and_the_variables_come_back(scripted_server, project):
    scripted_server.script(
        "root",
        code("notes = ['kept']\ndef helper(x):\n    return x * 2"),
        code("while True:\n    pass"),
        code("SUBMIT(answer=f'{notes[0]} {helper(21)} {len(doc)}')"),
    )
    rlm, recorder = _rlm(scripted_server, project, "doc, question -> answer", cell_timeout_s=1.0)
    prediction = await rlm.aforward(doc="d" * 1000, question="go")
    assert prediction.answer == "kept 42 1000"
    trapped = [e for e in recorder.of(CellOutput) if e.restarted]
    assert len(trapped) == 1 and "restored" in trapped[0].error and "notes" in trapped[0].error
    told = scripted_server.chat_requests("root")[2].prompt_text
    assert "the sandbox was restarted" in told and "helper" in told
