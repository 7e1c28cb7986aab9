"""The Files pane: `/project` (read-only) and `/workspace`, loaded lazily, kept live by watchfiles.

No link is followed on the host: the guest makes links in /workspace (`up -> ../../..`), and
the host must not list, watch or read what they point at. A link is a leaf showing its target;
only the real folders the tree has loaded are watched, each one non-recursively.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from rlm_tui.tui.ignore import IgnoreFilter

MAX_ENTRIES = 400  # per folder; the rest is summarised in one leaf
FRESH_SECONDS = 8.0
Kind = Literal["dir", "file", "link"]


@dataclass
class Entry:
    path: Path
    is_dir: bool
    root: Path
    loaded: bool = False
    more: int = 0  # for the "… N more" leaf
    children: dict[str, TreeNode[Entry]] = field(default_factory=dict)
    link: str | None = None  # a link's target, shown and never followed

    @property
    def kind(self) -> Kind:
        return "link" if self.link is not None else "dir" if self.is_dir else "file"


def kind_of(path: Path) -> Kind | None:
    """What `path` itself is (a link is a link, whatever it points at); None when gone."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "file"


class FilesTree(Tree[Entry]):
    DEFAULT_CSS = """
    FilesTree {
        background: transparent; scrollbar-size-vertical: 1; overflow-x: hidden;
        & > .tree--cursor { background: $boost; text-style: none; }
        &:focus > .tree--cursor { background: $primary 30%; }
    }
    """

    @dataclass
    class FileChosen(Message):
        path: Path
        mount: str  # "/project/..." or "/workspace/..." as the model sees it
        root: Path  # the mount's host folder: the file is opened from it, following no link

    def __init__(self, project: Path, workspace: Path | None = None, note: str | None = None,
                 **kwargs) -> None:
        super().__init__("files", **kwargs)
        self.note = note  # shown instead of any folder: a replay's project, not (yet) known or gone
        self.show_root = False
        self.guide_depth = 2
        self.project = Path(project).resolve()
        self.workspace = Path(workspace).resolve() if workspace else None
        self.filters = {self.project: IgnoreFilter(self.project)}
        self._fresh: dict[Path, float] = {}
        self._mounts: dict[Path, TreeNode[Entry]] = {}
        self.watched: frozenset[Path] = frozenset()  # the folders the watcher was started on

    def on_mount(self) -> None:
        self.root.expand()
        if self.note is not None:
            self.show_note(self.note)
            return
        self._add_mount(self.project, "/project", "read-only")
        if self.workspace:
            self._add_mount(self.workspace, "/workspace", "writable")
        self.watch_files()

    def set_workspace(self, workspace: Path) -> None:
        workspace = Path(workspace).resolve()
        if workspace == self.workspace:
            return
        if self.workspace in self._mounts:
            self._mounts.pop(self.workspace).remove()
        self.workspace = workspace
        self._add_mount(workspace, "/workspace", "writable")
        self.watch_files()

    def set_project(self, project: Path) -> None:
        """Show another project (a resumed session may belong to a different folder)."""
        self.project = Path(project).resolve()
        self.filters[self.project] = IgnoreFilter(self.project)
        self.note = None
        self.root.remove_children()
        self._mounts.clear()
        self._add_mount(self.project, "/project", "read-only")
        if self.workspace:
            self._add_mount(self.workspace, "/workspace", "writable")
        self.watch_files()

    def show_note(self, note: str) -> None:
        """Show `note` in place of the folders (a replay whose project is not recorded or gone):
        never some other folder."""
        self.note = note
        self.root.remove_children()
        self._mounts.clear()
        self.root.add_leaf(Text(note, style="dim italic"))
        self.watch_files()  # nothing loaded: the watcher stops

    def _add_mount(self, path: Path, name: str, note: str) -> None:
        self.filters.setdefault(path, IgnoreFilter(path))
        label = Text.assemble((name, "bold"), (f"  {note}", "dim"))
        node = self.root.add(label, data=Entry(path, True, path), expand=False)
        self._mounts[path] = node
        self._load(node)
        node.expand()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        event.stop()
        if event.node.data and not event.node.data.loaded:
            self._load(event.node)
            self._rewatch()

    def on_tree_node_selected(self, event: Tree.NodeSelected[Entry]) -> None:
        event.stop()
        entry = event.node.data
        if entry and not entry.is_dir and not entry.more:
            rel = entry.path.relative_to(entry.root).as_posix()
            mount = "/project" if entry.root == self.project else "/workspace"
            self.post_message(self.FileChosen(entry.path, f"{mount}/{rel}", entry.root))

    # ---- loading -------------------------------------------------------------------------
    def _list(self, entry: Entry) -> list[tuple[str, Kind]]:
        flt = self.filters[entry.root]
        rel_dir = entry.path.relative_to(entry.root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        if kind_of(entry.path) != "dir":  # replaced by a link (or a file) since it was listed
            return []
        try:
            items = list(os.scandir(entry.path))
        except OSError:
            return []
        out: list[tuple[str, Kind]] = []
        for item in items:
            try:
                kind: Kind = "link" if item.is_symlink() else "dir" if item.is_dir(follow_symlinks=False) else "file"
            except OSError:
                continue
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if not flt.ignored(rel, kind == "dir"):
                out.append((item.name, kind))
        out.sort(key=lambda x: (x[1] != "dir", x[0].casefold()))
        return out

    def _load(self, node: TreeNode[Entry]) -> None:
        entry = node.data
        assert entry is not None
        entry.loaded = True
        listing = self._list(entry)
        for name, kind in listing[:MAX_ENTRIES]:
            self._add_entry(node, name, kind)
        if len(listing) > MAX_ENTRIES:
            more = len(listing) - MAX_ENTRIES
            node.add_leaf(Text(f"… {more} more", style="dim italic"),
                          data=Entry(entry.path, False, entry.root, more=more))

    def _add_entry(self, node: TreeNode[Entry], name: str, kind: Kind,
                   before: TreeNode[Entry] | None = None) -> None:
        entry = node.data
        assert entry is not None
        child_entry = Entry(entry.path / name, kind == "dir", entry.root)
        if kind == "link":
            try:
                child_entry.link = os.readlink(child_entry.path)
            except OSError:
                child_entry.link = "?"
        label = self._label(child_entry)
        if kind == "dir":
            child = node.add(label, data=child_entry, before=before)
        else:
            child = node.add_leaf(label, data=child_entry, before=before)
        entry.children[name] = child

    def _label(self, entry: Entry) -> Text:
        if entry.link is not None:
            return Text.assemble((entry.path.name, "italic"), (f" → {entry.link}", "dim italic"))
        name = entry.path.name + ("/" if entry.is_dir else "")
        fresh = self._fresh.get(entry.path, 0) > time.monotonic()
        style = "bold" if entry.is_dir else ""
        if fresh:
            return Text.assemble((name, style), (" ●", "bold green"))
        return Text(name, style=style)

    # ---- watching ------------------------------------------------------------------------
    def watchable(self) -> frozenset[Path]:
        """The real folders the tree has loaded: what the watcher watches (never a link)."""
        found: set[Path] = set()
        stack = list(self._mounts.values())
        while stack:
            node = stack.pop()
            entry = node.data
            if entry is None or not entry.is_dir or not entry.loaded:
                continue
            if kind_of(entry.path) == "dir":
                found.add(entry.path)
            stack.extend(entry.children.values())
        return frozenset(found)

    def _rewatch(self) -> None:
        """Restart the watcher when the loaded folders changed."""
        if self.watchable() != self.watched:
            self.watch_files()

    @work(exclusive=True, group="files-watch")
    async def watch_files(self) -> None:
        from watchfiles import awatch

        folders = self.watched = self.watchable()
        if not folders:
            return
        self.set_timer(0.5, self.rescan)  # catch what changed while the watcher was (re)starting
        try:  # non-recursive: a recursive watch would follow links into the host (a link to /usr)
            async for changes in awatch(*sorted(folders), recursive=False, debounce=250, step=50,
                                        watch_filter=self._watch_filter):
                self.apply_changes({Path(p) for _, p in changes})
        except FileNotFoundError:  # a folder went away as the watcher started: start again
            self.watched = frozenset()
            self.set_timer(0.5, self._rewatch)
        except (OSError, RuntimeError) as e:  # e.g. inotify watch limit reached
            self.notify(f"File watching is off: {e}", severity="warning")

    def _watch_filter(self, _change: object, path: str) -> bool:
        p = Path(path)
        for root, flt in self.filters.items():
            if p.is_relative_to(root):
                return not flt.ignored_path(p)
        return False

    def apply_changes(self, paths: set[Path]) -> None:
        """Refresh the loaded folders that contain `paths` (new, changed or deleted)."""
        now = time.monotonic()
        folders: set[Path] = set()
        for p in paths:
            if kind_of(p) == "file":
                self._fresh[p] = now + FRESH_SECONDS
            folders.add(p.parent)
        for folder in folders:
            node = self._find_loaded(folder)
            if node is not None:
                self._refresh_folder(node)
        if self._fresh:
            self.set_timer(FRESH_SECONDS + 0.1, self._expire_fresh)
        self._rewatch()

    def rescan(self) -> None:
        """Re-list every loaded folder."""
        stack = list(self._mounts.values())
        while stack:
            node = stack.pop()
            if node.data and node.data.loaded:
                self._refresh_folder(node)
                stack.extend(node.data.children.values())
        self._rewatch()

    def _find_loaded(self, folder: Path) -> TreeNode[Entry] | None:
        for root, node in self._mounts.items():
            if folder == root:
                return node
            if folder.is_relative_to(root):
                for part in folder.relative_to(root).parts:
                    if node.data is None or not node.data.loaded:
                        return None
                    child = node.data.children.get(part)
                    if child is None:
                        return None
                    node = child
                return node if node.data and node.data.loaded else None
        return None

    def _refresh_folder(self, node: TreeNode[Entry]) -> None:
        entry = node.data
        assert entry is not None
        listing = dict(self._list(entry)[:MAX_ENTRIES])
        for name in list(entry.children):
            child = entry.children[name]
            if name not in listing or (child.data is not None and child.data.kind != listing[name]):
                entry.children.pop(name).remove()  # gone, or changed kind (a folder became a link)
        names = sorted(listing, key=lambda n: (listing[n] != "dir", n.casefold()))
        for i, name in enumerate(names):
            if name in entry.children:
                child = entry.children[name]
                if child.data:
                    child.set_label(self._label(child.data))
                continue
            following = [entry.children[n] for n in names[i + 1:] if n in entry.children]
            self._add_entry(node, name, listing[name], before=following[0] if following else None)

    def _expire_fresh(self) -> None:
        now = time.monotonic()
        for path in [p for p, t in self._fresh.items() if t <= now]:
            del self._fresh[path]
            node = self._find_loaded(path.parent)
            if node and node.data and path.name in node.data.children:
                child = node.data.children[path.name]
                if child.data:
                    child.set_label(self._label(child.data))
