"""`rlm-tui replay`: the Files pane shows the project the trace was recorded on, never the folder
the replay was started in; a project not recorded or no longer on disk is said so, and then no
citation of the answer links to some other folder's files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rlm_tui.engine import events as ev
from rlm_tui.tui.app import make_app
from tests.tui.conftest import wait_for
from tests.tui.traces import sample_events, write_trace

ANSWER = {"answer": "`main` is at `src/app.py:1-2`."}


def citing(events: list[ev.Event]) -> list[ev.Event]:
    """The sample run, its answer citing `src/app.py:1-2`."""
    return [replace(e, outputs=ANSWER) if isinstance(e, (ev.Submitted, ev.RunFinished)) and e.call_id in ("it2", "run1")
            else e for e in events]


def shown(app) -> list[str]:
    """What the Files pane lists at its top level and, under /project, the project's entries."""
    files = app.main.files
    top = [str(node.label) for node in files.root.children]
    mount = files._mounts.get(files.project)
    return top + ([str(node.label) for node in mount.children] if mount is not None else [])


async def replayed(pilot, app) -> None:
    await wait_for(pilot, lambda: app.main.chat.last_turn is not None and app.main.chat.last_turn.done)
    await pilot.pause()


def started_elsewhere(tmp_path: Path) -> Path:
    """The folder the replay is started in: a project too, with a file the traced one lacks."""
    cwd = tmp_path / "cwd"
    (cwd / "src").mkdir(parents=True)
    (cwd / "src" / "app.py").write_text("def main():\n    print('other')\n")
    (cwd / "unrelated.txt").write_text("not the traced project\n")
    return cwd


async def test_the_files_pane_shows_the_traced_project(tmp_path, project, settings):
    trace = write_trace(tmp_path / "t" / "trace.jsonl", citing(sample_events()), project=project)
    app = make_app(settings, started_elsewhere(tmp_path), replay=trace)
    async with app.run_test(size=(120, 35)) as pilot:
        await replayed(pilot, app)
        assert app.main.files.project == project.resolve() == app.project
        listed = shown(app)
        assert "README.md" in listed and "docs/" in listed and "unrelated.txt" not in listed
        cited = app.main.chat.last_turn.answer.citations
        assert [c.path for c in cited] == ["src/app.py"]  # a link into the traced project


async def test_a_traced_project_no_longer_on_disk_is_said_so(tmp_path, settings):
    gone = tmp_path / "gone"
    trace = write_trace(tmp_path / "t" / "trace.jsonl", citing(sample_events()), project=gone)
    app = make_app(settings, started_elsewhere(tmp_path), replay=trace)
    async with app.run_test(size=(120, 35)) as pilot:
        await replayed(pilot, app)
        assert shown(app) == [f"the traced project {gone} is no longer on disk"]
        assert app.main.chat.last_turn.answer.citations == []  # src/app.py of the cwd is not linked


async def test_a_trace_from_before_projects_were_recorded_still_replays(tmp_path, settings):
    trace = write_trace(tmp_path / "t" / "trace.jsonl")
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    trace.write_text("".join(json.dumps({k: v for k, v in line.items() if k != "project"}) + "\n" for line in lines))
    app = make_app(settings, started_elsewhere(tmp_path), replay=trace)
    async with app.run_test(size=(120, 35)) as pilot:
        await replayed(pilot, app)
        assert shown(app) == ["project not recorded in this trace"]
