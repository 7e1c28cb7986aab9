"""What a saved chat session's `meta.json` holds: a pydantic model, so a damaged or foreign
file is refused whole (that session is skipped) instead of failing later, mid-resume."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SavedTurn(BaseModel):
    """One question and its answer; `messages` are the turn's model messages (role, content)."""

    model_config = ConfigDict(extra="ignore")

    question: str
    answer: str
    partial: bool
    messages: list[dict[str, str]] = Field(default_factory=list)


class SessionMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    project: str
    updated: float  # seconds since the epoch
    title: str
    turns: list[SavedTurn] = Field(default_factory=list)
    model: str | None = None  # the models it last ran with, restored on resume when none is named
    sub_model: str | None = None
    api_base: str | None = None

    @classmethod
    def read(cls, path: Path) -> SessionMeta:
        """The meta of `path`; raises OSError, or ValueError (pydantic's ValidationError) when it is not one."""
        return cls.model_validate_json(path.read_bytes())
