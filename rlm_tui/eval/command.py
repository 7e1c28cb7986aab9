"""`rlm-tui eval`: arguments and the command (the CLI only delegates here)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

FAMILIES = ("needle", "aggregate", "codebase")
EXIT_STOPPED = 3  # the CLI's "partial" exit: --max-cost stopped the run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlm_tui.eval.datasets import DATASETS

    parser.add_argument("--tasks", nargs="+", metavar="FAMILY",
                        help=f"generated task families to run: {', '.join(FAMILIES)} (default: all, or none "
                             "when --dataset is given)")
    parser.add_argument("--dataset", nargs=2, action="append", default=[], metavar=("NAME", "PATH"),
                        help=f"a published benchmark from local files (repeatable): {', '.join(DATASETS)}; "
                             "PATH is its file, folder or glob (see README, 'Reproduce the paper')")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="published benchmarks: at most N tasks each, a sample fixed by --seed (default: all)")
    parser.add_argument("--subset", metavar="NAME",
                        help="published benchmarks: one subset, e.g. trec_coarse (OOLONG), codeqa (LongBench v2), "
                             "niah_single_1 (S-NIAH), Cell-Level (SpreadsheetBench)")
    parser.add_argument("--docs", type=int, metavar="K",
                        help="browsecomp-plus: documents per question, its own plus random ones (default: 1000)")
    parser.add_argument("--judge-model", metavar="MODEL",
                        help="the LM judge for benchmarks scored by one (browsecomp-plus; default: the sub-model)")
    parser.add_argument("--sizes", nargs="+", metavar="SIZE",
                        help="context sizes in tokens, like 8k 128k 1m (default per family: needle 8k 64k 256k "
                             "1m, aggregate 8k 32k 128k; the codebase family has one fixed size; a published "
                             "benchmark keeps the tasks whose context is in those power-of-two buckets)")
    parser.add_argument("--n", type=int, default=2,
                        help="generated families: tasks per family, variant and size (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generating and sampling tasks (default: 0)")
    parser.add_argument("--modes", nargs="+", choices=("rlm", "direct"), default=["rlm", "direct"],
                        help="rlm (the sandbox REPL) and/or direct (the whole context in one prompt)")
    parser.add_argument("--out", type=Path, default=Path("eval-results"),
                        help="folder for results.jsonl, results.json, results.md, results.png and traces/ "
                             "(default: ./eval-results)")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks running at once (default: 4)")
    parser.add_argument("--resume", action="store_true", help="continue a run in --out: skip tasks already done")
    parser.add_argument("--context-window", type=int, metavar="TOKENS",
                        help="the direct mode's window (default: the model's, from litellm; 128K if unknown)")
    parser.add_argument("--no-traces", action="store_true", help="do not write a JSONL trace per task")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the task count and the estimated tokens, USD and wall time; call no LM")
    parser.add_argument("--max-cost", type=float, dest="eval_max_cost", metavar="USD",
                        help="stop the whole eval once this run has spent USD (what finished is kept; "
                             "--resume continues)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                        help="lay two result folders side by side, with per-task wins and losses (runs nothing)")


def run_command(args: argparse.Namespace, settings: Any) -> int:
    """Run the eval; raises `EvalError` (or `NoModelError`) for usage problems."""
    from rlm_tui.eval.datasets import DatasetError, open_dataset
    from rlm_tui.eval.runner import EvalConfig, EvalError, Runner, default_families

    if args.compare:
        from rlm_tui.eval.compare import CompareError, compare

        try:
            print(compare(*args.compare))
        except CompareError as e:
            raise EvalError(str(e)) from None
        return 0
    if args.n < 1 or args.concurrency < 1 or (args.limit is not None and args.limit < 1):
        raise EvalError("--n, --concurrency and --limit must be at least 1")
    if args.eval_max_cost is not None and args.eval_max_cost <= 0:
        raise EvalError("--max-cost must be more than 0")
    families = default_families()
    datasets: dict[str, str] = {}
    try:
        for name, path in args.dataset:
            family = open_dataset(name, path, limit=args.limit, subset=args.subset, docs=args.docs)
            families[family.name] = family
            datasets[family.name] = str(path)
    except DatasetError as e:
        raise EvalError(str(e)) from None
    if (args.limit or args.subset or args.docs) and not datasets:
        raise EvalError("--limit, --subset and --docs apply to published benchmarks: add --dataset NAME PATH")
    names = list(dict.fromkeys(args.tasks if args.tasks else ([] if datasets else FAMILIES)))
    config = EvalConfig(
        model=settings.model or "", sub_model=settings.sub_model, families=[*names, *datasets],
        sizes=args.sizes, n=args.n, seed=args.seed, modes=list(dict.fromkeys(args.modes)), out=args.out,
        concurrency=args.concurrency, resume=args.resume, context_window=args.context_window,
        traces=not args.no_traces, max_cost_usd=args.eval_max_cost, judge_model=args.judge_model,
        datasets=datasets,
    )
    try:
        from rlm_tui.eval.progress import (
            EvalProgress,  # the command is the UI: it shows the progress
        )

        runner = Runner(config, settings, families, EvalProgress())
        if args.dry_run:
            from rlm_tui.eval.estimate import estimate

            print(estimate(runner).format())
            return 0
        results = asyncio.run(runner.run())
    except ValueError as e:  # a bad --sizes label, a bad dataset record (DatasetError)
        raise EvalError(str(e)) from None
    from rlm_tui.eval.charts import terminal_chart

    print(results.results_md.read_text(encoding="utf-8"))
    if results.records:
        print(terminal_chart(results.records))
    print(f"results: {results.results_json}, {results.results_md} and {results.results_json.with_name('results.png')}",
          file=sys.stderr)
    return EXIT_STOPPED if results.stopped else 0
