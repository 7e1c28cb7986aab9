"""`/export`: into the data folder or a path outside the project, never over a file, and the chat
says where it went."""

from __future__ import annotations

from pathlib import Path

from rlm_tui.tui.app import make_app
from tests.tui.conftest import ask, wait_for
from tests.tui.test_tui_commands import messages, slash


def _notes(app) -> list[str]:
    return [str(n.render()) for n in app.main.chat.query(".chat-note")]


async def test_export_goes_to_the_data_folder_not_the_project(project, settings, make_backend, tui_home,
                                                              monkeypatch):
    monkeypatch.chdir(project)  # where people start rlm-tui: the export used to land here
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await ask(pilot, app, "What is it?")
        sid = app.session.session_id
        await slash(pilot, app, "/export")
        first = tui_home / "data" / "exports" / f"rlm-tui-{sid}.md"
        await wait_for(pilot, lambda: first.is_file() and _notes(app))
        assert "The project is **small**." in first.read_text()
        assert _notes(app) == [f"Exported 1 turn(s) to {first}"]  # the path, in the chat
        first.write_text("my edits")
        await slash(pilot, app, "/export")
        second = first.with_name(f"rlm-tui-{sid}-1.md")
        await wait_for(pilot, lambda: second.is_file() and len(_notes(app)) == 2)
        assert first.read_text() == "my edits"  # never overwritten
        assert _notes(app)[1].endswith(str(second))
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


async def test_export_refuses_a_path_inside_the_project(project, settings, make_backend, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(project)
    (tmp_path / "link").symlink_to(project)  # a way in through a link is refused as well
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35), notifications=True) as pilot:
        await ask(pilot, app, "What is it?")
        for arg in ("notes.md", "docs/", f"{tmp_path}/link/out.md", "../proj/out.md"):
            await slash(pilot, app, f"/export {arg}")
            await wait_for(pilot, lambda: any("inside the project" in m for m in messages(app)))
            app.clear_notifications()
        assert not list(project.rglob("*rlm-tui*")) and not (project / "notes.md").exists()
        assert not _notes(app)
        outside = tmp_path / "elsewhere"
        await slash(pilot, app, f"/export {outside}/chat.md")  # outside: written where named
        await wait_for(pilot, lambda: (outside / "chat.md").is_file())


def test_a_named_folder_gets_the_session_file(tmp_path: Path, project):
    from rlm_tui.tui.export import export_target

    (tmp_path / "out").mkdir()
    assert export_target("out", project, "s1", cwd=tmp_path) == (tmp_path / "out" / "rlm-tui-s1.md").resolve()
