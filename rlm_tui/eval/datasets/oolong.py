"""OOLONG (Bertsch et al., 2025; arXiv 2511.02817): aggregation over long contexts, synth and real.

Published as `oolongbench/oolong-synth` (Parquet, splits `validation` and `test`) and
`oolongbench/oolong-real` (JSONL, config `dnd`, e.g. `dnd/test.jsonl`) on the Hugging Face hub.

**oolong** (synth) records, fields read: `id` (int), `context_len` (int, tokens), `dataset` (the
source split, e.g. `trec_coarse`; `--subset` selects it, as the RLM paper's Table 1 does),
`context_window_text`, `question`, `task_group`, `task`, `answer` (a Python list literal such as
``[47]`` or ``['spam']``, or ``[datetime.date(2023, 5, 1)]``), `answer_type`
(``ANSWER_TYPE.NUMERIC``, ``ANSWER_TYPE.DATE``, ``ANSWER_TYPE.LABEL``, ...), `context_window_id`.

Scoring, the paper's rule: the answer is what follows the reply's last colon (``Label: spam``),
with ``*`` and brackets removed (a reply without a colon counts whole when short, else its last
word); it scores 1 when it equals the gold value as text; a comparison answer ("more common",
"less common", "same frequency") scores 1 when the gold contains it; a NUMERIC answer scores
``0.75 ** |gold - answer|``; a DATE answer scores 1 when it parses to the gold date (ISO, US and
written-out month formats are read); anything else 0.

**oolong-real** records (D&D transcripts), fields read: `id`, `context_window_id`,
`context_window_text`, `question`, `answer`, `question_type` (the `--subset`), `campaign`.
Scoring, the paper's rule for the real split: the answer is the content of the reply's
``\\boxed{...}`` (``\\boxed{\\text{...}}`` too), read as an integer, a comma-separated list or a
string, like the gold; integers score ``0.75 ** |gold - answer|``, strings 1 when equal ignoring
case, lists the share of gold items named; a reply without ``\\boxed{}`` scores 0.
"""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from rlm_tui.eval.datasets.base import DatasetFamily, Entry, context_preamble, tokens_of
from rlm_tui.eval.datasets.records import DatasetError, scan, validate
from rlm_tui.eval.tasks import Instance, Task

COMPARISONS = ("more common", "less common", "same frequency")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y",
                "%B %d %Y", "%b %d %Y", "%Y-%m-%d %H:%M:%S")


class OolongSynthRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: StrictInt | StrictStr
    context_len: StrictInt
    dataset: StrictStr
    context_window_text: StrictStr
    question: StrictStr
    task_group: StrictStr
    task: StrictStr
    answer: StrictStr
    answer_type: StrictStr
    context_window_id: StrictInt | StrictStr


class OolongRealRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: StrictStr | StrictInt
    context_window_id: StrictStr | StrictInt
    context_window_text: StrictStr
    question: StrictStr
    answer: StrictStr | StrictInt
    question_type: StrictStr
    campaign: StrictStr | None = None


# -- synth scoring ---------------------------------------------------------------------------------------

def synth_gold(answer: str) -> Any:
    """The gold value of a synth record's `answer` literal (a date for ``[datetime.date(...)]``)."""
    if "datetime" in answer:
        return datetime.strptime(answer.strip(), "[datetime.date(%Y, %m, %d)]").date()
    value = ast.literal_eval(answer)
    return value[0] if isinstance(value, (list, tuple)) and value else value


def synth_candidate(reply: str) -> str:
    """The answer part of a reply, by the paper's rule (see the module docstring)."""
    reply = (reply or "").strip()
    if ":" not in reply:
        return reply if len(reply) < 20 else (reply.split() or [""])[-1]
    candidate = reply.split(":")[-1].strip().replace("*", "").replace("[", "").replace("]", "")
    if len(candidate) >= 20:
        candidate = next((phrase for phrase in COMPARISONS if phrase in candidate), candidate)
    return candidate


