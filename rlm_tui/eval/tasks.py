"""Eval tasks: what is asked, the exact answer, and the context both modes get.

A `Task` is cheap and fully determined by (family, variant, size, index, seed); `Family.build`
turns it into an `Instance` holding the question, the ground truth and the context (files for
the RLM's project, one text for direct prompting).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Task:
    family: str
    variant: str
    size: str  # a label: "8k", "1m", or the codebase's name
    tokens: int  # the context's target size in tokens (0 when the family fixes it)
    index: int
    seed: int

    @property
    def id(self) -> str:
        return f"{self.family}/{self.variant}/{self.size}/{self.index}"

    def rng(self) -> random.Random:
        return random.Random(f"{self.seed}:{self.id}")


@dataclass
class Instance:
    """A built task. `files` are written into a fresh project folder for the RLM unless
    `project` names an existing one; `direct_context` is what direct prompting pastes."""

    task: Task
    question: str  # the question itself, the same in both modes
    expected: Any
    scoring: str  # "exact" or "f1"
    rlm_preamble: str  # where the RLM finds the data, prefixed to the question
    direct_context: str
    files: dict[str, str] = field(default_factory=dict)
    project: Path | None = None
    skills: tuple[str, ...] = ()
    score: Callable[[str, Any], float] | None = None  # (answer, expected) -> 0..1

    @property
    def context_tokens(self) -> int:
        return len(self.direct_context) // CHARS_PER_TOKEN


class Family(Protocol):
    name: str
    variants: tuple[str, ...]
    default_sizes: tuple[str, ...]

    def sizes(self, requested: list[str] | None) -> list[tuple[str, int]]: ...

    def build(self, task: Task) -> Instance: ...


def parse_size(label: str) -> int:
    """'8k' -> 8192 tokens, '1m' -> 1048576, '5000' -> 5000."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", label)
    if not match:
        raise ValueError(f"size {label!r} is not a token count like 8k, 128k, 1m or 5000")
    number = float(match.group(1))
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    tokens = int(number * scale)
    if tokens < 256:
        raise ValueError(f"size {label!r} is too small (at least 256 tokens)")
    return tokens


def token_sizes(requested: list[str] | None, defaults: tuple[str, ...]) -> list[tuple[str, int]]:
    labels = requested or list(defaults)
    return [(label.strip().lower(), parse_size(label)) for label in labels]


def plan(families: dict[str, Family], names: list[str], sizes: list[str] | None, n: int, seed: int) -> list[Task]:
    """Every task of the run, in a stable order."""
    tasks = []
    for name in names:
        family = families[name]
        for label, tokens in family.sizes(sizes):
            for variant in family.variants:
                for index in range(n):
                    tasks.append(Task(name, variant, label, tokens, index, seed))
    return tasks
