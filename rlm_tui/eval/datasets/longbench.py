"""LongBench v2 (Bai et al., 2024; arXiv 2412.15204): 503 multiple-choice questions over contexts
of 8K to 2M words; `codeqa` is its *Code Repository Understanding* domain, the RLM paper's CodeQA.

Published as `THUDM/LongBench-v2` on the Hugging Face hub: one `data.json`, a JSON array. Fields
read: `_id`, `domain` (the `--subset`; `codeqa` selects Code Repository Understanding), `sub_domain`,
`difficulty`, `length` (short / medium / long), `question`, `choice_A` .. `choice_D`, `answer` (the
letter), `context`.

Both modes get the question, the four choices and LongBench's answer instruction ("The correct
answer is (X)"). Scoring, LongBench v2's rule: with ``*`` removed, the letter of the first
``The correct answer is (X)`` in the reply (else ``The correct answer is X``); 1 when it is the
gold letter, else 0 (also when no letter is found).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from rlm_tui.eval.datasets.base import DatasetFamily, Entry, context_preamble, tokens_of
from rlm_tui.eval.datasets.records import scan, validate
from rlm_tui.eval.tasks import Instance, Task

CODE_DOMAIN = "Code Repository Understanding"
_PAREN = re.compile(r"The correct answer is \(([A-D])\)")
_BARE = re.compile(r"The correct answer is ([A-D])")


class LongBenchRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: StrictStr = Field(alias="_id")
    domain: StrictStr
    sub_domain: StrictStr = ""
    difficulty: StrictStr = ""
    length: StrictStr = ""
    question: StrictStr
    choice_A: StrictStr
    choice_B: StrictStr
    choice_C: StrictStr
    choice_D: StrictStr
    answer: Literal["A", "B", "C", "D"]
    context: StrictStr


def extract_letter(reply: str) -> str | None:
    reply = (reply or "").replace("*", "")
    match = _PAREN.search(reply) or _BARE.search(reply)
    return match.group(1) if match else None


def score_choice(reply: str, expected: str) -> float:
    return 1.0 if extract_letter(reply) == expected else 0.0


def question_text(meta: dict) -> str:
    return (f"What is the correct answer to this question: {meta['question']}\nChoices:\n"
            f"(A) {meta['choice_A']}\n(B) {meta['choice_B']}\n(C) {meta['choice_C']}\n(D) {meta['choice_D']}\n\n"
            'Format your response as follows: "The correct answer is (insert answer here)".')


class LongBenchFamily(DatasetFamily):
    name = "longbench-v2"
    subsets_hint = " (the `domain` field, or codeqa)"

    def subset_matches(self, entry: Entry, subset: str) -> bool:
        wanted = CODE_DOMAIN if subset.lower() == "codeqa" else subset
        return entry.subset.lower() == wanted.lower()

    def entries_from(self, path: Path) -> list[Entry]:
        entries = []
        for ref, row in scan(path):
            record = validate(LongBenchRecord, row, ref)
            meta = record.model_dump(exclude={"context"})
            entries.append(Entry(record.id, record.domain, tokens_of(record.context), ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        text = validate(LongBenchRecord, self.row(entry), entry.ref).context
        return Instance(
            task=task, question=question_text(entry.meta), expected=entry.meta["answer"],
            scoring="longbench-v2", rlm_preamble=context_preamble(text), direct_context=text,
            files={"context.txt": text}, score=score_choice,
        )


class CodeQAFamily(LongBenchFamily):
    """LongBench v2's Code Repository Understanding domain only (the RLM paper's CodeQA)."""

    name = "codeqa"

    def entries_from(self, path: Path) -> list[Entry]:
        return [e for e in super().entries_from(path) if e.subset == CODE_DOMAIN]