def parse_date(text: str) -> date | None:
    text = text.strip().rstrip(".")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def score_synth(reply: str, expected: dict[str, str]) -> float:
    gold = synth_gold(expected["answer"])
    candidate = synth_candidate(reply)
    gold_text = str(gold)
    if candidate == gold_text:
        return 1.0
    if candidate in COMPARISONS:
        return 1.0 if candidate in gold_text else 0.0
    kind = expected["answer_type"]
    if kind.endswith("NUMERIC"):
        try:
            return float(0.75 ** abs(int(gold) - int(candidate)))
        except (TypeError, ValueError):
            return 0.0
    if kind.endswith("DATE"):
        return 1.0 if isinstance(gold, date) and parse_date(candidate) == gold else 0.0
    return 0.0


# -- real (D&D) scoring -------------------------------------------------------------------------------------

_BOXED_TEXT = re.compile(r"\\boxed\{\\text\{([^}]*)\}\}")
_BOXED = re.compile(r"\\boxed\{+([^}]*)\}+")


def real_value(text: str) -> int | str | list[str]:
    text = str(text).strip()
    try:
        return int(text)
    except ValueError:
        pass
    if "," in text:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def score_real(reply: str, expected: str | int) -> float:
    match = _BOXED_TEXT.search(reply or "") or _BOXED.search(reply or "")
    if not match:
        return 0.0
    gold, answer = real_value(str(expected)), real_value(match.group(1))
    if isinstance(gold, int) and isinstance(answer, int):
        return float(0.75 ** abs(gold - answer))
    if isinstance(gold, str) and isinstance(answer, str):
        return 1.0 if gold.strip().lower() == answer.strip().lower() else 0.0
    if isinstance(gold, list) and isinstance(answer, list):
        return len(set(gold) & set(answer)) / len(gold) if gold else 0.0
    return 0.0


# -- the families ----------------------------------------------------------------------------------------------

class OolongFamily(DatasetFamily):
    name = "oolong"
    subsets_hint = " (OOLONG-synth's `dataset` field, e.g. trec_coarse)"

    def entries_from(self, path: Path) -> list[Entry]:
        entries = []
        for ref, row in scan(path):
            record = validate(OolongSynthRecord, row, ref)
            try:
                synth_gold(record.answer)
            except (ValueError, SyntaxError) as e:
                raise DatasetError(f"{ref.where}: field 'answer': not a list literal like [47] or "
                                   f"['spam'] ({e})") from None
            meta = record.model_dump(exclude={"context_window_text"})
            entries.append(Entry(str(record.id), record.dataset, record.context_len, ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        text = validate(OolongSynthRecord, self.row(entry), entry.ref).context_window_text
        meta = entry.meta
        return Instance(
            task=task, question=meta["question"], expected={"answer": meta["answer"],
                                                            "answer_type": meta["answer_type"]},
            scoring="oolong", rlm_preamble=context_preamble(text), direct_context=text,
            files={"context.txt": text}, score=score_synth, context_tokens_hint=entry.tokens,
        )


BOXED_NOTE = " Give your final answer inside \\boxed{...}."


class OolongRealFamily(DatasetFamily):
    name = "oolong-real"
    subsets_hint = " (OOLONG-real's `question_type` field, e.g. singledoc_rolls)"

    def entries_from(self, path: Path) -> list[Entry]:
        entries = []
        for ref, row in scan(path):
            record = validate(OolongRealRecord, row, ref)
            meta = record.model_dump(exclude={"context_window_text"})
            entries.append(Entry(str(record.id), record.question_type, tokens_of(record.context_window_text),
                                 ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        text = validate(OolongRealRecord, self.row(entry), entry.ref).context_window_text
        return Instance(
            task=task, question=entry.meta["question"] + BOXED_NOTE, expected=entry.meta["answer"],
            scoring="oolong-real", rlm_preamble=context_preamble(text), direct_context=text,
            files={"context.txt": text}, score=score_real,
        )
