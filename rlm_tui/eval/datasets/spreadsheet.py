"""SpreadsheetBench (Ma et al., 2024; arXiv 2406.14991): real spreadsheet-manipulation questions
from Excel forums, checked online-judge style on test-case workbooks.

Published by RUCKBReasoning/SpreadsheetBench (`data/sample_data_200.tar.gz`, and the full 912) and
as `KAKA22/SpreadsheetBench` on the Hugging Face hub (`spreadsheetbench_verified_400.tar.gz`, the
Verified 400). PATH is the unpacked folder: `dataset.json` (a JSON array; a `*.jsonl` is read too)
and `spreadsheet/<id>/` with each test case's input and answer workbooks, named
``<n>_<id>_input.xlsx`` / ``<n>_<id>_answer.xlsx`` (912, sample 200) or ``<n>_<id>_init.xlsx`` /
``<n>_<id>_golden.xlsx`` (Verified 400). Fields read: `id`, `instruction`, `spreadsheet_path`
(the test-case folder, relative to PATH), `instruction_type` (the `--subset`: Cell-Level or
Sheet-Level Manipulation), `answer_position` (e.g. ``Sheet1!D2:D20``, or several, comma-separated).

The RLM gets the input workbooks as File inputs (`/inputs/...`), edits them with openpyxl in its
sandbox and SUBMITs one output workbook per test case, which is copied out beside the results.
Direct prompting gets the input workbooks as text (every non-empty cell) and answers with the
final values of the answer cells as JSON, which are written into a copy of each input.

Scoring, SpreadsheetBench's rule, on the host with openpyxl (cached values, `data_only`): every
cell of `answer_position` must match the answer workbook: values compared after rounding numbers
(and numeric text) to 2 decimals, dates to Excel serial days and times to HH:MM, empty and None
alike, different types unequal; fill and font colours equal in their RGB. A test case passes when
every cell matches; the task scores 1 when every test case passes (the "hard" score), else 0.
Formulas are not recalculated: a formula cell written without a cached value reads as empty.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from rlm_tui.eval.datasets.base import DatasetFamily, Entry, tokens_of
from rlm_tui.eval.datasets.records import DatasetError, Ref, data_files, scan, validate
from rlm_tui.eval.tasks import Instance, Task

INPUT_NAMES, ANSWER_NAMES = ("input", "init"), ("answer", "golden")
SIGNATURE = "instruction: str, workbooks: list[File] -> outputs: list[File]"
_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


class SpreadsheetRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: StrictStr | StrictInt
    instruction: StrictStr
    spreadsheet_path: StrictStr
    instruction_type: StrictStr
    answer_position: StrictStr


def case_files(root: Path, record: SpreadsheetRecord, ref: Ref) -> list[dict[str, str]]:
    """[{input, answer}] for every numbered test case of a record, in order."""
    key = str(record.id)
    folder = root / record.spreadsheet_path
    if not folder.is_dir():
        folder = root / "spreadsheet" / key
    if not folder.is_dir():
        raise DatasetError(f"{ref.where}: field 'spreadsheet_path': no test-case folder {root / record.spreadsheet_path}")
    cases: dict[int, dict[str, str]] = {}
    pattern = re.compile(rf"^(\d+)_{re.escape(key)}_({'|'.join(INPUT_NAMES + ANSWER_NAMES)})\.xlsx$")
    for file in folder.iterdir():
        match = pattern.match(file.name)
        if match:
            role = "input" if match.group(2) in INPUT_NAMES else "answer"
            cases.setdefault(int(match.group(1)), {})[role] = str(file)
    if not cases:
        raise DatasetError(f"{ref.where}: {folder} has no test-case workbooks (<n>_{key}_input.xlsx and "
                           f"<n>_{key}_answer.xlsx)")
    for number, case in sorted(cases.items()):
        for role in ("input", "answer"):
            if role not in case:
                names = "/".join(f"{number}_{key}_{n}.xlsx" for n in (INPUT_NAMES if role == "input" else ANSWER_NAMES))
                raise DatasetError(f"{ref.where}: test case {number} has no {role} workbook ({names} in {folder})")
    return [cases[n] for n in sorted(cases)]


# -- comparing workbooks --------------------------------------------------------------------------------

def _excel_days(value: datetime.datetime) -> float:
    delta = value - datetime.datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400.0


def normal(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return round(float(value), 2)
    if isinstance(value, datetime.datetime):
        return round(_excel_days(value), 0)
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    if isinstance(value, str):
        try:
            return round(float(value), 2)
        except ValueError:
            return value
    return value


def same_value(a: Any, b: Any) -> bool:
    a, b = normal(a), normal(b)
    if a in ("", None) and b in ("", None):
        return True
    return type(a) is type(b) and a == b


def _rgb(color: Any) -> str:
    rgb = getattr(color, "rgb", None)
    return (rgb if isinstance(rgb, str) else "00000000")[-6:]


def same_style(a: Any, b: Any) -> bool:
    return (_rgb(a.fill.fgColor) == _rgb(b.fill.fgColor) and _rgb(a.fill.bgColor) == _rgb(b.fill.bgColor)
            and _rgb(a.font.color) == _rgb(b.font.color))


def positions(answer_position: str, default_sheet: str) -> list[tuple[str, list[str]]]:
    """[(sheet, [cell, ...])] of an answer position like ``'Sheet 1'!A1:B3,C5``."""
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.cell import range_boundaries

    out = []
    for part in answer_position.split(","):
        part = part.strip()
        if not part:
            continue
        sheet, _, cells = part.rpartition("!")
        sheet = sheet.strip("'") or default_sheet
        cells = cells.strip("'").replace("$", "")
        min_col, min_row, max_col, max_row = range_boundaries(cells if ":" in cells else f"{cells}:{cells}")
        out.append((sheet, [f"{get_column_letter(c)}{r}" for c in range(min_col, max_col + 1)
                            for r in range(min_row, max_row + 1)]))
    return out


def cases_match(gold: Any, produced: Any, answer_position: str) -> bool:
    for sheet, cells in positions(answer_position, gold.sheetnames[0]):
        if sheet not in gold.sheetnames or sheet not in produced.sheetnames:
            return False
        gold_sheet, produced_sheet = gold[sheet], produced[sheet]
        for cell in cells:
            g, p = gold_sheet[cell], produced_sheet[cell]
            if not same_value(g.value, p.value) or not same_style(g, p):
                return False
    return True


def _open(path: str | Path) -> Any:
    import openpyxl

    return openpyxl.load_workbook(path, data_only=True)


def check_file(answer: str, produced: str | Path | None, answer_position: str) -> bool:
    if produced is None or not Path(produced).is_file():
        return False
    try:
        return cases_match(_open(answer), _open(produced), answer_position)
    except Exception:  # an output openpyxl cannot read fails its test case
        return False


def direct_values(reply: str, count: int) -> list[dict[str, Any]]:
    """Per test case, {cell: value} from a direct reply's JSON (``{"1": {"Sheet1!D2": 3}, ...}``;
    with one test case a flat ``{"D2": 3}`` too). Unparseable: no values."""
    start, end = (reply or "").find("{"), (reply or "").rfind("}")
    try:
        data = json.loads(reply[start:end + 1]) if start >= 0 and end > start else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return [{} for _ in range(count)]
    if count == 1 and not any(str(k) == "1" for k in data):
        data = {"1": data}
    return [d if isinstance(d := data.get(str(i + 1)), dict) else {} for i in range(count)]


def check_values(case: dict[str, str], values: dict[str, Any], answer_position: str) -> bool:
    try:
        workbook, gold = _open(case["input"]), _open(case["answer"])
        default = positions(answer_position, gold.sheetnames[0])[0][0]
        for key, value in values.items():
            sheet, _, cell = str(key).rpartition("!")
            sheet = sheet.strip("'") or default
            if sheet not in workbook.sheetnames:
                workbook.create_sheet(sheet)
            workbook[sheet][cell.replace("$", "")] = value
        return cases_match(gold, workbook, answer_position)
    except Exception:  # a bad cell name or value fails the test case
        return False


def score_spreadsheet(answer: Any, expected: dict[str, Any]) -> float:
    """1 when every test case passes: `answer` is the RLM's output workbooks (a list of paths, in
    test-case order) or direct prompting's JSON of cell values (a string)."""
    cases, where = expected["cases"], expected["answer_position"]
    if isinstance(answer, list):
        produced = [*answer, *[None] * len(cases)][:len(cases)]
        passed = [check_file(c["answer"], p, where) for c, p in zip(cases, produced, strict=True)]
    else:
        values = direct_values(str(answer or ""), len(cases))
        passed = [check_values(c, v, where) for c, v in zip(cases, values, strict=True)]
    return 1.0 if all(passed) else 0.0


