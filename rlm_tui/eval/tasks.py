"""Eval tasks: what is asked, the exact answer, and the context both modes get.

A `Task` is cheap and fully determined by (family, variant, size, index, seed), plus the record's
`key` for a published dataset; `Family.tasks` lists a family's tasks and `Family.build` turns one
into an `Instance` holding the question, the ground truth and the context (files or mounts for
the RLM, one text for direct prompting) and how the answer is scored.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlm_tui.lm.facts import CHARS_PER_TOKEN


@dataclass(frozen=True)
class Task:
    family: str
    variant: str
    size: str  # a label: "8k", "1m", or the codebase's name
    tokens: int  # the context's target size in tokens (0 when the family fixes it)
    index: int
    seed: int
    key: str | None = None  # a published dataset's record id

    @property
    def id(self) -> str:
        if self.key is not None:
            return f"{self.family}/{self.key}"
        return f"{self.family}/{self.variant}/{self.size}/{self.index}"

    def rng(self) -> random.Random:
        return random.Random(f"{self.seed}:{self.id}")


@dataclass(frozen=True)
class Judged:
    """An LM judge's verdict on one answer: the score, its reasoning, and what judging cost."""

    score: float
    verdict: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0


Judge = Callable[[Any, Any, Any], Awaitable[Judged]]  # (answer, expected, LM) -> Judged


@dataclass
class Instance:
    """A built task. `files` are written into a fresh project folder for the RLM unless
    `project` names an existing one; `mounts` are extra read-only folders in its sandbox;
    `direct_context` is what direct prompting pastes.

    The RLM answers `signature` (default ``question -> answer``) from `rlm_inputs` (default: the
    preamble and the question as ``question``); its first output is the answer that is scored.
    `score(answer, expected)` scores it, or `judge(answer, expected, lm)` when an LM judges.
    `cleanup` removes what `build` made on disk, once both modes are done."""

    task: Task
    question: str  # the question itself, the same in both modes
    expected: Any
    scoring: str  # "exact" or "f1"
    rlm_preamble: str  # where the RLM finds the data, prefixed to the question
    direct_context: str
    files: dict[str, str] = field(default_factory=dict)
    project: Path | None = None
    skills: tuple[str, ...] = ()
    score: Callable[[Any, Any], float] | None = None  # (answer, expected) -> 0..1
    judge: Judge | None = None
    signature: str = "question -> answer"
    rlm_inputs: dict[str, Any] | None = None
    mounts: dict[str, Path] = field(default_factory=dict)
    context_tokens_hint: int | None = None  # when the text's length misleads (a dataset's own count)
    cleanup: Callable[[], None] | None = None

    @property
    def context_tokens(self) -> int:
        return self.context_tokens_hint or len(self.direct_context) // CHARS_PER_TOKEN


class Family(Protocol):
    name: str

    def tasks(self, sizes: list[str] | None, n: int, seed: int) -> list[Task]: ...

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


def grid(name: str, variants: tuple[str, ...], sizes: list[tuple[str, int]], n: int, seed: int) -> list[Task]:
    """A generated family's tasks: `n` per variant and size."""
    return [Task(name, variant, label, tokens, index, seed)
            for label, tokens in sizes for variant in variants for index in range(n)]


def plan(families: dict[str, Family], names: list[str], sizes: list[str] | None, n: int, seed: int) -> list[Task]:
    """Every task of the run, in a stable order."""
    return [task for name in names for task in families[name].tasks(sizes, n, seed)]
