"""What a turn looks like when it goes wrong: failed iterations, failed batches, replies with no code."""

from __future__ import annotations

import io

from rlm_tui.engine import events as ev
from rlm_tui.engine.calls import FAILED, NO_CODE
from rlm_tui.engine.printer import ProgressPrinter
from rlm_tui.tui.app import make_app
from rlm_tui.tui.widgets.iteration import IterationBlock
from tests.tui.conftest import ask
from tests.tui.fakes import Step, Turn

TRACEBACK = ('Traceback (most recent call last):\n  File "<cell>", line 3, in <module>\n'
             "    print(files[10])\nIndexError: list index out of range")


def tree_label(app, call_id: str) -> str:
    return str(app.main.calls._tree_nodes_by_call[call_id].label)


def node_of(app, kind: str, title: str | None = None):
    return [n for n in app.main.graph.nodes.values()
            if n.kind == kind and (title is None or n.title == title)]


async def test_a_failed_iteration_is_labelled_by_its_exception(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(stdout="", error=TRACEBACK), Step()])])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, app, "Why?")
        first = app.main.chat.last_turn.query(IterationBlock).first()
        assert "IndexError: list index out of range" in first.title
        assert "Traceback" not in first.title
        app.main.chat.last_turn.steps.fold(False)
        await pilot.pause(0.1)
        assert first._title.size.height == 1  # one row, never wrapped
        failed = node_of(app, "iteration")[0]
        label = tree_label(app, failed.call_id)
        assert "IndexError: list index out of range" in label and "Traceback" not in label


async def test_a_batch_that_all_failed_is_marked_failed(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(subcalls=3, batched=True, failed=3),
                                        Step(subcalls=4, batched=True, failed=1)])])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "Summarise")
        all_failed, one_failed = node_of(app, "sub", "llm_query_batched")
        assert all_failed.status == FAILED
        assert tree_label(app, all_failed.call_id).startswith("✗")
        assert "all 3 calls failed" in tree_label(app, all_failed.call_id)
        label = tree_label(app, one_failed.call_id)
        assert label.startswith("✓") and "1/4 failed" in label


async def test_replies_without_code_are_marked_and_named_off_protocol(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(code=None, reasoning="I think the answer is 42."),
                                        Step(code=None, reasoning="Still 42."), Step()])])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        app.main.status.update_info(warning="")
        await ask(pilot, app, "What?")
        blocks = list(app.main.chat.last_turn.query(IterationBlock))
        assert [b.no_code for b in blocks] == [True, True, False]
        assert "no code" in blocks[0].title and blocks[0].has_class("-no-code")
        iterations = node_of(app, "iteration")
        assert [n.status for n in iterations][:2] == [NO_CODE, NO_CODE]
        assert tree_label(app, iterations[0].call_id).startswith("∅")
        notes = [str(s.render()) for s in app.main.chat.last_turn.query(".turn-note")]
        assert any("not following the protocol" in n for n in notes)
        # the third reply had code again: the status line no longer warns
        assert app.main.status.info.warning == ""


async def test_status_line_warns_while_the_model_writes_no_code(project, settings, make_backend):
    backend = make_backend([Turn(steps=[Step(code=None), Step(code=None)])])
    app = make_app(settings, project, backend=backend)
    async with app.run_test(size=(140, 40)) as pilot:
        await ask(pilot, app, "What?")
        assert "not following the protocol" in app.main.status.info.warning
        assert "not following the protocol" in str(app.main.status._left.render())


def test_headless_printer_names_replies_without_code():
    out = io.StringIO()
    printer = ProgressPrinter(out)
    base = dict(run_id="r")
    lines = [printer.describe(e) for e in (
        ev.RunStarted(**base, call_id="r", task="q -> a", inputs={}, model="m", sub_model="m", project="/p"),
        ev.IterationStarted(**base, call_id="i1", parent_id="r", iteration=1),
        ev.CodeMissing(**base, call_id="i1", parent_id="r", iteration=1, in_a_row=1),
        ev.IterationStarted(**base, call_id="i2", parent_id="r", iteration=2),
        ev.CodeMissing(**base, call_id="i2", parent_id="r", iteration=2, in_a_row=2),
        ev.CellOutput(**base, call_id="c", parent_id="i2", iteration=2, stdout="", stderr="",
                      error=TRACEBACK + "\n", duration_s=0.1),
    )]
    assert "no code" in lines[2] and "protocol" not in lines[2]
    assert "not following the protocol" in lines[4]
    assert lines[5].strip() == "✗ IndexError: list index out of range"


async def test_the_engine_counts_replies_without_code(scripted_server, tmp_path):
    """The real loop (scripted server, real sandbox) emits CodeMissing with the run of misses."""
    from rlm_tui.engine.rlm import RLM

    project = tmp_path / "p"
    project.mkdir()
    seen: list[ev.Event] = []
    scripted_server.script("root", "The answer is 4.", "Still 4, surely.",
                           "Fine.\n```python\nSUBMIT(answer='4')\n```")
    rlm = RLM("question -> answer", lm="openai/root", sub_lm="openai/sub", project=project,
              api_base=scripted_server.url, on_event=seen.append)
    prediction = await rlm.aforward(question="2+2?")
    assert prediction.answer == "4"
    missing = [e for e in seen if isinstance(e, ev.CodeMissing)]
    assert [(e.iteration, e.in_a_row, e.off_protocol) for e in missing] == [(1, 1, False), (2, 2, True)]
    iterations = {e.iteration: e.call_id for e in seen if isinstance(e, ev.IterationStarted)}
    assert [e.call_id for e in missing] == [iterations[1], iterations[2]]
