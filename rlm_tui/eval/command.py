"""`rlm-tui eval`: arguments and the command (the CLI only delegates here)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

FAMILIES = ("needle", "aggregate", "codebase")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", nargs="+", metavar="FAMILY", default=list(FAMILIES),
                        help=f"task families to run: {', '.join(FAMILIES)} (default: all)")
    parser.add_argument("--sizes", nargs="+", metavar="SIZE",
                        help="context sizes in tokens, like 8k 128k 1m (default per family: needle 8k 64k 256k "
                             "1m, aggregate 8k 32k 128k; the codebase family has one fixed size)")
    parser.add_argument("--n", type=int, default=2, help="tasks per family, variant and size (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generating the tasks (default: 0)")
    parser.add_argument("--modes", nargs="+", choices=("rlm", "direct"), default=["rlm", "direct"],
                        help="rlm (the sandbox REPL) and/or direct (the whole context in one prompt)")
    parser.add_argument("--out", type=Path, default=Path("eval-results"),
                        help="folder for results.jsonl, results.json, results.md and traces/ (default: ./eval-results)")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks running at once (default: 4)")
    parser.add_argument("--resume", action="store_true", help="continue a run in --out: skip tasks already done")
    parser.add_argument("--context-window", type=int, metavar="TOKENS",
                        help="the direct mode's window (default: the model's, from litellm; 128K if unknown)")
    parser.add_argument("--no-traces", action="store_true", help="do not write a JSONL trace per RLM task")


def run_command(args: argparse.Namespace, settings: Any) -> int:
    """Run the eval; raises `EvalError` (or `NoModelError`) for usage problems."""
    from rlm_tui.eval.runner import EvalConfig, EvalError, run_eval

    if args.n < 1 or args.concurrency < 1:
        raise EvalError("--n and --concurrency must be at least 1")
    config = EvalConfig(
        model=settings.model or "", sub_model=settings.sub_model, families=list(dict.fromkeys(args.tasks)),
        sizes=args.sizes, n=args.n, seed=args.seed, modes=list(dict.fromkeys(args.modes)), out=args.out,
        concurrency=args.concurrency, resume=args.resume, context_window=args.context_window,
        traces=not args.no_traces,
    )
    try:
        results = asyncio.run(run_eval(config, settings))
    except ValueError as e:  # a bad --sizes label
        raise EvalError(str(e)) from None
    print(results.results_md.read_text(encoding="utf-8"))
    print(f"results: {results.results_json} and {results.results_md}", file=sys.stderr)
    return 0
