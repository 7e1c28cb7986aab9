"""The ``embedded/`` litellm provider, with a stand-in model (no llama_cpp, no weights needed)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from rlm_tui.lm.client import LM, ContextWindowError, LMError, price_usd
from rlm_tui.local import llama, provider
from rlm_tui.local.catalog import get_model
from rlm_tui.local.llama import (
    ContextOverflowError,
    Generation,
    GenerationStats,
    LlamaMissingError,
    LocalModel,
)

MODEL = "embedded/qwen2.5-coder-0.5b"


class FakeLocal:
    """Stands in for `LocalModel`: replies with fixed pieces, records what it was asked."""

    def __init__(self, pieces: list[str] | None = None, *, delay: float = 0.0) -> None:
        self.pieces = pieces or ["Hel", "lo", "!"]
        self.delay = delay
        self.executor = concurrent.futures.ThreadPoolExecutor(1)
        self.calls: list[dict[str, Any]] = []
        self.cancelled = threading.Event()

    def generate(self, messages, *, on_text=None, cancel=None, **options) -> Generation:
        self.calls.append({"messages": messages, **options})
        for piece in self.pieces:
            if cancel is not None and cancel.is_set():
                self.cancelled.set()
                break
            time.sleep(self.delay)
            if on_text is not None:
                on_text(piece)
        text = "".join(self.pieces)
        return Generation(
            text,
            GenerationStats(
                prompt_tokens=42,
                completion_tokens=len(self.pieces),
                reused_tokens=0,
                restored_tokens=0,
                time_to_first_token_s=0.0,
                total_s=0.0,
                finish_reason="stop",
            ),
        )


@pytest.fixture
def fake(monkeypatch) -> FakeLocal:
    provider.register()
    local = FakeLocal()
    monkeypatch.setattr(provider, "resolve", lambda model: local)
    return local


def lm(**kwargs) -> LM:
    provider.register()
    return LM(MODEL, retry_backoff_s=0.01, **kwargs)


# --- registration ----------------------------------------------------------------------------------------
def test_register_is_idempotent_and_prices_at_zero():
    import litellm

    from rlm_tui.lm.facts import context_window

    provider.register()
    provider.register()
    assert [p["provider"] for p in litellm.custom_provider_map].count("embedded") == 1
    assert "embedded" in litellm.provider_list
    assert litellm.get_llm_provider(MODEL)[1] == "embedded"
    assert price_usd(MODEL, 1000, 500) == 0.0
    assert price_usd("embedded/qwen2.5-coder-1.5b", 1, 1) == 0.0
    assert context_window(MODEL) == provider.model_context(get_model(MODEL))


def test_register_does_not_load_llama_cpp():
    code = (
        "import sys; from rlm_tui.local.provider import register; register(); register(); "
        "print('llama_cpp' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_no_key_is_needed():
    lm().check_credentials()  # raises MissingKeyError if litellm thought a key was missing


# --- calls through the LM layer, DSPy and litellm ------------------------------------------------------------
async def test_streamed_completion_has_tokens_usage_and_zero_cost(fake: FakeLocal):
    tokens: list[str] = []
    completion = await lm().acomplete([{"role": "user", "content": "hi"}], on_token=tokens.append)
    assert tokens == ["Hel", "lo", "!"]
    assert completion.text == "Hello!"
    assert completion.model == MODEL
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (42, 3)
    assert completion.usage.cost_usd == 0.0


def test_blocking_completion_and_generation_options(fake: FakeLocal):
    completion = lm(max_tokens=77, temperature=0.3, stop=["\n\n"]).complete(
        [{"role": "user", "content": "hi"}]
    )
    assert completion.text == "Hello!" and completion.usage.cost_usd == 0.0
    call = fake.calls[-1]
    assert call["messages"][-1]["content"] == "hi"
    assert call["max_tokens"] == 77 and call["temperature"] == 0.3 and call["stop"] == ["\n\n"]


def test_dspy_lm_and_litellm_directly(fake: FakeLocal):
    import dspy
    import litellm

    assert dspy.LM(MODEL, cache=False)("hi") == ["Hello!"]
    response = litellm.completion(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "Hello!"
    assert response.usage.prompt_tokens == 42 and response.usage.completion_tokens == 3
    chunks = list(
        litellm.completion(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert chunks[-1].usage.completion_tokens == 3


async def test_async_streaming_directly(fake: FakeLocal):
    import litellm

    stream = await litellm.acompletion(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello!"


async def test_a_cancelled_call_stops_the_generation(fake: FakeLocal):
    fake.pieces, fake.delay = ["x"] * 200, 0.01
    task = asyncio.create_task(
        lm().acomplete([{"role": "user", "content": "hi"}], on_token=lambda t: None)
    )
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake.cancelled.wait, 2.0)


# --- errors say what to do, and are not retried -----------------------------------------------------------
def test_missing_runtime_says_to_install_the_extra(monkeypatch):
    def missing():
        raise LlamaMissingError(
            "the offline model runtime (llama-cpp-python) is not installed: install the "
            "local extra: pip install 'rlm-tui[local]' ..., then rlm-tui models pull NAME"
        )

    monkeypatch.setattr(provider, "import_llama_cpp", missing)
    with pytest.raises(LMError) as caught:
        lm().complete([{"role": "user", "content": "hi"}])
    assert "pip install 'rlm-tui[local]'" in str(caught.value) and "models pull" in str(
        caught.value
    )
    assert caught.value.attempts == 1 and not caught.value.retryable


def test_a_model_not_pulled_says_to_pull_it(isolated_home, monkeypatch):
    monkeypatch.setattr(provider, "import_llama_cpp", lambda: None)
    with pytest.raises(LMError, match="rlm-tui models pull qwen2.5-coder-0.5b") as caught:
        lm().complete([{"role": "user", "content": "hi"}])
    assert caught.value.attempts == 1
    assert (
        provider.check_ready(MODEL)
        == "offline model qwen2.5-coder-0.5b is not pulled yet: run rlm-tui models pull qwen2.5-coder-0.5b"
    )


def test_an_unknown_model_lists_the_known_ones(monkeypatch):
    monkeypatch.setattr(provider, "import_llama_cpp", lambda: None)
    provider.register()
    with pytest.raises(LMError, match="known: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b"):
        LM("embedded/mystery", num_retries=0).complete([{"role": "user", "content": "hi"}])


def test_a_prompt_too_long_is_a_context_window_error(fake: FakeLocal, monkeypatch):
    def overflow(*args, **kwargs):
        raise ContextOverflowError(
            "the prompt is 9,000 tokens; offline model x has a 8,192-token context window"
        )

    monkeypatch.setattr(fake, "generate", overflow)
    with pytest.raises(ContextWindowError, match="context window"):
        lm().complete([{"role": "user", "content": "hi"}])


# --- the shared model: one call at a time, closed at exit ----------------------------------------------------
class SlowModel(LocalModel):
    """A `LocalModel` whose generation is a sleep that records how many ran at once."""

    def __init__(self) -> None:
        super().__init__("/nonexistent.gguf", name="slow")
        self.running = 0
        self.most = 0
        self.guard = threading.Lock()

    def _generate(self, messages, **kwargs) -> Generation:
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.guard:
            self.running -= 1
        return FakeLocal(["ok"]).generate(messages)


async def test_calls_to_one_model_are_serialised(monkeypatch):
    model = SlowModel()
    monkeypatch.setattr(provider, "resolve", lambda name: model)
    one = lm()
    replies = await asyncio.gather(
        *(one.acomplete([{"role": "user", "content": str(i)}]) for i in range(4)),
        asyncio.to_thread(one.complete, [{"role": "user", "content": "sync"}]),
    )
    assert [r.text for r in replies] == ["ok"] * 5
    assert model.most == 1


def test_close_all_frees_every_shared_model(tmp_path):
    class FakeLlama:
        closed = False

        def close(self) -> None:
            self.closed = True

    model = llama.local_model(tmp_path / "m.gguf")
    assert llama.local_model(tmp_path / "m.gguf") is model  # one per file
    fake = model._llm = FakeLlama()
    llama.close_all()
    assert fake.closed and model._llm is None
    assert llama.local_model(tmp_path / "m.gguf") is not model  # a fresh one after close
    llama.close_all()
