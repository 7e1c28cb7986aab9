"""What every published-benchmark family shares: scan once, select, build one task at a time.

A family scans its data file(s) once, validating every record (a bad one stops the run with the
file, line and field), and keeps an `Entry` per record: its key, its subset, its context size and
where it lies, not its context. `tasks()` selects (`--subset`, `--sizes` as context-size buckets,
a seeded `--limit` sample); `build()` loads one record again and makes its `Instance`.
"""

from __future__ import annotations

import math
import random
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlm_tui.eval.datasets.records import DatasetError, Ref, load
from rlm_tui.eval.tasks import CHARS_PER_TOKEN, Instance, Task, parse_size


@dataclass(frozen=True)
class Entry:
    """One record, without its context: enough to select it and score an answer."""

    key: str
    subset: str
    tokens: int  # the context's size in tokens
    ref: Ref
    meta: Any  # the family's small fields (question, answer, ...)


def size_label(tokens: int) -> str:
    """The power-of-two bucket of a context size: 131072 -> '128k', 4194304 -> '4m', 23000 -> '16k'."""
    if tokens < 1024:
        return "1k"
    power = round(math.log2(tokens))
    value = 2 ** power
    return f"{value // (1024 * 1024)}m" if value >= 1024 * 1024 else f"{value // 1024}k"


def tokens_of(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN


class DatasetFamily(ABC):
    """Base of the published-benchmark families. Subclasses set `name`, `subsets_hint` and
    implement `entries_from(path)` and `instance(entry, task)`."""

    name = "dataset"
    subsets_hint = ""  # what --subset selects, for the error message

    def __init__(self, path: str | Path, *, limit: int | None = None, subset: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.limit, self.subset = limit, subset
        self._entries: dict[str, Entry] | None = None
        self._lock = threading.Lock()

    # -- what subclasses provide ---------------------------------------------------------------

    @abstractmethod
    def entries_from(self, path: Path) -> list[Entry]:
        """Every record under `path`, validated."""

    @abstractmethod
    def instance(self, entry: Entry, task: Task) -> Instance:
        """The built task for one record."""

    def subset_matches(self, entry: Entry, subset: str) -> bool:
        return entry.subset.lower() == subset.lower()

    # -- the family protocol ---------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        with self._lock:
            if self._entries is None:
                entries: dict[str, Entry] = {}
                for entry in self.entries_from(self.path):
                    if entry.key in entries:
                        raise DatasetError(f"{entry.ref.where}: record id {entry.key!r} appears twice "
                                           f"(first at {entries[entry.key].ref.where})")
                    entries[entry.key] = entry
                if not entries:
                    raise DatasetError(f"{self.path}: no {self.name} records found")
                self._entries = entries
            return self._entries

    def tasks(self, sizes: list[str] | None, n: int, seed: int) -> list[Task]:
        chosen = list(self.entries().values())
        if self.subset:
            chosen = [e for e in chosen if self.subset_matches(e, self.subset)]
            if not chosen:
                known = sorted({e.subset for e in self.entries().values()})
                raise DatasetError(f"{self.name}: no record in subset {self.subset!r}{self.subsets_hint}; "
                                   f"the data has: {', '.join(known[:20])}")
        if sizes:
            wanted = {size_label(parse_size(s)) for s in sizes}
            chosen = [e for e in chosen if size_label(e.tokens) in wanted]
        if self.limit is not None and len(chosen) > self.limit:
            picked = set(random.Random(f"{seed}:{self.name}").sample(range(len(chosen)), self.limit))
            chosen = [e for i, e in enumerate(chosen) if i in picked]
        return [Task(self.name, e.subset, size_label(e.tokens), e.tokens, e.ref.line, seed, key=e.key)
                for e in chosen]

    def build(self, task: Task) -> Instance:
        entry = self.entries()[str(task.key)]
        return self.instance(entry, task)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def row(entry: Entry) -> dict[str, Any]:
        return load(entry.ref)


def context_preamble(text: str, name: str = "context.txt") -> str:
    return (f"The project holds one long document, `{name}` ({len(text):,} characters, about "
            f"{tokens_of(text):,} tokens). ")
