"""S-NIAH: RULER's needle-in-a-haystack tasks (Hsieh et al., 2024; arXiv 2404.06654), as the RLM
paper uses them (single needle, 50 tasks per length).

RULER generates its data locally (`scripts/data/prepare.py` in NVIDIA/RULER, from Paul Graham
essays or repeated noise): one `validation.jsonl` per task and length, e.g.
``<length>/data/niah_single_1/validation.jsonl``. Fields read: `index`, `input` (the whole prompt:
the instruction, the haystack, then the question as its last line, e.g. ``What is the special
magic number for X mentioned in the provided text?``), `outputs` (the needle value(s)), `length`
(tokens). The task name (`--subset`) is the file's folder when the file is `validation.jsonl`,
else the file's name.

The RLM gets the haystack as `context.txt` and the question; direct prompting gets both in one
prompt. Scoring, RULER's `string_match_all` for the niah tasks: the share of the `outputs` that
appear in the answer, as case-insensitive substrings.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from rlm_tui.eval.datasets.base import DatasetFamily, Entry, context_preamble
from rlm_tui.eval.datasets.records import DatasetError, Ref, scan, validate
from rlm_tui.eval.tasks import Instance, Task

_QUESTION = re.compile(r"\n\s*((?:What|Which)\b[^\n]*\?)[^\n?]*\s*$")


class RulerRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: StrictInt
    input: StrictStr
    outputs: list[StrictStr]
    length: StrictInt
    answer_prefix: StrictStr = ""


def split_prompt(text: str, ref: Ref) -> tuple[str, str]:
    """(haystack, question) of a RULER prompt: the question is its last line."""
    match = _QUESTION.search(text)
    if not match:
        raise DatasetError(f"{ref.where}: field 'input': no question line (What ... ?) at its end")
    return text[:match.start()].rstrip() + "\n", match.group(1).strip()


def string_match_all(reply: str, expected: list[str]) -> float:
    reply = (reply or "").lower()
    return sum(1.0 for value in expected if value.lower() in reply) / len(expected)


def task_name(path: Path) -> str:
    return path.parent.name if path.name == "validation.jsonl" else path.stem


class RulerFamily(DatasetFamily):
    name = "s-niah"
    subsets_hint = " (the RULER task, e.g. niah_single_1)"

    def entries_from(self, path: Path) -> list[Entry]:
        entries = []
        for ref, row in scan(path):
            record = validate(RulerRecord, row, ref)
            if not record.outputs:
                raise DatasetError(f"{ref.where}: field 'outputs': no needle value")
            split_prompt(record.input, ref)
            subset = task_name(ref.path)
            meta = {"outputs": record.outputs}
            entries.append(Entry(f"{subset}/{record.length}/{record.index}", subset, record.length, ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        record = validate(RulerRecord, self.row(entry), entry.ref)
        haystack, question = split_prompt(record.input, entry.ref)
        return Instance(
            task=task, question=question, expected=record.outputs, scoring="s-niah",
            rlm_preamble=context_preamble(haystack), direct_context=haystack,
            files={"context.txt": haystack}, score=string_match_all, context_tokens_hint=entry.tokens,
        )
