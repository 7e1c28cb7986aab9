"""Published-benchmark loaders on schema-true fixtures (tests/eval/fixtures/, written in each
benchmark's published record shape), each benchmark's own scoring rule, and every bad input: a
wrong schema or a truncated file names the file, the line and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rlm_tui.eval.datasets import DatasetError, open_dataset
from rlm_tui.eval.datasets.browsecomp import verdict
from rlm_tui.eval.datasets.longbench import extract_letter, score_choice
from rlm_tui.eval.datasets.oolong import score_real, score_synth
from rlm_tui.eval.datasets.oolong_pairs import score_pairs
from rlm_tui.eval.datasets.ruler import string_match_all
from rlm_tui.eval.datasets.spreadsheet import score_spreadsheet

FIXTURES = Path(__file__).parent / "fixtures"


# --- scoring rules ---------------------------------------------------------------------------------------

def test_oolong_synth_rule():
    numeric = {"answer": "[7]", "answer_type": "ANSWER_TYPE.NUMERIC"}
    assert score_synth("Answer: 7", numeric) == 1.0
    assert score_synth("I counted carefully.\nAnswer: 5", numeric) == pytest.approx(0.75 ** 2)
    assert score_synth("Answer: seven", numeric) == 0.0
    label = {"answer": "['entity']", "answer_type": "ANSWER_TYPE.LABEL"}
    assert score_synth("Label: **[entity]**", label) == 1.0 and score_synth("Label: location", label) == 0.0
    comparison = {"answer": "['less common than']", "answer_type": "ANSWER_TYPE.COMPARISON"}
    assert score_synth("Answer: location is less common than entity in the data", comparison) == 1.0
    assert score_synth("Answer: location is more common than entity in the data", comparison) == 0.0
    when = {"answer": "[datetime.date(2023, 2, 14)]", "answer_type": "ANSWER_TYPE.DATE"}
    assert score_synth("Date: Feb 14, 2023", when) == 1.0 and score_synth("Date: 2023-02-14", when) == 1.0
    assert score_synth("Date: 2023-02-15", when) == 0.0


def test_oolong_real_rule():
    assert score_real("So the total is \\boxed{84}.", "84") == 1.0
    assert score_real("\\boxed{80}", "84") == pytest.approx(0.75 ** 4)
    assert score_real("84", "84") == 0.0  # no \boxed{}: the rule finds no answer
    assert score_real("\\boxed{\\text{Jester, Caleb}}", "Jester, Caleb, Nott") == pytest.approx(2 / 3)
    assert score_real("\\boxed{jester}", "Jester") == 1.0


def test_pairs_ruler_longbench_and_judge_rules():
    assert score_pairs("(22222, 11111)\n(11111, 33333)\n(22222, 33333)", [[11111, 22222], [11111, 33333],
                                                                       [22222, 33333]]) == 1.0
    assert score_pairs("(11111, 22222)", "[(11111, 22222), (11111, 33333)]") == pytest.approx(2 / 3)
    assert score_pairs("[]", []) == 1.0 and score_pairs("(5, 5)", [[1, 2]]) == 0.0
    assert string_match_all("The special magic number is 4829175.", ["4829175"]) == 1.0
    assert string_match_all("4829175", ["4829175", "111"]) == 0.5
    assert extract_letter("**The correct answer is (B)**") == "B" and extract_letter("The correct answer is C") == "C"
    assert score_choice("I think B", "B") == 0.0 and score_choice("The correct answer is (B)", "B") == 1.0
    assert verdict("extracted_final_answer: Maria\nreasoning: same\n**correct:** yes") == 1.0
    assert verdict("correct: no") == 0.0 and verdict("no verdict") == 0.0


def workbook(path: Path, cells: dict[str, object], fill: dict[str, str] | None = None) -> Path:
    import openpyxl
    from openpyxl.styles import PatternFill

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    for cell, value in cells.items():
        sheet[cell] = value
    for cell, color in (fill or {}).items():
        sheet[cell].fill = PatternFill("solid", fgColor=color)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def spreadsheet_folder(root: Path) -> Path:
    """The fixture's dataset.json plus its test-case workbooks (Verified-400 names for one record,
    the 912's input/answer names with two test cases for the other)."""
    shutil.copytree(FIXTURES / "spreadsheetbench", root)
    base = {"A2": 1, "A3": 2, "A4": 3}
    workbook(root / "spreadsheet/59196/1_59196_init.xlsx", base)
    workbook(root / "spreadsheet/59196/1_59196_golden.xlsx", {**base, "B2": 6})
    for n, (a, b) in enumerate([(4, 5), (10, 20)], 1):
        workbook(root / f"spreadsheet/13284/{n}_13284_input.xlsx", {"A2": a, "A3": b})
        workbook(root / f"spreadsheet/13284/{n}_13284_answer.xlsx", {"A2": a, "A3": b, "C2": 2 * a, "C3": 2 * b})
    return root


