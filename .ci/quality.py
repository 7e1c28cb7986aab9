"""CI's quality figure: a small real-model eval with the offline default, RLM mode beside direct mode.

Runs `rlm-tui eval` with an offline model (greedy decoding, fixed seeds) on a few needle and codebase
tasks in RLM mode and on the needle tasks in direct mode (the whole context in one prompt, cut to
the window), prints the scores side by side, and exits 1 when the RLM mode's mean score is below
the floor. Settings (env): RLM_TUI_CI_MODEL (default embedded/qwen2.5-coder-0.5b, the model CI
pulls), RLM_TUI_CI_FLOOR, RLM_TUI_CI_OUT (default build/eval-ci, emptied first: `rlm-tui eval`
keeps a folder's earlier results only with --resume).

    .venv/bin/python .ci/quality.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODEL = os.environ.get("RLM_TUI_CI_MODEL", "embedded/qwen2.5-coder-0.5b")
FLOOR = float(os.environ.get("RLM_TUI_CI_FLOOR", "0.5"))
OUT = Path(os.environ.get("RLM_TUI_CI_OUT", "build/eval-ci"))
SEED = 20261
COMMON = ["--model", MODEL, "--n", "1", "--seed", str(SEED), "--concurrency", "1", "--max-iterations", "6",
          "--max-seconds", "240"]
RUNS = {  # out folder -> the eval's arguments
    "rlm": ["--tasks", "needle", "codebase", "--sizes", "8k", "64k", "--modes", "rlm"],
    "direct": ["--tasks", "needle", "--sizes", "8k", "64k", "--modes", "direct", "--context-window", "8192"],
}


def run_eval(name: str, args: list[str]) -> list[dict]:
    out = OUT / name
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "rlm_tui", "eval", *COMMON, *args, "--out", str(out)]
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
    if done.returncode not in (0, 3):
        raise SystemExit(f"quality: rlm-tui eval failed (exit {done.returncode})")
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["summary"]


def no_code(row: dict | None) -> str:
    """Root iterations with no code cell, of all root iterations."""
    if not row or not row.get("root_iterations"):
        return "-"
    return f"{row['no_code_iterations']}/{row['root_iterations']}"


def main() -> int:
    started = time.monotonic()
    rows = {name: run_eval(name, args) for name, args in RUNS.items()}
    table: dict[tuple[str, str], dict[str, dict]] = {}
    for name, summary in rows.items():
        for row in summary:
            table.setdefault((row["family"], row["size"]), {})[row["mode"]] = row
    print(f"\nOffline quality ({MODEL}, seed {SEED}, greedy):")
    print(f"{'family':<10} {'size':<12} {'rlm':>6} {'direct':>7} {'s/task rlm':>11} {'s/task direct':>14} "
          f"{'no-code rlm':>12}")
    for (family, size), modes in table.items():
        rlm, direct = modes.get("rlm"), modes.get("direct")

        def cell(row: dict | None, key: str, fmt: str) -> str:
            return format(row[key], fmt) if row else "-"

        print(f"{family:<10} {size:<12} {cell(rlm, 'score', '.2f'):>6} {cell(direct, 'score', '.2f'):>7} "
              f"{cell(rlm, 'wall_s_per_task', '.0f'):>11} {cell(direct, 'wall_s_per_task', '.0f'):>14} "
              f"{no_code(rlm):>12}")
    overall = next(row for row in rows["rlm"] if row["family"] == "all" and row["mode"] == "rlm")
    print(f"RLM mode: {overall['score']:.2f} over {overall['tasks']} tasks (floor {FLOOR:.2f}); "
          f"{time.monotonic() - started:.0f} s in all")
    if overall["score"] < FLOOR:
        print(f"quality: the RLM-mode score {overall['score']:.2f} is below the floor {FLOOR:.2f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
