"""The host's checkpoint store: bounds it enforces whatever the guest claims, restore order."""

from __future__ import annotations

import json

from rlm_tui.sandbox.checkpoint import Checkpoint, GuestState, input_encoder, json_bytes


def test_bounds_hold_on_the_host() -> None:
    kept = Checkpoint(max_value=10, max_total=25)
    assert kept.keep("a", "pickle", b"x" * 10) is None
    assert "too big" in kept.keep("b", "pickle", b"x" * 11)
    assert kept.keep("c", "pickle", b"x" * 10) is None
    assert "full" in kept.keep("d", "pickle", b"x" * 6)
    assert kept.keep("a", "pickle", b"y" * 9) is None  # replacing frees the old bytes first
    assert kept.total_bytes == 19 and kept.room == 6
    assert "unknown kind" in kept.keep("e", "input", b"")  # only the host keeps inputs
    assert set(kept.lost) == {"b", "d", "e"}
    kept.forget(["b", "c"])
    assert "b" not in kept.lost and kept.total_bytes == 9


def test_modules_restore_first_then_in_keeping_order() -> None:
    kept = Checkpoint()
    kept.keep("x", "pickle", b"1")
    kept.keep("np", "module", b"numpy")
    kept.keep("f", "source", b"def f(): pass")
    kept.keep("x", "pickle", b"2")
    assert kept.names() == ["np", "f", "x"]
    assert kept.fetch("x") == b"pickle\n2" and kept.fetch("nope") == b""


def test_inputs_are_sent_again_from_the_host_value() -> None:
    state = GuestState()
    encoder = input_encoder(json_bytes)
    doc, rows = "héllo", [1, 2]
    assert state.stage_inputs({"doc": doc, "rows": rows}, encoder) == []
    state.loaded({"doc": doc, "rows": rows}, encoder)
    state.pending = {}
    assert state.stage_inputs({"doc": doc, "rows": [1, 2]}, encoder) == ["doc"]  # rows: a new object
    frames = state.inputs_frames(["doc"])
    head, _, rest = frames.partition(b"\n")
    assert json.loads(head) == ["rows", "json", 6]
    assert rest.startswith(b"[1, 2]")
    assert state.checkpoint.fetch("doc") == "text\nhéllo".encode()
    assert state.checkpoint.total_bytes == 0  # inputs cost no space: they are encoded again
