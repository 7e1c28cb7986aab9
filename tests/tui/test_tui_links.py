"""Links the guest makes in /workspace are never followed on the host: the Files pane shows
them as links, the preview refuses them, the watcher watches only real folders, and `@`
completion does not list them."""

from __future__ import annotations

import os
from pathlib import Path

from rlm_tui.tui.app import make_app
from rlm_tui.tui.ignore import IgnoreFilter
from rlm_tui.tui.widgets.files import FilesTree, kind_of
from tests.tui.conftest import wait_for

SECRET = "host secret outside every mount"


def _inotify_watches() -> int:
    """inotify watches held by this process (one line per watch in /proc's fdinfo)."""
    count = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            with open(f"/proc/self/fdinfo/{fd}") as f:
                count += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            continue
    return count


def _children(files: FilesTree, root: Path) -> dict[str, object]:
    return {n.data.path.name: n for n in files._mounts[root].children if n.data is not None}


async def test_guest_links_in_the_workspace_are_never_followed(project, settings, make_backend, tmp_path):
    from rlm_tui.tui.screens.modals import PreviewScreen

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    before = _inotify_watches()
    app = make_app(settings, project, backend=make_backend())
    async with app.run_test(size=(120, 35)) as pilot:
        files = app.main.files
        await wait_for(pilot, lambda: files.workspace is not None and files.workspace in files._mounts)
        workspace = files.workspace
        (workspace / "notes").mkdir()
        (workspace / "notes" / "a.md").write_text("# real\n")
        (workspace / "up").symlink_to("../../../..")  # as a guest makes them
        (workspace / "usr").symlink_to("/usr")
        (workspace / "secret.txt").symlink_to(outside / "secret.txt")
        (workspace / "notes" / "leak.md").symlink_to(outside / "secret.txt")
        files.rescan()
        await wait_for(pilot, lambda: {"up", "usr", "secret.txt", "notes"} <= set(_children(files, workspace)))
        shown = _children(files, workspace)
        for name in ("up", "usr", "secret.txt"):
            entry = shown[name].data
            assert entry.link is not None and not entry.is_dir and not shown[name].allow_expand
        assert "/usr" in str(shown["usr"].label)

        files.focus()
        await pilot.pause()
        files.move_cursor(shown["secret.txt"])
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        assert SECRET not in app.screen.body and "not followed" in app.screen.body
        await pilot.press("escape")

        notes = shown["notes"]
        files.move_cursor(notes)
        notes.expand()
        await wait_for(pilot, lambda: notes.data.loaded and "leak.md" in notes.data.children)
        await wait_for(pilot, lambda: files.watched == files.watchable())
        assert workspace / "notes" in files.watched
        assert all(kind_of(p) == "dir" for p in files.watched)
        await pilot.pause(0.5)
        assert _inotify_watches() - before < 50  # a recursive watch through `usr` took thousands

        # a real folder replaced by a link is dropped from the tree and from the watch
        (workspace / "notes" / "a.md").unlink()
        (workspace / "notes" / "leak.md").unlink()
        (workspace / "notes").rmdir()
        (workspace / "notes").symlink_to(outside)
        files.rescan()
        await wait_for(pilot, lambda: (workspace / "notes") not in files.watched and
                       _children(files, workspace)["notes"].data.link is not None)


def test_path_completion_lists_no_links(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x")
    (root / "up").symlink_to("..")
    (root / "src" / "etc").symlink_to("/etc")
    (root / "passwd").symlink_to("/etc/passwd")
    assert set(IgnoreFilter(root).walk()) == {"src/a.py"}
