"""`--compare A B`: two result folders side by side (two models, or before and after a change).

Tasks are matched by (task id, mode). Per family and mode: the tasks both ran, the mean score of
each, how many tasks each won (a higher score), the ties and the cost of each; then every task
whose score differs, biggest difference first, each linked to both traces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_TASKS = 200


class CompareError(ValueError):
    """A folder is not an eval result folder."""


def load(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise CompareError(f"{folder}: no results.json here (not an rlm-tui eval result folder)") from None
    except ValueError as e:
        raise CompareError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise CompareError(f"{path}: not an rlm-tui eval result (no records)")
    return data


def _label(folder: Path, data: dict[str, Any]) -> str:
    return f"{Path(folder).name} ({data.get('config', {}).get('model', '?')})"


def _cost(records: list[dict[str, Any]]) -> str:
    known = [r["cost_usd"] + (r.get("judge_cost_usd") or 0.0) for r in records if r.get("cost_usd") is not None]
    return f"{sum(known):.4f}" if known else "n/a"


def compare(a: Path, b: Path) -> str:
    left, right = load(a), load(b)
    ra = {(r["id"], r["mode"]): r for r in left["records"]}
    rb = {(r["id"], r["mode"]): r for r in right["records"]}
    both = [key for key in ra if key in rb]
    name_a, name_b = _label(a, left), _label(b, right)
    lines = [f"# rlm-tui eval: A = {name_a} vs B = {name_b}", "",
             f"{len(both)} task(s) in both; {len(ra) - len(both)} only in A, {len(rb) - len(both)} only in B.", "",
             "| family | mode | tasks | score A | score B | A wins | B wins | ties | cost A (USD) | cost B (USD) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key in both:
        groups.setdefault((ra[key]["family"], key[1]), []).append(key)
    groups_all = {**groups, ("all", "all"): both} if len(groups) > 1 else groups
    for (family, mode), keys in groups_all.items():
        sa = [float(ra[k].get("score") or 0.0) for k in keys]
        sb = [float(rb[k].get("score") or 0.0) for k in keys]
        wins_a = sum(x > y for x, y in zip(sa, sb, strict=True))
        wins_b = sum(y > x for x, y in zip(sa, sb, strict=True))
        n = len(keys)
        bold = "**" if family == "all" else ""
        lines.append(f"| {bold}{family}{bold} | {mode} | {n} | {sum(sa) / n:.2f} | {sum(sb) / n:.2f} | {wins_a} | "
                     f"{wins_b} | {n - wins_a - wins_b} | {_cost([ra[k] for k in keys])} | {_cost([rb[k] for k in keys])} |")
    changed = sorted((k for k in both if (ra[k].get("score") or 0.0) != (rb[k].get("score") or 0.0)),
                     key=lambda k: (-abs(float(ra[k].get("score") or 0.0) - float(rb[k].get("score") or 0.0)), k))
    if changed:
        lines += ["", f"## Tasks whose score differs ({len(changed)})", ""]
        for key in changed[:MAX_TASKS]:
            x, y = float(ra[key].get("score") or 0.0), float(rb[key].get("score") or 0.0)
            winner = "A wins" if x > y else "B wins"
            traces = [f"[{side}]({Path(folder) / rec['trace']})" for side, folder, rec in
                      (("A", a, ra[key]), ("B", b, rb[key])) if rec.get("trace")]
            lines.append(f"- `{key[0]}` ({key[1]}): A {x:.2f}, B {y:.2f}: {winner}"
                         + (f" ({', '.join(traces)})" if traces else ""))
        if len(changed) > MAX_TASKS:
            lines.append(f"- ... and {len(changed) - MAX_TASKS} more")
    return "\n".join(lines) + "\n"
