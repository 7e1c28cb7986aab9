"""pandas helpers and PNG charts under /workspace (runs inside the sandbox)."""

import os


def load_table(path, **kwargs):
    """A DataFrame from csv/tsv/json/jsonl/xlsx, chosen by extension."""
    import pandas as pd

    ext = os.path.splitext(path)[1].lower()
    if ext == ".tsv":
        return pd.read_csv(path, sep="\t", **kwargs)
    if ext == ".jsonl":
        return pd.read_json(path, lines=True, **kwargs)
    if ext == ".json":
        return pd.read_json(path, **kwargs)
    if ext in (".xlsx", ".xls"):
        return pd.read_excel(path, **kwargs)
    return pd.read_csv(path, **kwargs)


def profile(df, max_columns=30):
    """A compact text profile: shape, dtypes, nulls, numeric summary."""
    lines = [f"shape: {df.shape[0]:,} rows x {df.shape[1]} columns"]
    for name in list(df.columns)[:max_columns]:
        column = df[name]
        lines.append(f"- {name}: {column.dtype}, {int(column.isna().sum())} null, {column.nunique()} distinct")
    numeric = df.select_dtypes("number")
    if not numeric.empty:
        lines.append(numeric.describe().T.round(3).to_string())
    return "\n".join(lines)


def save_chart(figure_or_axes, name, folder="/workspace/charts"):
    """Save a matplotlib Figure or Axes as PNG and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    figure = getattr(figure_or_axes, "figure", figure_or_axes)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path
