"""The small-model protocol: compact prompt, helpers imported, short errors, answer-shape nudges."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.engine.outputs import make_signature
from rlm_tui.engine.prompts import COMPACT_HELPERS, system_prompt, task_prompt
from rlm_tui.engine.small_model import (
    answer_nudge,
    cell_feedback,
    repeats,
    short_error,
    submit_field,
    wanted_shapes,
)
from rlm_tui.local.reply_grammar import ROOT_REPLY
from tests.local.test_reply_grammar import MODEL, scripted  # noqa: F401 (a fixture)

TRACEBACK = """Traceback (most recent call last):
  File "<cell 3>", line 2, in <module>
    with open('project/context.txt', 'r') as file:
         ~~~~^^^^^^^^^^^^^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 44] No such file or directory: 'project/context.txt'"""
CODE = "import re\nwith open('project/context.txt', 'r') as file:\n    text = file.read()\n"


def test_short_error_keeps_the_failing_line_and_the_exception():
    assert short_error(TRACEBACK, CODE) == (
        "line 2: with open('project/context.txt', 'r') as file:\n"
        "FileNotFoundError: [Errno 44] No such file or directory: 'project/context.txt'")
    syntax = '  File "<cell 4>", line 1\n    def f(:\n          ^\nSyntaxError: invalid syntax'
    assert short_error(syntax, "def f(:\n  pass") == "line 1: def f(:\nSyntaxError: invalid syntax"
    assert short_error("the cell timed out after 60 s", "while True: pass") == "the cell timed out after 60 s"


def test_shapes_come_from_the_questions_wording():
    assert [s.name for s in wanted_shapes("What is the code? Answer with the 7-digit code only.")] == [
        "a 7-digit number"]
    assert [s.name for s in wanted_shapes("How many functions take `ctx`?")] == ["a number"]
    assert [s.name for s in wanted_shapes("Which file defines the class `Foo`?")] == ["a file path"]
    assert wanted_shapes("Summarise the README.") == []


def test_nudge_points_at_answer_shaped_values(tmp_path: Path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "core.py").write_text("class Foo: pass\n")
    code_q = "What is the access code? Answer with the 7-digit code only."
    found = "context.txt:4589: …The access code for the Selkafen vault is 9148611.\n"
    assert "9148611" in answer_nudge(code_q, found) and "SUBMIT" in answer_nudge(code_q, found)
    assert answer_nudge(code_q, "context.txt:12: nothing here, 123456 or 12345678\n") == ""
    many = " ".join(str(1000000 + i) for i in range(7))
    assert answer_nudge(code_q, many) == ""  # too many to point at
    count_q = "How many functions take a parameter named `ctx`? Answer with the number only."
    assert "17" in answer_nudge(count_q, "checking...\ncount: 17\n")
    assert answer_nudge(count_q, "src/core.py:12: def f(ctx)\n") == ""  # line numbers are not counts
    file_q = "Which file defines the class `Foo`? Answer with the file's path."
    shown = "[{'path': 'src/core.py', 'line': 1, 'kind': 'class', 'qualname': 'Foo'}]"
    assert "src/core.py" in answer_nudge(file_q, shown, tmp_path)
    assert answer_nudge(file_q, "maybe src/other.py or os.path", tmp_path) == ""  # not project files


def test_cell_feedback_shortens_errors_and_nudges_only_without_one():
    q = "Answer with the 7-digit code only."
    failed = cell_feedback("1234567\n", "", TRACEBACK, 4000, code=CODE, question=q, project=None)
    assert "line 2: with open" in failed and "Traceback" not in failed and "Note:" not in failed
    assert "Note: the output shows a 7-digit number" in cell_feedback(
        "1234567\n", "", None, 4000, code="print(x)", question=q, project=None)


def test_the_nudge_shows_the_submit_call_for_a_one_field_signature():
    """A 1.5B model told the four codes it found and to "call SUBMIT" printed its own list of line
    numbers again (seed 7, needle multi 8k); the nudge now shows the call itself."""
    q = "What are the access codes for the A, B, C and D vaults? Answer with the 7-digit codes, comma-separated."
    shown = "\n".join(f"context.txt:{n}: The access code for the {v} vault is {c}." for n, v, c in
                      ((87, "A", 2062124), (75, "B", 5599255), (99, "C", 7337192), (171, "D", 7931223)))
    nudge = answer_nudge(q, shown, field="answer")
    assert nudge.endswith("```python\nSUBMIT(answer='2062124, 5599255, 7337192, 7931223')\n```")
    assert "```" not in answer_nudge(q, shown)  # no field: the plain line
    assert submit_field(make_signature("question -> answer")) == "answer"
    assert submit_field(make_signature("question -> answer, sources")) is None
    assert submit_field(make_signature("question -> count: int")) is None


def test_a_one_value_question_gets_the_value_its_sentence_names():
    """Seed 20261, needle single 8k: find('Zanheshes vault') printed a line holding two vaults'
    codes; the nudge offered SUBMIT(answer='7733317, 8734373') and the 1.5B model copied it."""
    q = ("The project holds one long document, `context.txt` (33,262 characters). What is the access code "
         "for the Zanheshes vault? Answer with the 7-digit code only.")
    shown = ("context.txt:133: The old captain praised a box of seeds in the west wing. The access code for the "
             "Zanheshes vault is 7733317. The access code for the Quihesro vault is 8734373. The surveyor")
    nudge = answer_nudge(q, shown, field="answer")
    assert "7733317, 8734373" in nudge and "nearest the question's words is 7733317" in nudge
    assert nudge.endswith("SUBMIT(answer='7733317')\n```")
    tie = answer_nudge(q, "The code for red is 1234567. The code for blue is 7654321.", field="answer")
    assert "asks for one" in tie and "SUBMIT" not in tie  # nothing tells them apart: no call to copy
    assert not wanted_shapes("Answer with the four 7-digit codes in that order.")[0].one
    assert wanted_shapes("Answer with the 7-digit code only.")[0].one


def test_which_file_gets_the_file_whose_line_holds_the_question_words(tmp_path: Path):
    """Seed 11, codebase defines: find('HelpOption') printed lines of three files; the nudge offered
    all three joined in one SUBMIT and the model copied it."""
    for name in ("__init__.py", "core.py", "decorators.py"):
        (tmp_path / "src" / "click").mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / "click" / name).write_text("")
    q = "Which file defines the class `HelpOption`? Answer with the file's path relative to the project root."
    shown = ("src/click/__init__.py:22: from .decorators import HelpOption as HelpOption\n"
             "src/click/core.py:1317:             self._help_option = HelpOption(help_options)\n"
             "src/click/decorators.py:525: class HelpOption(Option):\n")
    assert answer_nudge(q, shown, tmp_path, field="answer").endswith("SUBMIT(answer='src/click/decorators.py')\n```")


def test_a_cell_repeating_an_earlier_one_under_a_new_comment_is_a_repeat():
    first = "# Find the lines that mention the project.\nfind('project')\n"
    assert repeats("# Look for the project again.\n\nfind('project')", [None, first])
    assert not repeats("find('project', limit=50)", [first]) and not repeats(first, [])


def test_a_cell_of_comments_only_is_told_nothing_ran():
    """Seed 20261, codebase callers: the model wrote the callers it had seen as # comments, three
    times; each ran nothing and printed nothing."""
    only = "# The callers are:\n# Group.command.decorator\n"
    feedback = cell_feedback("", "", None, 4000, code=only, question="q", project=None, repeated=True)
    assert "only comments, so nothing ran" in feedback and "same code" not in feedback


def test_compact_prompts_show_the_question_whole_and_name_the_helpers():
    signature = make_signature("question -> answer")
    system = system_prompt(signature, output_limit=4000, roles={}, compact=True, compact_helpers=True)
    assert "find(*terms)" in system and "SUBMIT(answer=str)" in system and "{" not in system.split("Helpers")[0]
    assert "[{path, line, kind, qualname, params}]" in system
    helpers = system.split("Helpers")[1]  # the code helpers come before find, and the prompt says when
    assert helpers.index("definitions(name)") < helpers.index("callers(name)") < helpers.index("find(*terms)")
    assert "start with definitions, callers or outline" in helpers
    assert 'callers("save_config")' in system.split("Another, about code:")[1]  # an example that starts there
    bare = system_prompt(signature, output_limit=4000, roles={}, compact=True)
    assert COMPACT_HELPERS not in bare and "find(*terms)" not in bare.split("Example")[0]
    assert "callers(" not in bare and "{code_example}" not in bare
    question = "The project holds `context.txt` (900,000 characters). " + "What is the code? " * 20
    assert len(question) > 200
    assert f"Question: {question}" in task_prompt(signature, {"question": question}, [], "", [], compact=True)
    assert "…" in task_prompt(signature, {"question": question}, [], "", [])  # the full prompt previews


def test_a_compact_run_imports_the_helpers_and_gets_the_protocols_feedback(scripted, tmp_path: Path):
    from rlm_tui.engine.rlm import RLM

    (tmp_path / "notes.txt").write_text("intro\nThe code for the north door is 4417302.\nend\n")
    (tmp_path / "src").mkdir()
    local = scripted([
        "```python\nfind('north door')\n```",
        "```python\nx = undefined_name\n```",
        "```python\nx = undefined_name\n```",
        "```python\nopen('doors.txt')\n```",
        "```python\nSUBMIT(answer='4417302')\n```",
    ])
    prediction = RLM("question -> answer", lm=MODEL, project=tmp_path, skills=["codebase"])(
        question="What is the code for the north door? Answer with the 7-digit code only.")
    assert prediction.answer == "4417302"
    outputs = [step["output"] for step in prediction.trajectory]
    assert "notes.txt:2: The code for the north door is 4417302." in outputs[0]
    assert "Note: the output shows a 7-digit number of the kind the question asks for: 4417302." in outputs[0]
    assert outputs[1].endswith("line 1: x = undefined_name\nNameError: name 'undefined_name' is not defined")
    assert "same code as an earlier one" not in outputs[1] and "same code as an earlier one" in outputs[2]
    assert "If that output answers the question, call SUBMIT" in outputs[2]
    assert outputs[3].endswith("No such file or directory: 'doors.txt'\nAt the top of /project: notes.txt, src/")
    assert "At the top of /project: notes.txt, src/" in local.calls[0]["last"]
    assert all(call["grammar"] == ROOT_REPLY for call in local.calls)


def test_without_the_codebase_skill_the_prompt_names_no_helpers(scripted, tmp_path: Path):
    from rlm_tui.engine.rlm import RLM

    local = scripted(["```python\nSUBMIT(answer='x')\n```"])
    RLM("question -> answer", lm=MODEL, project=tmp_path, skills=[])(question="q?")
    assert "Use plain Python" in local.calls[0]["system"] and "find(*terms)" not in local.calls[0]["system"]
    local = scripted(["```python\nSUBMIT(answer='x')\n```"])
    RLM("question -> answer", lm=MODEL, project=tmp_path, skills=["codebase"])(question="q?")
    assert "find(*terms)" in local.calls[0]["system"]
