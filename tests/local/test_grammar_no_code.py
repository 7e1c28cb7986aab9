"""The real 0.5B model under the reply grammar: every root reply is one python block.

Left free, the 0.5B model answered in prose or in unfenced code: 0 code cells in 12 iterations
(issue 14). `rlm-tui eval` on two needle prompts (single and multi), greedy, counts the root
iterations with no code cell from the traces; under the grammar there are none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.local.helpers import require_small_model

pytestmark = pytest.mark.local_model

BOOT = ("import sys; from rlm_tui.local.provider import register; register(); "
        "from rlm_tui.cli import main; sys.exit(main(sys.argv[1:]))")


def test_every_root_reply_of_the_small_model_is_a_code_cell(tmp_path: Path):
    spec = require_small_model()
    out = tmp_path / "eval"
    argv = ["eval", "--model", spec.model_string, "--tasks", "needle", "--sizes", "1k", "--n", "1",
            "--modes", "rlm", "--seed", "5", "--concurrency", "1", "--max-iterations", "2",
            "--max-seconds", "60", "--out", str(out)]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("RLM_TUI_LOCAL_GRAMMAR", None)
    done = subprocess.run([sys.executable, "-c", BOOT, *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode in (0, 3), done.stderr[-3000:]
    records = json.loads((out / "results.json").read_text())["records"]
    assert len(records) == 2 and not [r for r in records if r.get("error")]
    assert all(r["root_iterations"] >= 1 for r in records)
    assert [r["no_code_iterations"] for r in records] == [0, 0], [r["trace"] for r in records]
