"""Context that fits: the window opened from free memory, and history compacted seldom and by a lot."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_tui.local.catalog import get_model
from rlm_tui.local.llama import ContextOverflowError, context_size
from tests.local.test_reply_grammar import MODEL, ScriptedLocal, scripted  # noqa: F401 (a fixture)

GIB = 1 << 30


def test_the_window_is_the_largest_that_fits_a_quarter_of_free_memory(monkeypatch):
    monkeypatch.delenv("RLM_TUI_LOCAL_CTX", raising=False)
    big = get_model("qwen2.5-coder-1.5b")
    assert big.kv_bytes_per_token == 28_672  # 28 layers, 2 KV heads of 128, K and V, f16
    assert context_size(big.trained_context, big.kv_bytes_per_token, memory=16 * GIB) == 32_768
    assert context_size(big.trained_context, big.kv_bytes_per_token, memory=6 * GIB) == 16_384
    assert context_size(big.trained_context, big.kv_bytes_per_token, memory=1 * GIB) == 8_192
    assert context_size(16_384, big.kv_bytes_per_token, memory=64 * GIB) == 16_384  # not past training
    assert context_size(32_768, 0, memory=64 * GIB) == 8_192  # a GGUF of unknown shape
    monkeypatch.setenv("RLM_TUI_LOCAL_CTX", "4096")
    assert context_size(big.trained_context, big.kv_bytes_per_token, memory=64 * GIB) == 4096


def _run_with_window(tmp_path: Path, monkeypatch, local: ScriptedLocal, window_tokens: int, **budget):
    import rlm_tui.engine.run as run_module
    from rlm_tui.engine.budget import Budget
    from rlm_tui.engine.rlm import RLM

    monkeypatch.setattr(run_module, "context_window", lambda model: window_tokens)
    return RLM("question -> answer", lm=MODEL, project=tmp_path, budget=Budget(**budget))(question="q?")


class PromptLog(ScriptedLocal):
    """Also keeps every root prompt, to see which calls extend the previous one."""

    def __init__(self, replies: list[str], overflow_over: int | None = None) -> None:
        super().__init__(replies)
        self.prompts: list[list[dict]] = []
        self.overflow_over = overflow_over

    def generate(self, messages, **kwargs):
        if messages[0]["role"] == "system":
            size = sum(len(m["content"]) for m in messages)
            if self.overflow_over is not None and size > self.overflow_over:
                self.prompts.append([])
                raise ContextOverflowError(f"the prompt is {size} chars")
            self.prompts.append([dict(m) for m in messages])
        return super().generate(messages, **kwargs)


def _rewrites(prompts: list[list[dict]]) -> int:
    """Calls whose prompt does not start with the previous prompt (an earlier message changed)."""
    return sum(1 for before, after in zip(prompts, prompts[1:], strict=False)
               if after[:len(before)] != before)


@pytest.fixture
def logged(monkeypatch):
    from rlm_tui.local import provider

    def make(replies: list[str], **kwargs) -> PromptLog:
        provider.register()
        local = PromptLog(replies, **kwargs)
        monkeypatch.setattr(provider, "resolve", lambda model: local)
        return local

    return make


def test_history_is_compacted_seldom_so_the_prefix_stays_cached(logged, tmp_path, monkeypatch):
    cell = "```python\nprint('x' * 1500)\n```"
    local = logged([cell] * 11 + ["```python\nSUBMIT(answer='done')\n```"])
    window = 4000  # tokens: 16,000 chars; compaction past 12,800, down to 8,000
    prediction = _run_with_window(tmp_path, monkeypatch, local, window, max_iterations=20)
    assert prediction.answer == "done"
    sizes = [sum(len(m["content"]) for m in p) for p in local.prompts]
    assert max(sizes) <= 0.8 * window * 4 + 1600  # never far past the mark
    assert _rewrites(local.prompts) <= 2  # eliding only a little at every call would rewrite ~6
    assert all(len(step["output"]) > 1500 for step in prediction.trajectory[:-1])  # the trajectory is whole


def test_an_overflow_despite_the_estimate_compacts_harder_and_retries(logged, tmp_path, monkeypatch):
    cell = "```python\nprint('y' * 1500)\n```"
    local = logged([cell] * 6 + ["```python\nSUBMIT(answer='ok')\n```"], overflow_over=9000)
    prediction = _run_with_window(tmp_path, monkeypatch, local, 4000, max_iterations=12)
    assert prediction.answer == "ok" and not prediction.partial
    assert [] in local.prompts  # it did overflow once, and went on
