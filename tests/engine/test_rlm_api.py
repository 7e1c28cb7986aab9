"""The `RLM(...)` API a DSPy / predict-rlm user reaches for: `lm` as a string, a `dspy.LM` or
DSPy's current LM; `max_iterations`, `verbose`, `tools` as a list, str skill module paths, input
checks naming the signature's inputs, `project=None` mounting nothing, and `File(path=...)`.
Real litellm HTTP to the scripted server, real WASM sandbox."""

from __future__ import annotations

from pathlib import Path

import dspy
import pytest

from rlm_tui.engine.file_type import File
from rlm_tui.engine.rlm import RLM
from rlm_tui.skills import Skill
from tests.engine.test_engine import make_rlm
from tests.support.projects import write_project


def code(body: str) -> str:
    return f"Let me work.\n```python\n{body}\n```"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"secret.txt": "top secret\n"})


def dspy_lm(server, model: str = "root") -> dspy.LM:
    return dspy.LM(f"openai/{model}", api_base=server.url, api_key="sk-test-key", cache=False)


# -- lm -----------------------------------------------------------------------------------------


async def test_a_dspy_lm_instance_is_taken_as_it_is(scripted_server, project):
    scripted_server.script("root", code("SUBMIT(answer=llm_query('hi'))"))
    rlm = RLM("question -> answer", lm=dspy_lm(scripted_server), project=project)
    prediction = await rlm.aforward(question="q")
    assert prediction.answer == "echo: hi"  # the sub-LM defaults to the root LM
    assert [r.model for r in scripted_server.chat_requests()] == ["root", "root"]


async def test_without_lm_dspy_settings_apply_at_call_time(scripted_server, project):
    scripted_server.script("configured", code("SUBMIT(answer='from settings')"))
    scripted_server.script("in-context", code("SUBMIT(answer='from context')"))
    rlm = RLM("question -> answer", project=project)  # built before any LM is configured
    with dspy.context(lm=dspy_lm(scripted_server, "configured")):
        assert (await rlm.aforward(question="q")).answer == "from settings"
        with dspy.context(lm=dspy_lm(scripted_server, "in-context")):
            assert rlm(question="q").answer == "from context"  # sync call, innermost context
    assert [r.model for r in scripted_server.chat_requests()] == ["configured", "in-context"]


def test_no_lm_anywhere_is_a_clear_error(project):
    rlm = RLM("question -> answer", project=project)
    with pytest.raises(ValueError, match=r"dspy.configure\(lm="):
        rlm(question="q")


def test_an_lm_of_another_kind_is_refused(project):
    with pytest.raises(TypeError, match="litellm model string, a dspy.LM or an rlm_tui LM"):
        RLM("question -> answer", lm=42, project=project)


# -- budget, progress, tools, skills ------------------------------------------------------------


async def test_max_iterations_is_the_budget_shorthand(scripted_server, project):
    scripted_server.script("root", code("x = 1"), code("x = 2"), '{"answer": "partial"}')
    rlm, _ = make_rlm(scripted_server, project, max_iterations=2, max_llm_calls=9)
    assert (rlm.budget.max_iterations, rlm.budget.max_lm_calls) == (2, 9)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RLM("question -> answer", lm="openai/x", project=project, max_iterations=0)
    prediction = await rlm.aforward(question="q")
    assert len(prediction.trajectory) == 2 and prediction.partial is True
    assert prediction.answer == "partial"


async def test_verbose_prints_the_headless_progress_on_stderr(scripted_server, project, capsys):
    scripted_server.script("root", code("print('working')"), code("SUBMIT(answer='done')"))
    rlm, rec = make_rlm(scripted_server, project, verbose=True)
    await rlm.aforward(question="q")
    err = capsys.readouterr().err
    assert "working" in err or "iteration" in err.lower(), err
    assert err.strip(), "verbose=True narrates the run"
    assert rec.events, "the caller's on_event still gets every event"


async def test_tools_may_be_a_list_of_functions(scripted_server, project):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    def shout(text: str) -> str:
        return text.upper()

    def whisper(text: str) -> str:
        return text.lower()

    scripted_server.script("root", code("SUBMIT(answer=f'{add(2, 3)} {shout(\"ok\")} {hush(\"OK\")}')"))
    rlm, _ = make_rlm(scripted_server, project, tools=[add, shout, dspy.Tool(whisper, name="hush")])
    assert (await rlm.aforward(question="q")).answer == "5 OK ok"


def test_tools_without_a_name_or_with_one_twice_are_refused(project):
    with pytest.raises(TypeError, match="pass tools as a dict"):
        RLM("question -> answer", lm="openai/x", project=project, tools=[lambda x: x])

    def f() -> None: ...

    with pytest.raises(ValueError, match="two tools are named 'f'"):
        RLM("question -> answer", lm="openai/x", project=project, tools=[f, f])


def test_skill_modules_take_str_paths(tmp_path):
    module = tmp_path / "helpers.py"
    module.write_text("X = 1\n")
    skill = Skill(name="helpers", instructions="use helpers", modules={"helpers": str(module)})
    assert skill.modules == {"helpers": module}


# -- inputs -------------------------------------------------------------------------------------


def test_an_unexpected_input_names_the_signature_inputs(project):
    rlm = RLM("question, context -> answer", lm="openai/x", project=project)
    with pytest.raises(TypeError, match=r"unexpected input\(s\) questoin.*its inputs are question, context"):
        rlm(questoin="typo", context="c")
    with pytest.raises(TypeError, match=r"missing input\(s\) context.*its inputs are question, context"):
        rlm(question="q")


# -- project ------------------------------------------------------------------------------------


async def test_the_library_api_mounts_nothing_without_a_project(scripted_server, project, monkeypatch):
    monkeypatch.chdir(project)  # the current directory holds secret.txt: it must not be mounted
    scripted_server.script("root", code("import os\nSUBMIT(answer=repr(sorted(os.listdir('/project'))))"))
    rlm = RLM("question -> answer", lm="openai/root", api_base=scripted_server.url)
    assert (await rlm.aforward(question="q")).answer == "[]"


# -- File ---------------------------------------------------------------------------------------


def test_file_takes_path_as_a_keyword_and_has_path(tmp_path):
    assert File(path="docs/report.pdf") == File("docs/report.pdf") != File(".")
    assert File(path=Path("a.txt")).path == "a.txt"
    assert isinstance(File(path="a") / "b", File)
    with pytest.raises(TypeError, match="takes the path once"):
        File("a", path="b")


def test_file_from_dir_lists_every_file_sorted(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.txt", "sub/c.txt"):
        (tmp_path / name).write_text(name)
    files = File.from_dir(str(tmp_path))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.txt", "b.txt", "sub/c.txt"]
    assert all(isinstance(f, File) for f in files)
    with pytest.raises(NotADirectoryError):
        File.from_dir(tmp_path / "a.txt")


async def test_file_path_keyword_reaches_the_sandbox(scripted_server, project):
    (project / "doc.txt").write_text("the document")
    scripted_server.script("root", code("SUBMIT(answer=open(doc).read())"))
    rlm, _ = make_rlm(scripted_server, project, signature="doc: File -> answer")
    prediction = await rlm.aforward(doc=File(path=project / "doc.txt"))
    assert prediction.answer == "the document"