def test_spreadsheet_rule(tmp_path):
    root = spreadsheet_folder(tmp_path / "sb")
    family = open_dataset("spreadsheetbench", root)
    task = next(t for t in family.tasks(None, 1, 0) if t.key == "59196")
    expected = family.build(task).expected
    good = workbook(tmp_path / "good.xlsx", {"A2": 1, "A3": 2, "A4": 3, "B2": 6.0})
    text = workbook(tmp_path / "text.xlsx", {"B2": "6"})  # numeric text compares as a number
    wrong = workbook(tmp_path / "wrong.xlsx", {"B2": 7})
    coloured = workbook(tmp_path / "coloured.xlsx", {"B2": 6}, fill={"B2": "FFFF00"})
    assert score_spreadsheet([str(good)], expected) == 1.0
    assert score_spreadsheet([str(text)], expected) == 1.0
    assert score_spreadsheet([str(wrong)], expected) == 0.0
    assert score_spreadsheet([str(coloured)], expected) == 0.0  # fill colours must match too
    assert score_spreadsheet([], expected) == 0.0
    assert score_spreadsheet('{"Sheet1!B2": 6}', expected) == 1.0  # direct: the answer cells' values
    assert score_spreadsheet('{"B2": 5}', expected) == 0.0
    two = family.build(next(t for t in family.tasks(None, 1, 0) if t.key == "13284")).expected
    assert len(two["cases"]) == 2
    assert score_spreadsheet('{"1": {"Sheet1!C2": 8, "C3": 10}, "2": {"C2": 20, "C3": 40}}', two) == 1.0
    assert score_spreadsheet('{"1": {"C2": 8, "C3": 10}, "2": {"C2": 20, "C3": 41}}', two) == 0.0  # hard: all cases


# --- loaders on the fixtures ----------------------------------------------------------------------------

