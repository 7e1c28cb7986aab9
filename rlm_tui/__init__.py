"""rlm-tui: Recursive Language Models over a local project, in the terminal."""

from typing import Any

__all__ = ["RLM", "Budget", "File"]


def __getattr__(name: str) -> Any:  # keep `import rlm_tui` cheap: the engine pulls in dspy
    if name == "RLM":
        from rlm_tui.engine.rlm import RLM

        return RLM
    if name == "Budget":
        from rlm_tui.config import Budget

        return Budget
    if name == "File":
        from rlm_tui.engine.file_type import File

        return File
    raise AttributeError(name)
