"""The chat and Calls pane are tidy: headers kept, no stray blank rows, no cut figures, no ragged
shading, headings that are not links, costs that never read "$0.0000"."""

from __future__ import annotations

from rich.style import Style
from rlm_tui.tui import fmt
from rlm_tui.tui.app import make_app
from rlm_tui.tui.widgets.blocks import CodeBlock
from rlm_tui.tui.widgets.call_tree import describe
from rlm_tui.tui.widgets.iteration import IterationBlock
from rlm_tui.usage import Usage
from tests.tui.conftest import ask, settle
from tests.tui.fakes import Step, Turn

LONG_QUESTION = "What does this project do? Tell me about the README and the code in src/app.py"


def batch_turn() -> Turn:
    return Turn(steps=[Step(code="answers = llm_query_batched(prompts)\nprint(answers)", subcalls=8,
                            batched=True)],
                answer="## Summary\n\nIt is a **demo**.")


async def open_steps(pilot, app) -> list[IterationBlock]:
    turn = app.main.chat.last_turn
    turn.steps.fold(False)
    blocks = list(turn.query(IterationBlock))
    for block in blocks:
        block.fold(False)
    await pilot.pause(0.1)
    return blocks


async def test_an_expanded_sub_call_list_keeps_its_header_and_no_blank_rows(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([batch_turn()]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        block = (await open_steps(pilot, app))[0]
        block.subcalls.collapsed = False
        await pilot.pause(0.2)
        title = block.subcalls._title
        assert title.size.height == 1 and "8 sub-calls" in str(title.render())
        rows = block.subcalls.query_one("#subcall-list")
        assert rows.size.height == 8  # one row per prompt, none blank
        assert not str(rows.render()).endswith("\n")


async def test_code_shading_spans_every_line(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([batch_turn()]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        code = (await open_steps(pilot, app))[0].query_one(CodeBlock)
        rendered = code.render()
        assert rendered.spans  # still highlighted
        for span in rendered.spans:  # but no token paints its own background
            style = Style.parse(span.style) if isinstance(span.style, str) else span.style
            assert style.bgcolor is None
        line = code.render_line(0)  # the block's shading fills the line to its edge
        assert len({seg.style.bgcolor for seg in line if seg.style and seg.text}) == 1


async def test_answer_headings_are_not_links_and_add_no_blank_rows(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([batch_turn()]))
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        answer = app.main.chat.last_turn.answer
        await pilot.pause(0.2)
        heading = answer.query("MarkdownH2").first()
        assert not heading.styles.text_style.underline
        assert heading.styles.color != app.current_theme.to_color_system().primary
        assert heading.styles.margin.top == 0
        assert heading.region.y == answer.region.y  # the heading is the answer's first row


async def test_turn_row_fits_its_pane_and_sub_calls_show_their_prompts(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend([batch_turn()]))
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, app, LONG_QUESTION)
        await pilot.press("f3")  # the Calls tab at this width
        await settle(pilot, app)
        calls = app.main.calls
        graph = app.main.graph
        run = next(n for n in graph.nodes.values() if n.kind == "run")
        label = str(calls._tree_nodes_by_call[run.call_id].label)
        assert label.endswith("tok · $0.0010") or label.rstrip()[-1].isdigit()
        assert len(label) + 3 <= calls.size.width  # the figures are whole, not cut at the edge
        prompts = [str(calls._tree_nodes_by_call[n.call_id].label) for n in graph.nodes.values()
                   if n.kind == "sub" and n.title == "llm_query"]
        assert len(prompts) == 8 and len(set(prompts)) == 8
        assert all("summarise chunk" in p for p in prompts)


def test_call_detail_does_not_highlight_english_as_code():
    from rlm_tui.engine.calls import CallNode

    node = CallNode("c", None, "sub", "llm_query", 0.0, prompt="Summarise this for me, please.",
                    response="It says hello.")
    text = describe(node)
    assert "```text\nSummarise this" in text and "```text\nIt says hello." in text


def test_headless_costs_never_read_zero_dollars():
    import io

    from rlm_tui.engine import events as ev
    from rlm_tui.engine.printer import ProgressPrinter

    line = ProgressPrinter(io.StringIO()).describe(ev.LMCallFinished(
        run_id="r", call_id="l", model="m", role="root", response="", prompt_tokens=10,
        completion_tokens=2, cost_usd=0.00002))
    assert "<$0.0001" in line and "$0.0000" not in line
    assert Usage(10, 2, 0.00002, lm_calls=1).summary().endswith("<$0.0001")


def test_costs_never_read_zero_dollars():
    assert fmt.cost(0.00001) == "<$0.0001"
    assert fmt.cost(0.00004, local=True) == "free"
    assert "$0.0000" not in {fmt.cost(x) for x in (1e-9, 4e-5, 9.9e-5)}


async def test_status_line_costs(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        status = app.main.status
        status.update_info(usage=Usage(100, 20, 0.00002))
        assert "<$0.0001" in str(status._left.render())
        status.update_info(model="embedded/qwen2.5-0.5b", sub_model="embedded/qwen2.5-0.5b",
                           usage=Usage(100, 20, None))
        assert "free" in str(status._left.render())


async def test_palette_shows_each_description_once(project, settings, make_backend):
    from rlm_tui.tui.palette import RLMCommands

    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        provider = RLMCommands(app.screen)
        hits = [hit async for hit in provider.search("theme")]
        assert hits
        for hit in hits:
            assert hit.help not in str(hit.prompt)


async def test_theme_picker_leaves_the_app_in_sight(project, settings, make_backend):
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        await _slash(pilot, app, "/theme")
        await pilot.pause(0.2)
        picker = app.screen
        box = picker.query_one("Vertical")
        assert box.region.width <= 40 and box.region.right >= 138  # beside the chat, not over it
        assert picker.styles.background.a == 0


async def _slash(pilot, app, text: str) -> None:
    app.main.prompt_area.input.focus()
    app.main.prompt_area.input.load_text(text)
    await pilot.press("enter")


async def test_a_local_models_turn_is_free(project, make_backend):
    from rlm_tui.config import Settings

    local = Settings(model="embedded/qwen2.5-0.5b", sub_model="embedded/qwen2.5-0.5b")
    app = make_app(local, project, backend=make_backend())
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Hi")
        title = app.main.chat.last_turn.steps.title
        assert title.endswith("· free") and "$" not in title
