"""Constrained root replies: the grammar reaches llama.cpp for root replies of embedded models only."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

from rlm_tui.local import provider, reply_grammar
from rlm_tui.local.llama import Generation, GenerationStats
from rlm_tui.local.reply_grammar import ROOT_REPLY, root_replies
from tests.local.helpers import require_small_model

MODEL = "embedded/qwen2.5-coder-0.5b"


class ScriptedLocal:
    """Stands in for `LocalModel`: root prompts (a system message first) get the next scripted reply,
    other prompts an echo; records the grammar of every call."""

    def __init__(self, root_replies: list[str]) -> None:
        self.root_replies = list(root_replies)
        self.executor = concurrent.futures.ThreadPoolExecutor(1)
        self.calls: list[dict[str, Any]] = []
        self.name = "scripted"
        self.load_s: float | None = 0.0  # as `LocalModel` after its load: loaded, nothing to wait for

    def load(self) -> None:
        return None

    def generate(self, messages, *, on_text=None, cancel=None, grammar=None, **options) -> Generation:
        root = messages[0]["role"] == "system"
        self.calls.append({"root": root, "grammar": grammar, "system": messages[0]["content"],
                           "last": messages[-1]["content"]})
        text = self.root_replies.pop(0) if root and self.root_replies else "sub-answer"
        if on_text is not None:
            on_text(text)
        return Generation(text, GenerationStats(10, 5, 0, 0, 0.0, 0.0, "stop"))


@pytest.fixture
def scripted(monkeypatch):
    def make(replies: list[str]) -> ScriptedLocal:
        provider.register()
        local = ScriptedLocal(replies)
        monkeypatch.setattr(provider, "resolve", lambda model: local)
        return local

    return make


def test_root_replies_sets_the_grammar_for_embedded_models_only(monkeypatch):
    assert reply_grammar.active() is None
    with root_replies(MODEL):
        assert reply_grammar.active() == ROOT_REPLY
    assert reply_grammar.active() is None
    with root_replies("openai/gpt-4o-mini"):
        assert reply_grammar.active() is None
    monkeypatch.setenv("RLM_TUI_LOCAL_GRAMMAR", "0")
    with root_replies(MODEL):
        assert reply_grammar.active() is None


def test_the_rlm_loop_constrains_root_replies_and_not_sub_calls_or_the_extract(scripted, tmp_path: Path):
    from rlm_tui.engine.budget import Budget
    from rlm_tui.engine.rlm import RLM

    local = scripted([
        "Ask a sub-LM.\n```python\nr = llm_query('hello')\nprint(r)\n```",
        "```python\nSUBMIT(answer=r)\n```",
    ])
    prediction = RLM("question -> answer", lm=MODEL, project=tmp_path)(question="q?")
    assert prediction.answer == "sub-answer" and not prediction.partial
    assert [(c["root"], c["grammar"]) for c in local.calls] == [
        (True, ROOT_REPLY), (False, None), (True, ROOT_REPLY)]

    local = scripted(["```python\nprint(1)\n```"])  # then the budget runs out: the extract step
    RLM("question -> answer", lm=MODEL, project=tmp_path, budget=Budget(max_iterations=1))(question="q?")
    assert [c["grammar"] for c in local.calls] == [ROOT_REPLY, None]
    assert "JSON" in local.calls[-1]["last"]


def test_a_hosted_models_root_replies_are_not_constrained(scripted_server, tmp_path: Path):
    from rlm_tui.engine.rlm import RLM

    server = scripted_server.script("root", "```python\nSUBMIT(answer='ok')\n```")
    seen = []
    original = reply_grammar.active
    try:
        reply_grammar.active = lambda: seen.append(original()) or original()
        prediction = RLM("question -> answer", lm="openai/root", project=tmp_path,
                         api_base=server.url)(question="q?")
    finally:
        reply_grammar.active = original
    assert prediction.answer == "ok" and seen == []  # the embedded provider was never asked


# --- the real model (marked local_model) -------------------------------------------------------------
@pytest.mark.local_model
def test_the_grammar_gives_one_block_and_the_fast_sampler_matches_llama_cpps_chain():
    spec = require_small_model()
    from llama_cpp import LlamaGrammar

    from rlm_tui.engine.reply import parse_reply, scan
    from rlm_tui.local.grammar_sampler import GreedyGrammarSampler
    from rlm_tui.local.llama import LocalModel

    model = LocalModel(spec.path(), name=spec.name, prefix_cache=False)
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "In one sentence: what is 2 + 3?"}]
    try:
        free = model.generate(messages, max_tokens=32)
        constrained = model.generate(messages, max_tokens=80, grammar=ROOT_REPLY)
        tokens, _ = model.prompt_tokens(messages)
        llm = model.load()
        llm.reset()
        chain = llm.create_completion(tokens, max_tokens=80, temperature=0.0,
                                      grammar=LlamaGrammar.from_string(ROOT_REPLY, verbose=False))
    finally:
        model.close()
    assert parse_reply(free.text).code is None  # left free, this prompt gets prose
    found = scan(constrained.text)
    assert len(found.blocks) == 1 and constrained.text.rstrip().endswith("```")
    assert constrained.text.count("```") == 2 and constrained.stats.finish_reason == "stop"
    assert constrained.text == chain["choices"][0]["text"]  # the same tokens as the full check
    assert GreedyGrammarSampler  # imported from the module the engine uses
