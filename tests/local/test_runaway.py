"""A constrained root reply that runs away (a loop, or the token limit) still ends as a cell that runs."""

from __future__ import annotations

import pytest

from rlm_tui.engine.reply import parse_reply
from rlm_tui.local.reply_grammar import ROOT_REPLY
from rlm_tui.local.runaway import REPEATED_LINES, RunawayGuard
from tests.local.helpers import require_small_model


def _stream(guard: RunawayGuard, text: str, piece: int = 5) -> str:
    """Feed `text` in pieces of `piece` characters (tokens split lines anywhere), as generation does."""
    passed = []
    for start in range(0, len(text), piece):
        passed.append(guard.feed(text[start:start + piece]))
        if guard.tripped:
            break
    return "".join(passed) + guard.end()


def test_a_numbered_loop_is_cut_after_its_lines_repeat_and_the_cell_runs():
    loop = "".join(f"print(find('CHANGES.rst:{n}'))\n" for n in range(1, 200))
    reply = _stream(RunawayGuard(), "```python\n# look for the release\n" + loop)
    code = parse_reply(reply).code
    assert code is not None
    compile(code, "<cell>", "exec")  # every kept line is complete
    assert code.count("find(") == REPEATED_LINES
    assert "repeat one pattern" in code.splitlines()[-1]


def test_a_cycle_of_two_lines_is_a_loop_too():
    loop = "".join(f"x = read('a.py', {n})\nprint(x)\n" for n in range(50))
    guard = RunawayGuard()
    _stream(guard, "```python\n" + loop)
    assert guard.tripped


def test_ordinary_cells_pass_through_unchanged():
    cells = [
        "```python\n# where is Budget defined\nprint(definitions('Budget'))\n```",
        "```python\nfor n in range(3):\n    print(n)\nprint(read('a.py', 1, 40))\nprint(read('b.py', 1, 40))\n```",
        "```python\n" + "".join(f"print(read('{name}.py'))\n" for name in "abcdefghij") + "```",  # names differ
        "```python\nrows = [\n    1,\n    2,\n    3,\n]\nSUBMIT(answer=sum(rows))\n```",
    ]
    for cell in cells:
        guard = RunawayGuard()
        assert _stream(guard, cell, piece=3) == cell and not guard.tripped


def test_a_reply_stopped_by_the_token_limit_keeps_its_complete_lines_and_closes():
    guard = RunawayGuard()
    passed = guard.feed("```python\nx = read('a.py')\nprint(x[:10], 'unterminat")
    reply = passed + guard.end(token_limit=1024)
    code = parse_reply(reply).code
    assert code is not None and "unterminat" not in code
    compile(code, "<cell>", "exec")
    assert "1,024-token limit" in code


@pytest.mark.local_model
def test_the_real_model_asked_for_a_runaway_list_gets_a_short_cell_that_runs():
    spec = require_small_model()
    from rlm_tui.local.llama import LocalModel

    model = LocalModel(spec.path(), name=spec.name, prefix_cache=False)
    messages = [{"role": "system", "content": "You write Python code cells."},
                {"role": "user", "content": "Continue this cell to the end, one line per entry, exactly in "
                 "this style:\n```python\n" + "".join(f"print(find('CHANGES.rst:{n}'))\n" for n in range(1, 5))
                 + "```\nand so on up to CHANGES.rst:300."}]  # left alone, 0.5B writes all 300 lines
    streamed: list[str] = []
    try:
        generation = model.generate(messages, max_tokens=1024, grammar=ROOT_REPLY, on_text=streamed.append)
    finally:
        model.close()
    assert "".join(streamed) == generation.text  # what the chat showed live is the reply
    code = parse_reply(generation.text).code
    assert code is not None and "repeat one pattern" in code
    compile(code, "<cell>", "exec")
    assert generation.stats.completion_tokens < 300  # cut within a few lines, not at 1,024 tokens
