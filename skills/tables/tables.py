"""Clean rows and render them as Markdown or CSV (runs inside the sandbox)."""

import csv
import re


def clean_rows(rows):
    """Trimmed, whitespace-collapsed values; None becomes ''."""
    cleaned = []
    for row in rows:
        cleaned.append({str(k).strip(): _clean(v) for k, v in dict(row).items()})
    return cleaned


def _clean(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return re.sub(r"\s+", " ", value).strip()
    return value


def _columns(rows, columns):
    if columns:
        return list(columns)
    seen = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def markdown_table(rows, columns=None, sort_by=None, descending=False, limit=None):
    """A GitHub-style Markdown table; numbers right-aligned, pipes escaped."""
    rows = list(rows)
    if sort_by is not None:
        rows.sort(key=lambda r: (r.get(sort_by) is None, r.get(sort_by)), reverse=descending)
    if limit is not None:
        rows = rows[:limit]
    cols = _columns(rows, columns)
    if not cols:
        return "(no rows)"

    def cell(value):
        return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")

    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows if r.get(c) is not None) and rows for c in cols]
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(rows, path, columns=None):
    """Write rows to a CSV file (under /workspace) and return its path."""
    rows = list(rows)
    cols = _columns(rows, columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
