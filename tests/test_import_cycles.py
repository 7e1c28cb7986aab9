"""No two modules of rlm_tui import each other, directly or round a longer loop, counting the
imports under `if TYPE_CHECKING:` too (import-linter's contracts in pyproject.toml check the
run-time layers; this checks that annotations do not hide a circle either)."""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")  # from .ci/lint-requirements.lock, as .ci/test installs it


def test_no_module_import_cycles() -> None:
    graph = grimp.build_graph("rlm_tui", cache_dir=None)
    back_edges = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )
    assert back_edges == []  # each pair: an import that closes a loop back to its importer
