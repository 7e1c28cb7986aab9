"""OOLONG-Pairs (Zhang et al., 2025, the RLM paper, arXiv 2512.24601, Appendix D.1): 20 queries
over OOLONG-synth's `trec_coarse` contexts whose answer is every pair of user IDs meeting a
condition (quadratic in the context).

Published as `mit-oasys/oolong-pairs` on the Hugging Face hub, in OOLONG-synth's record shape.
Fields read: `id`, `context_window_text`, `question`, `answer` (the gold pairs: a list of
``[id_1, id_2]`` pairs, or a text holding them as ``(id_1, id_2)``, e.g. ``"[(123, 456), ...]"``),
and `context_len` (tokens; measured from the text when absent) and `dataset` (the `--subset`;
``trec_coarse`` when absent).

Scoring, the paper's rule: F1 between the set of pairs in the answer and the gold set. A pair is
two integers written ``(a, b)`` or ``a, b``; pairs are unordered (``(b, a)`` is ``(a, b)``) and a
pair of one ID with itself is not a pair. No pairs in either is F1 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from rlm_tui.eval import scoring
from rlm_tui.eval.datasets.base import DatasetFamily, Entry, context_preamble, tokens_of
from rlm_tui.eval.datasets.records import DatasetError, scan, validate
from rlm_tui.eval.tasks import Instance, Task

_PAIR = re.compile(r"\(?\s*(\d+)\s*,\s*(\d+)\s*\)?")


class OolongPairsRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: StrictInt | StrictStr
    context_window_text: StrictStr
    question: StrictStr
    answer: StrictStr | list[list[StrictInt | StrictStr]]
    context_len: StrictInt | None = None
    dataset: StrictStr = "trec_coarse"


def pairs(value: Any) -> set[tuple[int, int]]:
    """Unordered integer pairs in an answer text, or in a list of pairs."""
    if isinstance(value, list):
        found = [(int(a), int(b)) for a, b in (p[:2] for p in value if len(p) >= 2)]
    else:
        found = [(int(a), int(b)) for a, b in _PAIR.findall(str(value or ""))]
    return {(min(a, b), max(a, b)) for a, b in found if a != b}


def score_pairs(reply: str, expected: Any) -> float:
    return scoring.f1([f"{a},{b}" for a, b in pairs(reply)], [f"{a},{b}" for a, b in pairs(expected)])


class OolongPairsFamily(DatasetFamily):
    name = "oolong-pairs"
    subsets_hint = " (the `dataset` field, trec_coarse)"

    def entries_from(self, path: Path) -> list[Entry]:
        entries = []
        for ref, row in scan(path):
            record = validate(OolongPairsRecord, row, ref)
            if isinstance(record.answer, list) and any(len(p) != 2 for p in record.answer):
                raise DatasetError(f"{ref.where}: field 'answer': every gold pair must have two user IDs")
            try:
                pairs(record.answer)
            except ValueError as e:
                raise DatasetError(f"{ref.where}: field 'answer': user IDs must be integers ({e})") from None
            tokens = record.context_len or tokens_of(record.context_window_text)
            meta = record.model_dump(exclude={"context_window_text"})
            entries.append(Entry(str(record.id), record.dataset, tokens, ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        text = validate(OolongPairsRecord, self.row(entry), entry.ref).context_window_text
        gold = sorted(pairs(entry.meta["answer"]))
        return Instance(
            task=task, question=entry.meta["question"], expected=[list(p) for p in gold],
            scoring="oolong-pairs", rlm_preamble=context_preamble(text), direct_context=text,
            files={"context.txt": text}, score=score_pairs, context_tokens_hint=entry.tokens,
        )