def test_each_loader_reads_its_published_shape(tmp_path):
    oolong = open_dataset("oolong", FIXTURES / "oolong-synth.jsonl")
    tasks = oolong.tasks(None, 1, 0)
    assert [t.id for t in tasks] == ["oolong/101", "oolong/102", "oolong/103", "oolong/104"]
    assert [(t.variant, t.size, t.tokens) for t in tasks[:3]] == [("trec_coarse", "1k", 1024)] * 2 + [
        ("trec_coarse", "2k", 2048)]
    instance = oolong.build(tasks[0])
    assert instance.files["context.txt"].startswith("The following lines contain")
    assert instance.context_tokens == 1024 and instance.direct_context == instance.files["context.txt"]
    assert [t.key for t in open_dataset("oolong", FIXTURES / "oolong-synth.jsonl", subset="spam").tasks(None, 1, 0)] == ["104"]
    assert [t.key for t in oolong.tasks(["2k"], 1, 0)] == ["103", "104"]
    sample = open_dataset("oolong", FIXTURES / "oolong-synth.jsonl", limit=2)
    assert [t.key for t in sample.tasks(None, 1, 3)] == [t.key for t in sample.tasks(None, 1, 3)]
    assert len(sample.tasks(None, 1, 3)) == 2

    real = open_dataset("oolong-real", FIXTURES / "oolong-real")
    assert [t.variant for t in real.tasks(None, 1, 0)] == ["singledoc_rolls", "singledoc_spells"]
    assert "\\boxed" in real.build(real.tasks(None, 1, 0)[0]).question

    pairs = open_dataset("oolong-pairs", FIXTURES / "oolong-pairs.jsonl")
    built = [pairs.build(t) for t in pairs.tasks(None, 1, 0)]
    assert built[1].expected == [[44444, 55555], [44444, 66666]]

    ruler = open_dataset("s-niah", FIXTURES / "ruler")
    niah = ruler.build(ruler.tasks(None, 1, 0)[0])
    assert niah.task.variant == "niah_single_1" and niah.task.size == "4k"
    assert niah.question == "What is the special magic number for wandering-lantern mentioned in the provided text?"
    assert "4829175" in niah.files["context.txt"] and niah.question not in niah.files["context.txt"]

    longbench = open_dataset("longbench-v2", FIXTURES / "longbench-v2" / "data.json")
    assert len(longbench.tasks(None, 1, 0)) == 3
    codeqa = open_dataset("codeqa", FIXTURES / "longbench-v2")
    (only,) = codeqa.tasks(None, 1, 0)
    assert only.id == "codeqa/66f36490821e116aacb2cc22"
    question = codeqa.build(only).question
    assert "(B) helper_7" in question and "The correct answer is (insert answer here)" in question
    assert [t.key for t in open_dataset("longbench-v2", FIXTURES / "longbench-v2", subset="codeqa").tasks(None, 1, 0)] == [only.key]


def test_browsecomp_corpus_is_split_once_and_mounted_per_question(tmp_path):
    family = open_dataset("browsecomp-plus", FIXTURES / "browsecomp-plus", docs=5)
    family.store = tmp_path / "store"
    tasks = family.tasks(None, 1, 0)
    assert [t.key for t in tasks] == ["74", "12"]
    first = family.build(tasks[0])
    folder = first.mounts["/corpus"]
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 5 and "1003.txt" in names and "1005.txt" in names  # its own docs are always there
    assert (folder / "1003.txt").read_text().startswith("https://example.org/kalaw\n")
    assert first.judge is not None and first.files == {} and "Maria Dalmacio" in first.direct_context
    assert sorted(p.name for p in family.build(tasks[0]).mounts["/corpus"].iterdir()) == names  # seeded
    second = family.build(tasks[1])
    assert "2001.txt" in {p.name for p in second.mounts["/corpus"].iterdir()}  # its text came with the query
    first.cleanup()
    assert not folder.exists()
    assert len(list((family.store).glob("*/docs/*.txt"))) == 12


