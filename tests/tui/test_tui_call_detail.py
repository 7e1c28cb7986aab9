"""A sub-call's prompt and answer open beside the Calls pane; a batch is browsed prompt by prompt."""

from __future__ import annotations

from rlm_tui.tui.app import make_app
from rlm_tui.tui.help_text import KEYS
from rlm_tui.tui.screens.call_detail import CallDetailScreen
from rlm_tui.tui.widgets.call_tree import CallTreeView
from tests.tui.conftest import ask, settle
from tests.tui.fakes import Step, Turn


async def test_a_batch_is_browsed_prompt_by_prompt_beside_the_tree(project, settings, make_backend):
    turn = Turn(steps=[Step(code="print(llm_query_batched(prompts))", subcalls=4, batched=True)])
    app = make_app(settings, project, backend=make_backend([turn]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        graph = app.main.graph
        first = next(n for n in graph.nodes.values() if n.title == "llm_query")
        app.main.post_message(CallTreeView.CallChosen(first.call_id))
        await settle(pilot, app)
        view = app.screen
        assert isinstance(view, CallDetailScreen)
        box = view.query_one("Vertical")
        assert box.region.right == 140 and box.region.x > 0  # beside: the chat stays in sight
        assert box.border_title == "llm_query 1/4"
        assert "summarise chunk 0" in view.query_one("Markdown").source
        assert "summary 0" in view.query_one("Markdown").source
        await pilot.press("n")
        assert box.border_title == "llm_query 2/4"
        assert "summarise chunk 1" in view.query_one("Markdown").source
        calls = app.main.calls  # the tree follows
        assert calls.cursor_node is calls._tree_nodes_by_call[view.call_id]
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert box.border_title == "llm_query 4/4"
        await pilot.press("escape")
        assert not isinstance(app.screen, CallDetailScreen)


def test_help_documents_the_browse_keys():
    text = " ".join(f"{k} {v}" for k, v in KEYS)
    assert "n / ] and p / [" in text and "batch prompt by prompt" in text


async def test_each_turn_ends_with_a_summary_chart(project, settings, make_backend):
    from rlm_tui.tui.widgets.run_summary import RunSummary

    turn = Turn(steps=[Step(), Step(code="print(llm_query_batched(prompts))", subcalls=3, batched=True)])
    app = make_app(settings, project, backend=make_backend([turn, Turn(lm_error="APIError: 500")]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        summary = app.main.chat.last_turn.query_one(RunSummary)
        f = summary.figures
        assert (f.iterations, f.sub_calls) == (2, 3)
        assert [(m.model, m.calls) for m in f.models] == [("fake/root", 2), ("fake/sub", 3)]
        assert f.tokens == 2 * 120 + 3 * 55
        lines = [line.text for line in (summary.render_line(y) for y in range(summary.size.height))]
        assert lines[0].strip().startswith("2 iterations · 3 sub-calls · 405 tok")
        assert any("root" in line and "█" in line and "2 calls" in line for line in lines)
        assert any("sub" in line and "3 calls · 165 tok" in line for line in lines)
        assert f"_{summary.headline()}_" in app.main.chat.last_turn.export_markdown()
        await ask(pilot, app, "Again")  # a failed turn shows what it spent too
        assert app.main.chat.last_turn.query(RunSummary)
