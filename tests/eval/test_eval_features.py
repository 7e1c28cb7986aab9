"""Eval around the tasks: the dry run (counts and prices, no LM call), --max-cost stopping the
whole eval and --resume finishing it without counting anything twice, the chart (PNG and
terminal) and --compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_tui.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from rlm_tui.eval.charts import points, terminal_chart
from rlm_tui.eval.estimate import DIRECT_REPLY
from rlm_tui.lm.client import price_usd
from tests.engine.test_engine import code

PRICED = "openai/gpt-4o-mini"  # in litellm's bundled price map


def argv(server, out: Path, *extra: str, model: str = PRICED) -> list[str]:
    return ["eval", "--model", model, "--api-base", server.url, "--out", str(out), "--tasks", "needle",
            "--sizes", "1k", "--n", "2", "--context-window", "50000", *extra]


def test_dry_run_prints_counts_tokens_usd_and_time_without_calling(scripted_server, tmp_path, capsys):
    assert main(argv(scripted_server, tmp_path / "dry", "--dry-run", "--concurrency", "2")) == EXIT_OK
    out = capsys.readouterr().out
    assert not scripted_server.chat_requests() and not (tmp_path / "dry" / "results.json").exists()
    assert "dry run: 4 task(s) (needle 4), 8 run(s) on openai/gpt-4o-mini; no LM was called" in out
    direct = next(line.split() for line in out.splitlines() if line.startswith("direct "))
    runs, prompt, completion, usd = int(direct[1]), int(direct[2].replace(",", "")), int(direct[3].replace(",", "")), float(direct[4])
    assert runs == 4 and completion == 4 * DIRECT_REPLY
    assert prompt > 4 * 1024  # the 1k-token contexts, plus questions
    assert usd == pytest.approx(price_usd(PRICED, prompt, completion), abs=1e-4)
    assert "rlm " in out and "wall time at --concurrency 2: about" in out
    assert main(argv(scripted_server, tmp_path / "dry2", "--dry-run", model="openai/unpriced-model")) == EXIT_OK
    assert "no price for openai/unpriced-model" in capsys.readouterr().out


def test_max_cost_stops_the_whole_eval_and_resume_finishes_it(scripted_server, tmp_path, capsys):
    scripted_server.default(lambda request: code("SUBMIT(answer='1234567')") if "Recursive" in
                            request["messages"][0]["content"] else "1234567")
    out = tmp_path / "capped"
    first = argv(scripted_server, out, "--concurrency", "1", "--modes", "direct")
    assert main([*first, "--max-cost", "0.0000001"]) == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert "stopped: --max-cost $1e-07 reached" in captured.err
    records = json.loads((out / "results.json").read_text())["records"]
    assert len(records) == 1 and records[0]["cost_usd"] > 0
    assert "**Stopped early:**" in (out / "results.md").read_text()
    assert len(scripted_server.chat_requests()) == 1  # nothing started after the limit
    assert main([*first, "--resume", "--max-cost", "5"]) == EXIT_OK
    assert len(scripted_server.chat_requests()) == 4  # the three left, the first not again
    records = json.loads((out / "results.json").read_text())["records"]
    assert sorted(r["id"] for r in records) == sorted({r["id"] for r in records}) and len(records) == 4
    assert main([*first, "--max-cost", "0"]) == EXIT_USAGE


def test_chart_png_and_terminal(scripted_server, tmp_path, capsys):
    scripted_server.default(lambda request: code("SUBMIT(answer='1234567')") if "Recursive" in
                            request["messages"][0]["content"] else "no idea")
    out = tmp_path / "chart"
    assert main(argv(scripted_server, out, "--sizes", "1k", "2k", "--n", "1")) == EXIT_OK
    stdout = capsys.readouterr().out
    png = out / "results.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "![score by context size, RLM vs direct](results.png)" in (out / "results.md").read_text()
    records = json.loads((out / "results.json").read_text())["records"]
    pts = points(records)
    assert [(p.size, p.mode) for p in pts] == [("1k", "rlm"), ("1k", "direct"), ("2k", "rlm"), ("2k", "direct")]
    assert [p.tasks for p in pts] == [2, 2, 2, 2]
    chart = terminal_chart(records)
    assert chart in stdout
    lines = [line for line in chart.splitlines() if "|" in line]
    assert len(lines) == 4 and all(line.count("|") == 2 for line in lines)
    assert all("direct" not in line or "|" + "." * 30 + "|" in line for line in lines)  # direct never right


def test_compare_two_result_folders(tmp_path, capsys):
    def folder(name: str, model: str, scores: dict[tuple[str, str], float]) -> Path:
        path = tmp_path / name
        path.mkdir()
        records = [{"id": i, "mode": m, "family": i.split("/")[0], "score": s, "cost_usd": 0.01,
                    "trace": f"traces/{i.replace('/', '_')}.{m}.jsonl"} for (i, m), s in scores.items()]
        (path / "results.json").write_text(json.dumps({"config": {"model": model}, "records": records}))
        return path

    a = folder("before", "openai/a", {("needle/single/8k/0", "rlm"): 1.0, ("needle/single/8k/1", "rlm"): 0.0,
                                      ("oolong/7", "rlm"): 0.5, ("oolong/8", "direct"): 1.0})
    b = folder("after", "openai/b", {("needle/single/8k/0", "rlm"): 1.0, ("needle/single/8k/1", "rlm"): 1.0,
                                     ("oolong/7", "rlm"): 0.25, ("oolong/9", "direct"): 1.0})
    assert main(["eval", "--compare", str(a), str(b)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "A = before (openai/a) vs B = after (openai/b)" in out
    assert "3 task(s) in both; 1 only in A, 1 only in B." in out
    assert "| needle | rlm | 2 | 0.50 | 1.00 | 0 | 1 | 1 | 0.0200 | 0.0200 |" in out
    assert "| oolong | rlm | 1 | 0.50 | 0.25 | 1 | 0 | 0 |" in out
    assert "| **all** | all | 3 |" in out
    assert out.index("`needle/single/8k/1` (rlm): A 0.00, B 1.00: B wins") < out.index("`oolong/7` (rlm): A 0.50, B 0.25: A wins")
    assert f"[A]({a}/traces/needle_single_8k_1.rlm.jsonl)" in out
    assert main(["eval", "--compare", str(a), str(tmp_path / "nothing")]) == EXIT_USAGE
    assert "no results.json here" in capsys.readouterr().err


def test_more_tasks_at_once_than_default_worker_threads_do_not_deadlock(scripted_server, tmp_path):
    """Every running RLM cell holds a worker thread while it waits on its sub-calls, which need
    worker threads too: more tasks at once than asyncio's default pool (cores + 4) once hung."""
    import asyncio
    import os
    import threading

    from rlm_tui.config import Settings
    from rlm_tui.eval.runner import EvalConfig, Runner

    guest = code("parts = llm_query_batched(['a', 'b'])\nSUBMIT(answer='1234567')")
    scripted_server.default(lambda request: guest if request["model"] == "root" else "ok")
    tasks = min(32, (os.cpu_count() or 1) + 4) + 2
    config = EvalConfig(model="openai/root", sub_model="openai/sub", families=["needle"], sizes=["1k"],
                        n=(tasks + 1) // 2, modes=["rlm"], out=tmp_path / "many", concurrency=tasks, traces=False,
                        context_window=50_000)
    runner = Runner(config, Settings(model="openai/root", sub_model="openai/sub", api_base=scripted_server.url))

    done: list = []
    worker = threading.Thread(target=lambda: done.append(asyncio.run(runner.run())), daemon=True)
    worker.start()
    worker.join(90)
    assert done, "the eval hung: every worker thread waits on sub-calls that need one"
    assert len(done[0].records) >= tasks and not [r for r in done[0].records if r.get("error")]


def test_the_no_code_rate_is_counted_from_the_traces(scripted_server, tmp_path, capsys):
    """A root reply in prose (no code cell) counts against the no-code rate; the summary and
    results.md give it per row."""
    scripted_server.script("root", "I think the code is in the context.", code("SUBMIT(answer='1234567')"))
    scripted_server.default(code("SUBMIT(answer='7654321')"))  # the other task: code at once
    out = tmp_path / "run"
    assert main(["eval", "--model", "openai/root", "--api-base", scripted_server.url, "--out", str(out),
                 "--tasks", "needle", "--sizes", "1k", "--n", "1", "--modes", "rlm", "--concurrency", "1"]) in (
        EXIT_OK, EXIT_PARTIAL)
    data = json.loads((out / "results.json").read_text())
    first = data["records"][0]  # one task at a time, in plan order: the first got the prose reply
    assert (first["root_iterations"], first["no_code_iterations"]) == (2, 1)
    total = next(r for r in data["summary"] if r["family"] == "all" and r["mode"] == "rlm")
    assert total["no_code_iterations"] == 1 and total["root_iterations"] >= 3
    assert total["no_code_rate"] == pytest.approx(1 / total["root_iterations"])
    assert "no code cell in 1/" in (out / "results.md").read_text()