def test_parquet_is_read_too(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    rows = [json.loads(line) for line in (FIXTURES / "oolong-synth.jsonl").read_text().splitlines()]
    path = tmp_path / "data" / "test-00000-of-00001.parquet"
    path.parent.mkdir()
    pq.write_table(pyarrow.Table.from_pylist(rows), path, row_group_size=2)
    family = open_dataset("oolong", tmp_path / "data")
    tasks = family.tasks(None, 1, 0)
    assert [t.key for t in tasks] == ["101", "102", "103", "104"]
    assert family.build(tasks[3]).files["context.txt"] == rows[3]["context_window_text"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="not a readable Parquet file .*truncated download"):
        open_dataset("oolong", path).tasks(None, 1, 0)


# --- bad input ------------------------------------------------------------------------------------------

def lines_of(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def test_wrong_schema_names_file_line_and_field(tmp_path):
    rows = [json.loads(line) for line in lines_of("oolong-synth.jsonl")]
    del rows[2]["answer"]
    rows[1]["context_len"] = "long"
    bad = tmp_path / "synth.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"synth\.jsonl: line 2: not a OolongSynthRecord record: field 'context_len'"):
        open_dataset("oolong", bad).tasks(None, 1, 0)
    del rows[1]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"line 2: .*field 'answer': field required"):
        open_dataset("oolong", bad).tasks(None, 1, 0)
    records = json.loads((FIXTURES / "longbench-v2" / "data.json").read_text())
    records[1]["answer"] = "E"
    (tmp_path / "lb.json").write_text(json.dumps(records, indent=1))
    line = json.dumps(records, indent=1).splitlines().index(" {", 2) + 1  # where the second record starts
    with pytest.raises(DatasetError, match=rf"lb\.json: line {line}: .*field 'answer'"):
        open_dataset("longbench-v2", tmp_path / "lb.json").tasks(None, 1, 0)
    (tmp_path / "ruler.jsonl").write_text(json.dumps({"index": 0, "input": "no question here", "outputs": ["1"],
                                                      "length": 4096}) + "\n")
    with pytest.raises(DatasetError, match=r"ruler\.jsonl: line 1: field 'input': no question line"):
        open_dataset("s-niah", tmp_path / "ruler.jsonl").tasks(None, 1, 0)


def test_truncated_downloads_are_clear_errors(tmp_path):
    text = (FIXTURES / "oolong-synth.jsonl").read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 200])  # the last record is cut mid-way
    with pytest.raises(DatasetError, match=r"cut\.jsonl: line 4: not valid JSON: .*truncated download"):
        open_dataset("oolong", cut).tasks(None, 1, 0)
    array = (FIXTURES / "longbench-v2" / "data.json").read_text()
    cut_json = tmp_path / "data.json"
    cut_json.write_text(array[: len(array) * 2 // 3])
    with pytest.raises(DatasetError, match=r"data\.json: line \d+: not valid JSON: .*truncated download"):
        open_dataset("longbench-v2", cut_json).tasks(None, 1, 0)
    cut_json.write_text(array.rstrip().removesuffix("]"))
    with pytest.raises(DatasetError, match="the array is not closed"):
        open_dataset("longbench-v2", cut_json).tasks(None, 1, 0)
    with pytest.raises(DatasetError, match="no such file or folder"):
        open_dataset("oolong", tmp_path / "nothing.jsonl").tasks(None, 1, 0)


def test_benchmark_folders_missing_parts(tmp_path):
    bare = tmp_path / "bcp"
    bare.mkdir()
    shutil.copy(FIXTURES / "browsecomp-plus" / "browsecomp_plus_decrypted.jsonl", bare)
    with pytest.raises(DatasetError, match=r"no corpus/ folder: download Tevatron/browsecomp-plus-corpus"):
        open_dataset("browsecomp-plus", bare).tasks(None, 1, 0)
    (bare / "corpus").mkdir()
    with pytest.raises(DatasetError, match="corpus folder has no"):
        open_dataset("browsecomp-plus", bare).tasks(None, 1, 0)
    root = spreadsheet_folder(tmp_path / "sb")
    (root / "spreadsheet/13284/2_13284_answer.xlsx").unlink()
    with pytest.raises(DatasetError, match=r"dataset\.json: line \d+: test case 2 has no answer workbook"):
        open_dataset("spreadsheetbench", root).tasks(None, 1, 0)
    shutil.rmtree(root / "spreadsheet/59196")
    with pytest.raises(DatasetError, match="field 'spreadsheet_path': no test-case folder"):
        open_dataset("spreadsheetbench", root).tasks(None, 1, 0)
    with pytest.raises(DatasetError, match="unknown --dataset 'oolong-synthetic'; choose from oolong, "):
        open_dataset("oolong-synthetic", tmp_path)
    with pytest.raises(DatasetError, match="no record in subset 'nope'"):
        open_dataset("oolong", FIXTURES / "oolong-synth.jsonl", subset="nope").tasks(None, 1, 0)
