"""Summaries of eval records: per family and size, per family, and overall, for each mode; and
`results.md`: the failures first (each linked to its trace, which `rlm-tui replay` opens), then
the table and the chart."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCORING = {
    "needle/single": "exact: the answer names the asked 7-digit code and no other",
    "needle/multi": "F1 over the 7-digit codes in the answer vs the four asked",
    "aggregate/count": "exact: the answer's (last) number equals the count",
    "aggregate/topk": "F1 over the user names listed vs the top 3",
    "aggregate/pairs": "F1 over unordered user pairs listed vs every qualifying pair",
    "codebase/defines": "exact: the .py path(s) in the answer are the defining file",
    "codebase/params": "exact: the answer's (last) number equals the count",
    "codebase/callers": "F1 over qualified names listed (a bare name matches its qualname)",
    "oolong": "OOLONG's rule: the answer after the last colon; numbers 0.75^|gold - answer|, dates and labels exact",
    "oolong-real": "OOLONG-real's rule: the \\boxed{} answer; numbers 0.75^|diff|, text exact, lists share of gold",
    "oolong-pairs": "F1 over unordered (user_id, user_id) pairs vs the gold pairs (the RLM paper's rule)",
    "s-niah": "RULER string_match_all: share of the needle values found in the answer (case-insensitive)",
    "longbench-v2": "LongBench v2's rule: the letter in 'The correct answer is (X)' equals the gold letter",
    "codeqa": "LongBench v2's rule: the letter in 'The correct answer is (X)' equals the gold letter",
    "browsecomp-plus": "BrowseComp-Plus's rule: an LM judge says the final answer matches the correct answer",
    "spreadsheetbench": "SpreadsheetBench's rule: every answer cell matches the answer workbook in every test case",
}
MAX_FAILURES = 100


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by (family, size, mode), then (family, 'all', mode), then ('all', 'all', mode)."""
    records = list(records)
    rows: list[dict[str, Any]] = []
    keys: list[tuple[str, str, str]] = []
    for r in records:
        key = (r["family"], r["size"], r["mode"])
        if key not in keys:
            keys.append(key)
    family_order = list(dict.fromkeys(k[0] for k in keys))
    keys.sort(key=lambda k: (family_order.index(k[0]), _size_order(records, k[0], k[1]), k[2] != "rlm"))
    for family, size, mode in keys:
        rows.append(_row(family, size, mode, [r for r in records if (r["family"], r["size"], r["mode"]) == (family, size, mode)]))
    families = list(dict.fromkeys(k[0] for k in keys))
    modes = sorted({k[2] for k in keys}, key=lambda m: m != "rlm")
    for family in families:
        if len({k[1] for k in keys if k[0] == family}) > 1:
            for mode in modes:
                group = [r for r in records if r["family"] == family and r["mode"] == mode]
                if group:
                    rows.append(_row(family, "all", mode, group))
    for mode in modes:
        rows.append(_row("all", "all", mode, [r for r in records if r["mode"] == mode]))
    return rows


def _size_order(records: list[dict[str, Any]], family: str, size: str) -> int:
    return next((r.get("context_tokens") or 0 for r in records if r["family"] == family and r["size"] == size), 0)


