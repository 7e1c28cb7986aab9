"""`rlm-tui eval --dataset NAME PATH` end to end against the scripted LM server, in both modes:
the published benchmarks' tasks run, the RLM reads them from its sandbox (BrowseComp-Plus's
corpus from a read-only /corpus mount, never pasted; SpreadsheetBench's workbooks as File inputs
it edits with openpyxl), and each answer is scored by its benchmark's rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rlm_tui.cli import EXIT_OK, EXIT_USAGE, main
from tests.engine.test_engine import code
from tests.eval.test_datasets import FIXTURES, spreadsheet_folder


def argv(server, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", "openai/root", "--sub-model", "openai/sub", "--api-base", server.url,
            "--out", str(out), "--concurrency", "4", "--context-window", "50000", *extra]


def is_root(request: dict) -> bool:
    return "Recursive Language Model" in request["messages"][0]["content"]


def question_of(request: dict) -> str:
    return request["messages"][-1]["content"].rsplit("Question: ", 1)[1]


# What each mode answers, by the end of the question; the RLM finds S-NIAH's needle itself.
RLM_ANSWERS = {
    "'Answer: number'.": "Answer: 7",
    "'Label: answer'.": "Label: entity",
    "same frequency as'.": "Answer: less common than",
    "'Date: answer'.": "Date: Feb 14, 2023",
    "(insert answer here)\".": "The correct answer is (B)",
    "numeric value. In your answer, list all pairs in the format (user_id_1, user_id_2), separated by newlines.":
        "(11111, 22222)\n(11111, 33333)\n(22222, 33333)",
    "abbreviation. In your answer, list all pairs in the format (user_id_1, user_id_2), separated by newlines.":
        "(44444, 55555)",
}
DIRECT_ANSWERS = {**RLM_ANSWERS, "'Answer: number'.": "Answer: 5", "(insert answer here)\".": "The correct answer is (A)"}
GUEST = r'''
import re
q = question
if "special magic number" in q:
    key = re.search(r"number for (\S+) mentioned", q).group(1)
    text = open("context.txt").read()
    answer = re.search(rf"magic numbers for {key} is: (\d+)", text).group(1)
else:
    answer = next(a for end, a in ANSWERS.items() if q.endswith(end))
SUBMIT(answer=answer)
'''


def test_published_benchmarks_in_both_modes(scripted_server, tmp_path, capsys):
    guest = code(f"ANSWERS = {RLM_ANSWERS!r}\n{GUEST}")

    def reply(request: dict) -> str:
        if is_root(request):
            return guest
        q = question_of(request)
        return next((a for end, a in DIRECT_ANSWERS.items() if q.endswith(end)), "I do not know.")

    scripted_server.default(reply)
    out = tmp_path / "run"
    assert main(argv(scripted_server, out, "--dataset", "oolong", str(FIXTURES / "oolong-synth.jsonl"),
                     "--dataset", "s-niah", str(FIXTURES / "ruler"), "--dataset", "codeqa",
                     str(FIXTURES / "longbench-v2"), "--dataset", "oolong-pairs",
                     str(FIXTURES / "oolong-pairs.jsonl"))) == EXIT_OK
    data = json.loads((out / "results.json").read_text())
    scores = {(r["id"], r["mode"]): r["score"] for r in data["records"]}
    assert len(scores) == 18 and not [r for r in data["records"] if r.get("error")]
    assert {k: v for k, v in scores.items() if k[1] == "rlm"} == {
        ("oolong/101", "rlm"): 1.0, ("oolong/102", "rlm"): 1.0, ("oolong/103", "rlm"): 1.0, ("oolong/104", "rlm"): 1.0,
        ("s-niah/niah_single_1/4096/0", "rlm"): 1.0, ("s-niah/niah_single_1/4096/1", "rlm"): 1.0,
        ("codeqa/66f36490821e116aacb2cc22", "rlm"): 1.0, ("oolong-pairs/pairs-1", "rlm"): 1.0,
        ("oolong-pairs/pairs-2", "rlm"): round(2 / 3, 4)}
    assert scores[("oolong/101", "direct")] == 0.5625  # 0.75 ** |7 - 5|
    assert scores[("codeqa/66f36490821e116aacb2cc22", "direct")] == 0.0
    assert scores[("s-niah/niah_single_1/4096/0", "direct")] == 0.0
    assert data["config"]["datasets"]["codeqa"] == str(FIXTURES / "longbench-v2")
    # The RLM never had the context in its prompt; direct prompting did.
    rlm_prompts = [r.prompt_text for r in scripted_server.chat_requests("root") if "Recursive Language Model" in r.prompt_text]
    assert rlm_prompts and not any("Date: Jan" in p or "Date: Feb" in p for p in rlm_prompts)
    # results.md: the failures first, each linked to a trace that replay opens.
    md = (out / "results.md").read_text()
    assert md.index("## Failures") < md.index("## Results")
    first = next(line for line in md.splitlines() if line.startswith("- [`"))
    assert "(direct)" in first and "score 0.00" in first
    trace = first.split("](", 1)[1].split(")", 1)[0]
    assert (out / trace).is_file() and f"`rlm-tui replay {trace}`" in first
    capsys.readouterr()
    assert main(["replay", str(out / trace), "--summary"]) == EXIT_OK
    assert "finished" in capsys.readouterr().out
    rlm_trace = out / next(r["trace"] for r in data["records"] if r["mode"] == "rlm")
    assert main(["replay", str(rlm_trace), "--summary"]) == EXIT_OK


BROWSE_GUEST = r'''
import os
docs = {name: open("/corpus/" + name).read() for name in sorted(os.listdir("/corpus"))}
found = "unknown"
for text in docs.values():
    if "thirteenth" in text and "pageant" in question:
        found = "Maria Dalmacio"
    if "Sea Lark" in text and "fishing boat" in question:
        found = "The Sea Lark"
SUBMIT(answer=f"Explanation: read {len(docs)} documents\nExact Answer: {found}\nConfidence: 80%")
'''


def test_browsecomp_plus_corpus_is_mounted_and_an_lm_judges(scripted_server, tmp_path):
    def reply(request: dict) -> str:
        if request["model"] == "judge":
            prompt = request["messages"][-1]["content"]
            response = prompt.split("Response: ", 1)[1].split("Correct answer: ", 1)
            return f"extracted_final_answer: x\nreasoning: compared\ncorrect: {'yes' if response[1].split(chr(10))[0] in response[0] else 'no'}"
        if is_root(request):
            return code(BROWSE_GUEST)
        return "Explanation: none\nExact Answer: Juan Cruz\nConfidence: 10%"

    scripted_server.default(reply)
    out = tmp_path / "bcp"
    assert main(argv(scripted_server, out, "--dataset", "browsecomp-plus", str(FIXTURES / "browsecomp-plus"),
                     "--docs", "4", "--judge-model", "openai/judge")) == EXIT_OK
    records = json.loads((out / "results.json").read_text())["records"]
    assert {(r["id"], r["mode"]): r["score"] for r in records} == {
        ("browsecomp-plus/74", "rlm"): 1.0, ("browsecomp-plus/74", "direct"): 0.0,
        ("browsecomp-plus/12", "rlm"): 1.0, ("browsecomp-plus/12", "direct"): 0.0}
    assert all("read 4 documents" in r["answer"] for r in records if r["mode"] == "rlm")
    assert all(r["judge_model"] == "openai/judge" and r["judge_tokens"] > 0 for r in records)
    assert len(scripted_server.chat_requests("judge")) == 4
    root = [r.prompt_text for r in scripted_server.chat_requests("root")]
    rlm, direct = [p for p in root if "Recursive Language Model" in p], [p for p in root if "Recursive" not in p]
    assert not any("Kalaw stew festival" in p for p in rlm)  # mounted, never pasted
    assert any("Kalaw stew festival" in p for p in direct)
    assert "mounted read-only at /corpus" in rlm[0]


SHEET_GUEST = r'''
import openpyxl
outputs = []
for i, path in enumerate(workbooks):
    book = openpyxl.load_workbook(path)
    sheet = book["Sheet1"]
    if "sum of A2:A4" in instruction:
        sheet["B2"] = sum(sheet[c].value for c in ("A2", "A3", "A4"))
    else:
        for row in (2, 3):
            sheet[f"C{row}"] = sheet[f"A{row}"].value * 2
    outputs.append(f"/workspace/out_{i}.xlsx")
    book.save(outputs[-1])
SUBMIT(outputs=outputs)
'''


def test_spreadsheetbench_workbooks_in_and_out(scripted_server, tmp_path):
    root = spreadsheet_folder(tmp_path / "sb")

    def reply(request: dict) -> str:
        if is_root(request):
            return code(SHEET_GUEST)
        q = question_of(request)
        return '{"Sheet1!B2": 6}' if "sum of A2:A4" in q else '{"1": {"C2": 8, "C3": 10}, "2": {"C2": 0, "C3": 0}}'

    scripted_server.default(reply)
    out = tmp_path / "out"
    assert main(argv(scripted_server, out, "--dataset", "spreadsheetbench", str(root))) == EXIT_OK
    records = {(r["id"], r["mode"]): r for r in json.loads((out / "results.json").read_text())["records"]}
    assert {k: r["score"] for k, r in records.items()} == {
        ("spreadsheetbench/59196", "rlm"): 1.0, ("spreadsheetbench/59196", "direct"): 1.0,
        ("spreadsheetbench/13284", "rlm"): 1.0, ("spreadsheetbench/13284", "direct"): 0.0}
    produced = records[("spreadsheetbench/13284", "rlm")]["answer"]
    assert len(produced) == 2 and all(Path(p).is_file() and Path(p).is_relative_to(out / "files") for p in produced)
    prompt = next(r.prompt_text for r in scripted_server.chat_requests("root") if "Recursive" not in r.prompt_text)
    assert "Sheet1!A2 = 1" in prompt  # direct prompting sees the workbook as text


def test_dataset_usage_errors(scripted_server, tmp_path, capsys):
    assert main(argv(scripted_server, tmp_path / "a", "--dataset", "ruler-v9", str(FIXTURES))) == EXIT_USAGE
    assert "unknown --dataset 'ruler-v9'" in capsys.readouterr().err
    bare = tmp_path / "bcp"
    bare.mkdir()
    shutil.copy(FIXTURES / "browsecomp-plus" / "browsecomp_plus_decrypted.jsonl", bare)
    assert main(argv(scripted_server, tmp_path / "b", "--dataset", "browsecomp-plus", str(bare))) == EXIT_USAGE
    assert "no corpus/ folder" in capsys.readouterr().err
    cut = tmp_path / "cut.jsonl"
    cut.write_text((FIXTURES / "oolong-synth.jsonl").read_text()[:-300])
    assert main(argv(scripted_server, tmp_path / "c", "--dataset", "oolong", str(cut))) == EXIT_USAGE
    assert "cut.jsonl: line 4: not valid JSON" in capsys.readouterr().err
    assert main(argv(scripted_server, tmp_path / "d", "--limit", "3")) == EXIT_USAGE
    assert "add --dataset NAME PATH" in capsys.readouterr().err
    assert not scripted_server.chat_requests()