def workbook_text(path: str, limit: int = 400_000) -> str:
    """Every non-empty cell of a workbook as ``Sheet!A1 = value`` lines."""
    workbook = _open(path)
    lines = []
    for sheet in workbook.worksheets:
        lines.append(f"--- sheet {sheet.title!r} ({sheet.max_row} rows x {sheet.max_column} columns) ---")
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value not in (None, ""):
                    lines.append(f"{sheet.title}!{cell.coordinate} = {cell.value!r}")
    return "\n".join(lines)[:limit]


class SpreadsheetFamily(DatasetFamily):
    name = "spreadsheetbench"
    subsets_hint = " (the `instruction_type` field: Cell-Level Manipulation or Sheet-Level Manipulation)"

    def subset_matches(self, entry: Entry, subset: str) -> bool:
        return entry.subset.lower().startswith(subset.lower())

    def entries_from(self, path: Path) -> list[Entry]:
        if not path.is_dir():
            raise DatasetError(f"{path}: expected the unpacked folder (dataset.json and spreadsheet/)")
        listed = [p for p in data_files(path, (".json", ".jsonl")) if p.parent == path]
        if not listed:
            raise DatasetError(f"{path}: no dataset.json at the top of the folder")
        entries = []
        for ref, row in scan(path / "dataset.json" if (path / "dataset.json").is_file() else listed[0]):
            record = validate(SpreadsheetRecord, row, ref)
            cases = case_files(path, record, ref)
            meta = {"instruction": record.instruction, "answer_position": record.answer_position,
                    "cases": cases}
            size = sum(Path(c["input"]).stat().st_size for c in cases)
            entries.append(Entry(str(record.id), record.instruction_type, max(1, size // 4), ref, meta))
        return entries

    def instance(self, entry: Entry, task: Task) -> Instance:
        meta = entry.meta
        cases, where = meta["cases"], meta["answer_position"]
        rendered = "\n\n".join(f"=== test case {i} ===\n{workbook_text(c['input'])}" for i, c in enumerate(cases, 1))
        example = ", ".join(f'"{i}": {{"<Sheet>!<Cell>": <value>, ...}}' for i in range(1, len(cases) + 1))
        direct_question = (f"{meta['instruction']}\n\nThe answer goes in {where}. Reply with JSON only: the final "
                           f"value of every cell in {where}, per test case: {{{example}}}.")
        rlm_note = (f"Each file in `workbooks` is one test case (the same task with different values). Apply "
                    "the instruction to every workbook with openpyxl, save each result as an .xlsx under "
                    "/workspace/ and SUBMIT `outputs` with one path per workbook, in the same order. The "
                    f"cells checked are {where}; write values there (formulas are not recalculated). ")
        return Instance(
            task=task, question=direct_question, expected={"cases": cases, "answer_position": where},
            scoring="spreadsheetbench", rlm_preamble=rlm_note, direct_context=rendered,
            score=score_spreadsheet, signature=SIGNATURE,
            rlm_inputs={"instruction": rlm_note + meta["instruction"], "workbooks": [c["input"] for c in cases]},
            context_tokens_hint=tokens_of(rendered),
        )
