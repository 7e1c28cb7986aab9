"""The root LM's reply parser: code blocks out of free text, in linear time."""

from __future__ import annotations

import ast

from rlm_tui.engine.reply import parse_reply, scan


def test_reasoning_and_every_python_block_in_order():
    parsed = parse_reply("Look first.\n```python\nx = 1\n```\nthen\n```repl\nprint(x)\n```\nDone.")
    assert parsed.code == "x = 1\n\nprint(x)"
    assert parsed.reasoning == "Look first.\n\nthen\n\nDone."


def test_no_block_and_other_languages_are_not_code():
    assert parse_reply("The answer is 4.").code is None
    assert parse_reply("```bash\nls\n```").code is None
    assert parse_reply("```python\n\n```").code is None


def test_an_unclosed_block_runs_to_the_end():
    assert parse_reply("Go.\n```python\nprint(1)\n").code == "print(1)"


def test_a_fence_inside_a_string_literal_stays_in_the_cell():
    body = ('answer = """Use it like this:\n```python\nprint(\'hi\')\n```\nThat is all."""\n'
            "note = '``` not a fence'\n"
            "# ``` nor in a comment\n"
            "SUBMIT(answer=answer)")
    parsed = parse_reply(f"Final.\n```python\n{body}\n```\nafter")
    assert parsed.code == body
    ast.parse(parsed.code)  # the cell is whole Python
    assert parsed.reasoning == "Final.\n\nafter"


def test_escaped_quotes_do_not_end_a_string():
    body = 'text = """a \\""" ```\n```\nstill inside"""\nprint(text)'
    assert parse_reply(f"```python\n{body}\n```").code == body


def test_an_unterminated_string_falls_back_to_the_first_fence():
    # The model's code is broken (a triple quote never closes): cut at the first fence as before,
    # so the reasoning after it does not become code.
    parsed = parse_reply('```python\nx = """oops\n```\nMy reasoning continues here.')
    assert parsed.code == 'x = """oops'
    assert "My reasoning continues here." in parsed.reasoning


def _steps(text: str) -> int:
    return scan(text).chars_scanned


def test_parsing_is_linear_in_the_reply_size():
    # Shapes that made the old regex parser quadratic or worse: a fence opener on a line that
    # never ends, repeated; and many blocks. The work per character must not grow with size.
    shapes = [
        lambda n: "```py" * (n // 5),
        lambda n: "```python\nx = 1\n```\n" * (n // 19),
        lambda n: "```python\n" + "s = '''" + "```\n" * (n // 4),
        lambda n: "word ``` " * (n // 9),
    ]
    for shape in shapes:
        small, large = shape(300_000), shape(3_000_000)
        ratio = _steps(large) / max(1, _steps(small))
        assert ratio < 12, f"{ratio:.1f}x the work for 10x the text"


async def test_an_answer_holding_a_fenced_block_is_submitted_whole(scripted_server, tmp_path):
    from tests.engine.test_engine import make_rlm

    answer = "Call it so:\n```python\nrun()\n```\nDone."
    scripted_server.script("root", f"Here it is.\n```python\nSUBMIT(answer='''{answer}''')\n```")
    rlm, _ = make_rlm(scripted_server, tmp_path)
    prediction = await rlm.aforward(question="how do I call it?")
    assert prediction.answer == answer
    assert len(prediction.trajectory) == 1
