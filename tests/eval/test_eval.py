"""`rlm-tui eval`: task generators with exact ground truth, scoring, and end-to-end runs of all
three families against the scripted LM server in both modes, plus resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlm_tui.cli import EXIT_OK, EXIT_USAGE, main
from rlm_tui.eval import scoring
from rlm_tui.eval.aggregate import AggregateFamily
from rlm_tui.eval.needle import NeedleFamily
from rlm_tui.eval.runner import default_families
from rlm_tui.eval.sdist import CodebaseUnavailable
from rlm_tui.eval.tasks import Task, parse_size, plan
from tests.engine.test_engine import code

# --- generators and scoring -------------------------------------------------------------------------

def test_sizes_parse():
    assert parse_size("8k") == 8192 and parse_size("1m") == 1024 * 1024 and parse_size("5000") == 5000
    with pytest.raises(ValueError, match="token count"):
        parse_size("big")


def test_needle_ground_truth_is_in_the_text_and_seeded():
    family = NeedleFamily()
    one = family.build(Task("needle", "multi", "4k", 4096, 0, seed=1))
    again = family.build(Task("needle", "multi", "4k", 4096, 0, seed=1))
    other = family.build(Task("needle", "multi", "4k", 4096, 0, seed=2))
    assert (one.question, one.expected, one.direct_context) == (again.question, again.expected, again.direct_context)
    assert one.expected != other.expected
    text = one.files["context.txt"]
    names = re.search(r"for the (.+) vaults\?", one.question).group(1).replace(" and ", ", ").split(", ")
    assert [re.search(rf"The access code for the {n} vault is (\d{{7}})\.", text).group(1) for n in names] == one.expected
    assert len(re.findall(r"The access code for the", text)) == 10  # 4 asked + 6 distractors
    assert 4096 * 4 <= len(text) < 4096 * 4 + 2000


def test_aggregate_ground_truth_recomputed_from_the_text():
    family = AggregateFamily()
    count = family.build(Task("aggregate", "count", "8k", 8192, 0, seed=3))
    lines = count.files["records.txt"].splitlines()
    assert len(lines) > 150
    fields = re.search(r"category (\w+) and city (\w+)", count.question)
    if fields:  # a structured count can be checked by parsing the records
        category, city = fields.groups()
        assert count.expected == sum(f"city={city} |" in line and f"category={category} |" in line for line in lines)
    topk = family.build(Task("aggregate", "topk", "8k", 8192, 0, seed=3))
    assert len(topk.expected) == 3 and topk.scoring == "f1"
    pairs = family.build(Task("aggregate", "pairs", "8k", 8192, 0, seed=3))
    assert pairs.expected and all(len(p) == 2 for p in pairs.expected)


def test_scoring():
    assert scoring.exact_code("The code is 1234567.", "1234567") == 1.0
    assert scoring.exact_code("1234567 or 7654321", "1234567") == 0.0
    assert scoring.codes_f1("1111111, 2222222", ["1111111", "2222222", "3333333", "4444444"]) == pytest.approx(2 / 3)
    assert scoring.exact_int("There are 1,204 records", 1204) == 1.0
    assert scoring.exact_int("12 of them, so 14", 14) == 1.0 and scoring.exact_int("none", 0) == 0.0
    assert scoring.names_f1("`Context.invoke`, main()", ["Context.invoke", "BaseCommand.main"]) == 1.0
    assert scoring.names_f1("- invoke\n- other", ["Context.invoke", "main"]) == 0.5
    # private names keep their underscore (seed 23: a right answer of three _get_text_* scored 0)
    assert scoring.names_f1("_get_text_stdin, **_get_text_stdout**, `_get_text_stderr`",
                            ["_get_text_stderr", "_get_text_stdin", "_get_text_stdout"]) == 1.0
    assert scoring.exact_path("It is in `src/click/core.py`.", "src/click/core.py") == 1.0
    assert scoring.exact_path("/project/src/click/core.py", "src/click/core.py") == 1.0
    assert scoring.exact_path("click/core.py", "src/click/core.py") == 1.0
    assert scoring.exact_path("core.py or types.py", "src/click/core.py") == 0.0
    pattern = r"[a-z]+_\d+"
    gold = [["ab_1", "cd_2"], ["ab_1", "ef_3"], ["cd_2", "ef_3"]]
    assert scoring.pairs_f1("cd_2 + ab_1; ab_1 + ef_3; cd_2 + ef_3", gold, pattern) == 1.0
    assert scoring.pairs_f1("ab_1 and cd_2", gold, pattern) == pytest.approx(0.5)
    assert scoring.pairs_f1("NONE", [], pattern) == 1.0


# --- end to end against the scripted server ------------------------------------------------------------

def formatted(expected) -> list[str]:
    """The answer items: one code/number/path, or several names, codes or pairs."""
    if isinstance(expected, list):
        return [" + ".join(item) if isinstance(item, list) else str(item) for item in expected]
    return [str(expected)]


def separator(expected) -> str:
    return "; " if expected and isinstance(expected, list) and isinstance(expected[0], list) else ", "


def wrong(task_id: str, mode: str) -> bool:
    """Which answers the scripted LM gets wrong: a mix over variants, indexes and modes."""
    _family, variant, _size, index = task_id.split("/")
    return (int(index) + (mode == "direct") + len(variant)) % 2 == 1


def expected_score(record: dict) -> float:
    if not wrong(record["id"], record["mode"]):
        return 1.0
    if record["scoring"] == "exact":
        return 0.0
    m = len(formatted(record["expected"]))
    k = max(1, m // 2) if m > 1 else 0
    return round(2 * k / (k + m), 4) if k else 0.0


# The RLM's root LM gets this code: it computes the answer inside the sandbox (needle: regex over
# context.txt; codebase: the codebase skill's helpers; aggregate: a lookup) and, for the tasks the
# test wants wrong, keeps only the first half of the items (or answers 0000000).
GUEST = r'''
import os, re
q = question
if os.path.exists("context.txt"):
    text = open("context.txt").read()
    names = re.search(r"for the (.+?) vaults?\?", q).group(1).replace(" and ", ", ").split(", ")
    items = [re.search(rf"access code for the {n} vault is (\d{{7}})", text).group(1) for n in names]
    sep = ", "
elif os.path.exists("records.txt"):
    items, sep = LOOKUP[open("records.txt").readline().rstrip("\n") + "\n" + q]
else:
    from codebase import definitions, outline, callers
    sep = ", "
    name = re.search(r"`(\w+)`", q).group(1)
    if "defines" in q:
        items = [d["path"] for d in definitions(name) if d["path"].startswith("src/")][:1]
    elif "parameter named" in q:
        items = [str(sum(1 for d in outline("src/click") if d["params"] and name in d["params"]))]
    else:
        kinds = {d["qualname"]: d["kind"] for d in outline("src/click")}
        items = sorted({c["caller"] for c in callers(name, "src/click")  # calls inside functions only
                        if kinds.get(c["caller"], "").endswith(("function", "method"))})
if q in WRONG:
    items = items[:len(items) // 2] if len(items) > 1 else ["0000000"]
SUBMIT(answer=sep.join(items))
'''


@pytest.fixture(scope="module")
def click_root() -> Path:
    family = default_families()["codebase"]
    try:
        return family.root()
    except CodebaseUnavailable as e:
        pytest.skip(f"the pinned click sdist cannot be fetched here (no package index?): {e}")


def install_answers(server, tasks, families) -> dict[str, str]:
    """Scripted replies for both modes; returns question -> task id."""
    instances = {t.id: families[t.family].build(t) for t in tasks}
    by_question = {(i.direct_context.split("\n", 1)[0], i.question): tid for tid, i in instances.items()}
    lookup = {i.files["records.txt"].split("\n", 1)[0] + "\n" + i.rlm_preamble + i.question:
              (formatted(i.expected), separator(i.expected))
              for i in instances.values() if i.task.family == "aggregate"}
    wrong_rlm = [i.rlm_preamble + i.question for tid, i in instances.items() if wrong(tid, "rlm")]
    guest = f"LOOKUP = {lookup!r}\nWRONG = {wrong_rlm!r}\n{GUEST}"

    def reply(request: dict) -> str:
        system = request["messages"][0]["content"]
        if "Recursive Language Model" in system:
            return code(guest)
        prompt = request["messages"][-1]["content"]
        question = prompt.rsplit("Question: ", 1)[1]
        first_line = prompt.split("<context>\n", 1)[1].split("\n", 1)[0]
        tid = by_question[(first_line, question)]
        items = formatted(instances[tid].expected)
        if wrong(tid, "direct"):
            items = items[:len(items) // 2] if len(items) > 1 else ["0000000"]
        return separator(instances[tid].expected).join(items)

    server.default(reply)
    return by_question


def eval_argv(server, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", "openai/root", "--sub-model", "openai/sub", "--api-base", server.url,
            "--out", str(out), "--seed", "7", *extra]


def test_eval_all_three_families_scores_right_and_wrong_answers(scripted_server, click_root, tmp_path, capsys):
    families = default_families()
    tasks = plan(families, ["needle", "aggregate", "codebase"], ["2k"], 1, 7)
    install_answers(scripted_server, tasks, families)
    out = tmp_path / "run"
    argv = eval_argv(scripted_server, out, "--tasks", "needle", "aggregate", "codebase", "--sizes", "2k",
                     "--n", "1", "--concurrency", "4", "--context-window", "20000")
    assert main(argv) == EXIT_OK
    captured = capsys.readouterr()
    assert f"[{len(tasks) * 2}/{len(tasks) * 2}]" in captured.err  # progress, one line per finished task
    assert "| needle | 2k | rlm | 2 |" in captured.out

    data = json.loads((out / "results.json").read_text())
    records = data["records"]
    assert len(records) == len(tasks) * 2 == 16
    assert {(r["score"] == 1.0, r["mode"]) for r in records} == {(True, "rlm"), (False, "rlm"), (True, "direct"),
                                                               (False, "direct")}
    for record in records:
        assert record.get("error") is None, (record["id"], record["mode"], record.get("error"))
        assert record["score"] == pytest.approx(expected_score(record)), (record["id"], record["mode"], record["answer"])
        assert record["tokens"] > 0 and record["wall_s"] > 0
    direct = [r for r in records if r["mode"] == "direct"]
    assert all(r["truncated"] is False for r in direct if r["family"] != "codebase")
    assert all(r["truncated"] is True for r in direct if r["family"] == "codebase")  # click is ~190K tokens
    rlm = [r for r in records if r["mode"] == "rlm"]
    assert all(r["lm_calls"] == 1 and r["iterations"] == 1 for r in rlm)
    assert {r["scoring"] for r in records} == {"exact", "f1"}
    rows = {(r["family"], r["size"], r["mode"]): r for r in data["summary"]}
    both = [r for r in records if r["family"] == "needle" and r["mode"] == "rlm"]
    assert rows[("needle", "2k", "rlm")]["score"] == pytest.approx(sum(r["score"] for r in both) / len(both))
    assert rows[("all", "all", "direct")]["tasks"] == 8
    md = (out / "results.md").read_text()
    assert "| **all** | all | rlm | 8 |" in md and "context truncated in 3/3" in md
    assert data["scoring"]["codebase/callers"].startswith("F1")
    assert sorted(p.name for p in (out / "traces").iterdir())[0].endswith(".rlm.jsonl")
    # The RLM never saw the context in its prompt; direct prompting did.
    root_prompts = [r.prompt_text for r in scripted_server.chat_requests("root")]
    code_sentence = "The access code for the"
    assert sum(code_sentence in p and "Recursive Language Model" not in p for p in root_prompts) == 2
    assert not any(code_sentence in p for p in root_prompts if "Recursive Language Model" in p)


def test_direct_mode_truncates_to_the_window_and_says_so(scripted_server, tmp_path):
    scripted_server.default("1234567")
    out = tmp_path / "trunc"
    argv = eval_argv(scripted_server, out, "--tasks", "needle", "--sizes", "8k", "--n", "1", "--modes", "direct",
                     "--context-window", "2000", "--no-traces")
    assert main(argv) == EXIT_OK
    records = json.loads((out / "results.json").read_text())["records"]
    assert len(records) == 2 and all(r["truncated"] and r["shown_chars"] < r["context_chars"] for r in records)
    prompt = scripted_server.chat_requests("root")[0].prompt_text
    assert "the context is truncated to fit your context window" in prompt
    assert len(prompt) < 2000 * 4
    assert not (out / "traces").exists()


def test_resume_skips_finished_tasks_and_retries_failed_ones(scripted_server, tmp_path, capsys):
    families = default_families()
    tasks = plan(families, ["needle"], ["1k"], 2, 7)
    install_answers(scripted_server, tasks, families)
    out = tmp_path / "resume"
    argv = eval_argv(scripted_server, out, "--tasks", "needle", "--sizes", "1k", "--n", "2", "--concurrency", "2")
    assert main(argv) == EXIT_OK
    first = json.loads((out / "results.json").read_text())["records"]
    assert len(first) == 8
    # Simulate an interrupted run: two results kept, one marked failed, and a line cut mid-write.
    lines = (out / "results.jsonl").read_text().splitlines()
    failed = json.loads(lines[2])
    failed.update(error="LMError: boom", score=0.0)
    (out / "results.jsonl").write_text("\n".join([*lines[:2], json.dumps(failed), lines[3][:40]]) + "\n")
    capsys.readouterr()

    assert main(argv) == EXIT_USAGE  # existing results need --resume
    assert "--resume" in capsys.readouterr().err

    before = len(scripted_server.chat_requests())
    assert main([*argv, "--resume"]) == EXIT_OK
    assert len(scripted_server.chat_requests()) - before == 6  # 8 units - 2 kept
    assert "resuming: 2 of 8 already done" in capsys.readouterr().err
    second = json.loads((out / "results.json").read_text())["records"]
    assert len(second) == 8
    assert [(r["id"], r["mode"], r["score"]) for r in second] == [(r["id"], r["mode"], r["score"]) for r in first]


def test_usage_errors(scripted_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RLM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("RLM_TUI_MODEL", raising=False)
    assert main(eval_argv(scripted_server, tmp_path / "x", "--tasks", "nope")) == EXIT_USAGE
    assert "unknown task family nope" in capsys.readouterr().err
    assert main(eval_argv(scripted_server, tmp_path / "y", "--sizes", "huge")) == EXIT_USAGE
    assert main(["eval", "--out", str(tmp_path / "z")]) == EXIT_USAGE  # no model configured
