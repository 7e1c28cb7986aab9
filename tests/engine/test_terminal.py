"""Nothing a guest or an LM writes can drive the user's terminal: every printer drops control
sequences (OSC 52 clipboard writes, CSI, bare ESC, C1, \\r) and keeps \\n and \\t."""

from __future__ import annotations

import io
import json

import pytest

from rlm_tui.cli import EXIT_OK, main
from rlm_tui.engine.events import CellOutput, CodeCell, RunFinished, RunStarted
from rlm_tui.engine.printer import ProgressPrinter
from rlm_tui.terminal import printable, say
from tests.engine.test_engine import code

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # "rm -rf ~" into the clipboard
HOSTILE = f"a{OSC52}b\x1b[2J\x1b[1;1Hc\x1bcd\rFAKE\x9b31me\x9d0;title\x9cf\x7fg\x00h\x1b]8;;http://x\x1b\\i"


@pytest.mark.parametrize(("text", "clean"), [
    (OSC52 + "ok", "ok"),
    ("\x1b]52;c;unterminated", "52;c;unterminated"),  # no ESC survives, so nothing is interpreted
    ("red \x1b[31mword\x1b[0m", "red word"),
    ("bare\x1b7 escape", "bare escape"),  # ESC 7 (save cursor), a two-byte sequence
    ("trailing\x1b", "trailing"),
    ("progress 10%\rdone", "progress 10%done"),
    ("\x9b2J\x9d0;t\x07eight-bit", "eight-bit"),
    ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
    ("unicode é 中 ✓", "unicode é 中 ✓"),
    (HOSTILE, "abcdFAKEefghi"),
])
def test_printable(text, clean):
    assert printable(text) == clean


def test_printable_is_linear_on_hostile_input():
    import time

    started = time.perf_counter()
    for text in ("\x9d" * 100_000, "\x1b]" * 100_000, "\x1bP" * 100_000):
        assert printable(text) == ""
    assert time.perf_counter() - started < 2


def test_say_never_raises_on_unencodable_text():
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    say("caf\u00e9 \udcff", stream)
    stream.seek(0)
    assert stream.read() == "caf? ?\n"


def test_ask_prints_no_control_sequences(scripted_server, tmp_path, capsys):
    project = tmp_path / "proj"
    project.mkdir()
    scripted_server.script(
        "root",
        code(f"x = 1  # {HOSTILE.replace(chr(13), '').replace(chr(0), '')}\nprint({OSC52!r})\nraise ValueError({HOSTILE!r})"),
        code(f"SUBMIT(answer={HOSTILE!r})"))
    argv = ["ask", "q", "--project", str(project), "--model", "openai/root", "--api-base", scripted_server.url]
    assert main(argv) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == "abcdFAKEefghi\n"
    assert "▸ x = 1 # abcdFAKEefghi" in err and "FAKEefghi" in err.split("✗ ")[1]
    for stream in (out, err):
        assert not any(c in stream for c in "\x1b\r\x07\x9b\x9d\x00")


def test_json_output_escapes_control_characters(scripted_server, tmp_path, capsys):
    project = tmp_path / "proj"
    project.mkdir()
    scripted_server.script("root", code(f"SUBMIT(answer={OSC52!r})"))
    argv = ["ask", "q", "--project", str(project), "--model", "openai/root", "--api-base", scripted_server.url,
            "--json", "-q"]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "\x1b" not in out and json.loads(out)["outputs"]["answer"] == OSC52  # the data survives, escaped


def test_replay_summary_prints_no_control_sequences(tmp_path, capsys):
    ids = {"run_id": "r", "call_id": "c"}
    events = [RunStarted(**ids, task=f"task {HOSTILE}", inputs={}, model="m", sub_model="m", project="/p"),
              CodeCell(**ids, parent_id="c", iteration=1, reasoning=HOSTILE, code=f"x = 1  # {HOSTILE}"),
              CellOutput(**ids, parent_id="c", iteration=1, stdout=HOSTILE, stderr="", error=None, duration_s=0.1),
              RunFinished(**ids, outputs={"answer": HOSTILE}, partial=False, usage={}, duration_s=1.0)]
    trace = tmp_path / "t.jsonl"
    trace.write_text("".join(e.to_json() + "\n" for e in events))
    assert main(["replay", str(trace), "--summary"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "run (depth 0): task abcdFAKEefgh" in out and "outputs: {" in out
    assert not any(c in out for c in "\x1b\r\x07\x9b\x9d\x00")


def test_progress_printer_cleans_its_lines():
    stream = io.StringIO()
    ProgressPrinter(stream)(CodeCell(run_id="r", call_id="c", iteration=1, reasoning="", code=HOSTILE))
    assert stream.getvalue() == "  ▸ abcd (+1 lines)\n"  # \r splits a line; nothing rewrites it
