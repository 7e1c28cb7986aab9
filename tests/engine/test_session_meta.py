"""Saved sessions' meta.json is read through a pydantic model: a damaged or foreign file is
skipped whole, and never breaks the listing of the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_tui.engine import session as session_module
from rlm_tui.engine.session import ChatSession
from rlm_tui.engine.session_meta import SessionMeta


def _write(root: Path, name: str, meta: object) -> None:
    (root / name).mkdir()
    (root / name / "meta.json").write_text(json.dumps(meta))


def test_damaged_meta_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "sessions_dir", lambda: tmp_path)
    good = {"id": "good", "project": "/p", "updated": 2.0, "title": "fine",
            "turns": [{"question": "q", "answer": "a", "partial": False}]}
    _write(tmp_path, "good", good)
    _write(tmp_path, "older", {**good, "id": "older", "updated": 1.0, "turns": []})
    _write(tmp_path, "string-time", {**good, "id": "string-time", "updated": "yesterday"})
    _write(tmp_path, "no-title", {k: v for k, v in good.items() if k != "title"})
    _write(tmp_path, "list", [1, 2])
    _write(tmp_path, "bad-turn", {**good, "id": "bad-turn", "turns": [{"question": 1}]})
    (tmp_path / "not-json").mkdir()
    (tmp_path / "not-json" / "meta.json").write_text("{")
    assert [s.id for s in ChatSession.list_saved()] == ["good", "older"]


def test_meta_round_trips(tmp_path: Path) -> None:
    meta = SessionMeta(id="x", project="/p", updated=1.5, title="t")
    (tmp_path / "meta.json").write_text(meta.model_dump_json())
    assert SessionMeta.read(tmp_path / "meta.json") == meta