def _row(family: str, size: str, mode: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(group)
    costs = [r.get("cost_usd") for r in group]
    known = [c for c in costs if c is not None]
    return {
        "family": family, "size": size, "mode": mode, "tasks": n,
        "score": sum(float(r.get("score") or 0.0) for r in group) / n if n else 0.0,
        "correct": sum(1 for r in group if r.get("correct")),
        "tokens_per_task": sum(r.get("tokens") or 0 for r in group) / n if n else 0.0,
        "cost_usd": sum(known) if known else None,
        "cost_unknown": len(costs) - len(known),
        "wall_s_per_task": sum(r.get("wall_s") or 0.0 for r in group) / n if n else 0.0,
        "truncated": sum(1 for r in group if r.get("truncated")),
        "partial": sum(1 for r in group if r.get("partial")),
        "errors": sum(1 for r in group if r.get("error")),
        **_no_code(group),
    }


def _no_code(group: list[dict[str, Any]]) -> dict[str, Any]:
    """Root iterations with no code cell over all root iterations (RLM records with a trace)."""
    iterations = sum(r.get("root_iterations") or 0 for r in group)
    no_code = sum(r.get("no_code_iterations") or 0 for r in group)
    return {"root_iterations": iterations, "no_code_iterations": no_code,
            "no_code_rate": no_code / iterations if iterations else None}


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def failures(records: list[dict[str, Any]]) -> list[str]:
    """Markdown lines for every task scored below 1, worst first, each linked to its trace."""
    failed = sorted((r for r in records if (r.get("score") or 0.0) < 1.0),
                    key=lambda r: (float(r.get("score") or 0.0), r["id"], r["mode"]))
    lines = []
    for r in failed[:MAX_FAILURES]:
        name = f"`{r['id']}` ({r['mode']})"
        link = f"[{name}]({r['trace']})" if r.get("trace") else name
        what = (f"error: {_short(r['error'])}" if r.get("error")
                else f"answer `{_short(r.get('answer'))}`, expected `{_short(r.get('expected'))}`")
        replay = f"; `rlm-tui replay {r['trace']}`" if r.get("trace") else ""
        lines.append(f"- {link}: score {float(r.get('score') or 0.0):.2f}; {what}{replay}")
    if len(failed) > MAX_FAILURES:
        lines.append(f"- ... and {len(failed) - MAX_FAILURES} more in results.json")
    return lines


def markdown(rows: list[dict[str, Any]], config: dict[str, Any], records: list[dict[str, Any]] | None = None,
             *, chart: Path | None = None) -> str:
    sub = f" (sub-model {config['sub_model']})" if config.get("sub_model") and config["sub_model"] != config["model"] else ""
    records = records or []
    lines = [
        "# rlm-tui eval",
        "",
        f"Model `{config['model']}`{sub}; seed {config['seed']}; {config['n']} task(s) per family, variant "
        f"and size; direct mode window {config.get('direct_window_tokens', '?'):,} tokens.",
        "",
    ]
    if config.get("stopped"):
        lines += [f"**Stopped early:** {config['stopped']}.", ""]
    failed = failures(records)
    if failed:
        lines += [f"## Failures ({sum(1 for r in records if (r.get('score') or 0.0) < 1.0)} of {len(records)}), "
                  "worst first", "", "Each link is the task's trace; `rlm-tui replay` opens it.", "", *failed, ""]
    lines += [
        "## Results",
        "",
        "| family | size | mode | tasks | score | exact | tokens/task | cost (USD) | s/task | notes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        notes = []
        if row["truncated"]:
            notes.append(f"context truncated in {row['truncated']}/{row['tasks']}")
        if row["partial"]:
            notes.append(f"budget ran out in {row['partial']}/{row['tasks']}")
        if row["errors"]:
            notes.append(f"{row['errors']} error(s)")
        if row.get("no_code_iterations"):
            notes.append(f"no code cell in {row['no_code_iterations']}/{row['root_iterations']} iterations")
        if row["cost_unknown"]:
            notes.append(f"price unknown for {row['cost_unknown']}")
        cost = "n/a" if row["cost_usd"] is None else f"{row['cost_usd']:.4f}"
        bold = "**" if row["family"] == "all" or row["size"] == "all" else ""
        lines.append(
            f"| {bold}{row['family']}{bold} | {row['size']} | {row['mode']} | {row['tasks']} | "
            f"{bold}{row['score']:.2f}{bold} | {row['correct']}/{row['tasks']} | {row['tokens_per_task']:,.0f} | "
            f"{cost} | {row['wall_s_per_task']:.1f} | {'; '.join(notes)} |")
    lines += ["", "Score is the mean per-task score (0 to 1); exact counts tasks scored 1.", "",
              "Scoring:"]
    lines += [f"- `{name}`: {text}" for name, text in SCORING.items()
              if name.split("/")[0] in {r["family"] for r in rows}]
    lines += ["", "Modes: `rlm` explores the context from the sandbox (the context is never pasted); `direct` "
              "pastes the whole context into one prompt, truncated to the model's window (and says so).", ""]
    if chart is not None:
        lines += [f"![score by context size, RLM vs direct]({chart.name})", ""]
    return "\n".join(lines)
