"""Published long-context benchmarks, read from local files in their published formats.

One module per benchmark family (each docstring names where the data is published, the fields
read and the benchmark's own scoring rule): `oolong` (OOLONG synth and real), `oolong_pairs`,
`ruler` (S-NIAH), `longbench` (LongBench v2 and its CodeQA domain), `browsecomp`
(BrowseComp-Plus, its corpus mounted into the sandbox) and `spreadsheet` (SpreadsheetBench).
`records` reads the files; `base` is what the families share. Nothing here downloads anything.
"""

from __future__ import annotations

from pathlib import Path

from rlm_tui.eval.datasets.base import DatasetFamily
from rlm_tui.eval.datasets.browsecomp import BrowseCompFamily
from rlm_tui.eval.datasets.longbench import CodeQAFamily, LongBenchFamily
from rlm_tui.eval.datasets.oolong import OolongFamily, OolongRealFamily
from rlm_tui.eval.datasets.oolong_pairs import OolongPairsFamily
from rlm_tui.eval.datasets.records import DatasetError
from rlm_tui.eval.datasets.ruler import RulerFamily
from rlm_tui.eval.datasets.spreadsheet import SpreadsheetFamily

DATASETS: dict[str, type[DatasetFamily]] = {
    family.name: family
    for family in (OolongFamily, OolongRealFamily, OolongPairsFamily, RulerFamily, LongBenchFamily,
                   CodeQAFamily, BrowseCompFamily, SpreadsheetFamily)
}

__all__ = ["DATASETS", "DatasetError", "DatasetFamily", "open_dataset"]


def open_dataset(name: str, path: str | Path, *, limit: int | None = None, subset: str | None = None,
                 docs: int | None = None) -> DatasetFamily:
    """The family reading benchmark `name` from `path` (its records are scanned on first use)."""
    family = DATASETS.get(name.lower())
    if family is None:
        raise DatasetError(f"unknown --dataset {name!r}; choose from {', '.join(DATASETS)}")
    if docs is not None and family is not BrowseCompFamily:
        raise DatasetError(f"--docs applies to browsecomp-plus only, not {name}")
    if family is BrowseCompFamily:
        if docs:
            return BrowseCompFamily(path, limit=limit, subset=subset, docs=docs)
        return BrowseCompFamily(path, limit=limit, subset=subset)
    return family(path, limit=limit, subset=subset)
