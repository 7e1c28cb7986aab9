"""The TUI<->engine seam (`rlm_tui.chat_api`): the real session and backend and the test fakes
satisfy the same Protocols, member by member, so the fakes cannot drift from the engine."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlm_tui.chat_api import ChatSessionAPI, SessionBackend
from rlm_tui.config import Settings
from tests.tui.fakes import FakeBackend


def _members(protocol: type) -> tuple[set[str], dict[str, Any]]:
    """A Protocol's data attributes and its methods."""
    data = set(protocol.__annotations__)
    methods = {name: value for name, value in vars(protocol).items()
               if callable(value) and not name.startswith("_")}
    return data, methods


def check_conforms(obj: object, protocol: type) -> None:
    """`obj` has every attribute of `protocol`, and every method with a compatible signature:
    the same parameters, of the same kind and default, in order (extra ones only with a
    default), and async where the Protocol's is."""
    assert isinstance(obj, protocol)
    data, methods = _members(protocol)
    for name in data:
        assert hasattr(obj, name), f"{type(obj).__name__} lacks {name}"
    for name, declared in methods.items():
        actual = getattr(type(obj), name, None)
        assert actual is not None, f"{type(obj).__name__} lacks {name}()"
        assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(declared), name
        want = list(inspect.signature(declared).parameters.values())[1:]
        have = list(inspect.signature(actual).parameters.values())
        have = have[1:] if have and have[0].name in ("self", "cls") else have
        for i, param in enumerate(want):
            assert i < len(have), f"{type(obj).__name__}.{name} lacks parameter {param.name}"
            got = have[i]
            assert (got.name, got.kind, got.default) == (param.name, param.kind, param.default), \
                f"{type(obj).__name__}.{name}: {got} where the seam has {param}"
        for extra in have[len(want):]:
            assert extra.default is not inspect.Parameter.empty or extra.kind in (
                inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD), \
                f"{type(obj).__name__}.{name}: extra parameter {extra.name} needs a default"


@pytest.fixture
def settings() -> Settings:
    return Settings(model="openai/root", api_base="http://127.0.0.1:9/v1")


def test_the_real_session_and_backend_satisfy_the_seam(settings, tmp_path: Path):
    from rlm_tui.engine.session import ChatSession
    from rlm_tui.tui.backend import EngineBackend

    check_conforms(ChatSession(settings, tmp_path, lambda e: None), ChatSessionAPI)
    check_conforms(EngineBackend(), SessionBackend)


def test_the_fakes_satisfy_the_same_seam(settings, tmp_path: Path):
    backend = FakeBackend(tmp_path)
    check_conforms(backend, SessionBackend)
    check_conforms(backend.create(settings, tmp_path, lambda e: None), ChatSessionAPI)


def test_the_seam_check_catches_a_drifted_fake(settings, tmp_path: Path):
    session = FakeBackend(tmp_path).create(settings, tmp_path, lambda e: None)

    class Drifted(type(session)):
        async def ask(self, question: str, context: list[str] | None = None):  # renamed parameter
            raise NotImplementedError

    drifted = Drifted.__new__(Drifted)
    drifted.__dict__.update(vars(session))
    with pytest.raises(AssertionError, match="ask"):
        check_conforms(drifted, ChatSessionAPI)


def test_the_seam_loads_no_engine():
    code = ("import sys, rlm_tui.chat_api\n"
            "heavy = [m for m in ('wasmtime', 'dspy', 'litellm', 'pydantic', 'rlm_tui.sandbox') if m in sys.modules]\n"
            "assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
