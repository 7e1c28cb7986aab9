"""The LM layer (rlm_tui.lm.client) against the scripted server: real litellm HTTP through dspy.LM."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import traceback
import warnings

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402

from rlm_tui.lm.client import (  # noqa: E402
    LM,
    Completion,
    ContextWindowError,
    LMError,
    MissingKeyError,
    Usage,
    estimate_tokens,
    price_usd,
    usage_from_response,
)
from tests.support.scripted_server import Reply  # noqa: E402

SECRET = "sk-test-SECRET-0123456789"
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def make_lm(server, model: str = "openai/root", **kwargs) -> LM:
    kwargs.setdefault("retry_backoff_s", 0.01)
    kwargs.setdefault("timeout_s", 5.0)
    return LM(model, api_base=server.url, **kwargs)


def user(text: str = "hello") -> list[dict]:
    return [{"role": "user", "content": text}]


# --- plain calls ---------------------------------------------------------------------------------
async def test_plain_completion_and_usage(scripted_server):
    scripted_server.script("root", Reply("x" * 20, latency_s=0.05))
    lm = make_lm(scripted_server)
    messages = [{"role": "system", "content": "S" * 40}, {"role": "user", "content": "U" * 80}]
    completion = await lm.acomplete(messages)
    assert isinstance(completion, Completion)
    assert completion.text == "x" * 20 and completion.model == "openai/root"
    usage = completion.usage
    assert usage.prompt_tokens == estimate_tokens("S" * 40 + "\n" + "U" * 80)  # what the server counted
    assert usage.completion_tokens == 5
    assert usage.lm_calls == 1 and 0.05 <= usage.latency_s < 5
    assert usage.cost_usd is None  # "root" has no price
    [request] = scripted_server.chat_requests()
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.body["temperature"] == 0.0
    assert 4096 in (request.body.get("max_tokens"), request.body.get("max_completion_tokens"))
    assert request.stream is False


async def test_multi_turn_messages_and_generation_options(scripted_server):
    lm = make_lm(scripted_server, top_p=0.5, seed=7, max_tokens=100)
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a1"}, {"role": "user", "content": [{"type": "text", "text": "u2"}]}]
    completion = await lm.acomplete(messages)
    assert completion.text == "echo: u2"
    body = scripted_server.chat_requests()[0].body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["top_p"] == 0.5 and body["seed"] == 7


def test_sync_complete(scripted_server):
    scripted_server.script("root", "sync answer")
    lm = make_lm(scripted_server)
    assert lm.complete(user()).text == "sync answer"
    tokens: list[str] = []
    assert lm.complete(user("stream me"), on_token=tokens.append).text == "echo: stream me"
    assert "".join(tokens) == "echo: stream me"


async def test_sync_complete_inside_a_running_loop(scripted_server):
    lm = make_lm(scripted_server)
    assert lm.complete(user("from async code")).text == "echo: from async code"  # blocks, but works


def test_quiet_import_and_lazy_litellm():
    code = ("import os, sys, rlm_tui.lm.client; print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP']); "
            "rlm_tui.lm.client.LM('openai/x', api_base='http://127.0.0.1:9/v1'); print('litellm' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    # the bundled price map is used; building an LM does not import litellm (slow) yet; no output
    assert done.stdout == "True\nFalse\n" and done.stderr == ""


async def test_no_dspy_deprecation_warning_on_calls(scripted_server):
    lm = make_lm(scripted_server)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await lm.acomplete(user())
        await lm.acomplete(user(), on_token=lambda _t: None)
    assert not [w for w in caught if "dspy" in str(w.filename) or "dspy" in str(w.message)]


# --- streaming -----------------------------------------------------------------------------------
async def test_streaming_tokens_arrive_in_order_and_in_real_time(scripted_server):
    text = "one two three four five"
    lm = make_lm(scripted_server)
    await lm.acomplete(user("warm up"), on_token=lambda _t: None)  # first use pays lazy imports
    scripted_server.script("root", Reply(text, chunk_delay_s=0.1))
    arrivals: list[tuple[float, str]] = []
    start = time.monotonic()
    completion = await lm.acomplete(user(), on_token=lambda t: arrivals.append((time.monotonic() - start, t)))
    done = time.monotonic() - start
    assert "".join(t for _, t in arrivals) == text == completion.text
    assert [t.strip() for _, t in arrivals] == text.split()
    times = [at for at, _ in arrivals]
    assert times == sorted(times)
    assert times[-1] - times[0] >= 0.3  # four 0.1 s gaps: tokens were not buffered to the end
    assert done - times[0] >= 0.3  # the first token came well before the call finished
    assert completion.usage.completion_tokens == estimate_tokens(text)
    assert completion.usage.prompt_tokens == estimate_tokens("hello")
    request = scripted_server.chat_requests()[-1]
    assert request.stream and request.body["stream_options"] == {"include_usage": True}


async def test_streaming_without_usage_still_counts_tokens(scripted_server):
    scripted_server.script("root", Reply("four words right here", omit_usage=True))
    completion = await make_lm(scripted_server).acomplete(user("q" * 40), on_token=lambda _t: None)
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


async def test_non_streaming_without_usage_is_estimated_and_unpriced(scripted_server):
    scripted_server.script("gpt-4o-mini", Reply("some words", omit_usage=True))
    completion = await make_lm(scripted_server, "openai/gpt-4o-mini").acomplete(user("q" * 40))
    assert completion.usage.prompt_tokens == 10 and completion.usage.completion_tokens == estimate_tokens("some words")
    assert completion.usage.cost_usd is None  # estimated tokens are never priced


async def test_on_token_error_propagates_unchanged_and_is_not_retried(scripted_server):
    class Boom(Exception):
        pass

    def on_token(_t: str) -> None:
        raise Boom("stop")

    with pytest.raises(Boom):
        await make_lm(scripted_server).acomplete(user(), on_token=on_token)
    assert len(scripted_server.chat_requests()) == 1


# --- retries and failures --------------------------------------------------------------------------
async def test_429_then_success_is_retried(scripted_server):
    scripted_server.script("root", Reply(fault="429"), "after the rate limit")
    completion = await make_lm(scripted_server).acomplete(user())
    assert completion.text == "after the rate limit"
    assert [r.status for r in scripted_server.chat_requests()] == [429, 200]


async def test_429_retry_after_is_honoured(scripted_server):
    scripted_server.script("root", Reply(fault="429", retry_after=0.3), "ok")
    start = time.monotonic()
    assert (await make_lm(scripted_server).acomplete(user())).text == "ok"
    assert time.monotonic() - start >= 0.3


async def test_500_then_success_is_retried(scripted_server):
    scripted_server.script("root", Reply(fault="500", times=2), "recovered")
    assert (await make_lm(scripted_server).acomplete(user())).text == "recovered"
    assert [r.status for r in scripted_server.chat_requests()] == [500, 500, 200]


async def test_permanent_500_gives_up_after_retries(scripted_server):
    scripted_server.script("root", Reply(fault="500", times=99))
    with pytest.raises(LMError) as info:
        await make_lm(scripted_server, num_retries=3).acomplete(user())
    error = info.value
    assert len(scripted_server.chat_requests()) == 4
    assert error.status == 500 and error.retryable and error.attempts == 4
    assert "server error from model 'openai/root'" in str(error) and "after 4 attempts" in str(error)
    assert error.__cause__ is not None  # the litellm/DSPy failure is kept


async def test_400_fails_fast(scripted_server):
    scripted_server.script("root", Reply(fault="400"))
    with pytest.raises(LMError, match="rejected the request") as info:
        await make_lm(scripted_server).acomplete(user())
    assert info.value.status == 400 and not info.value.retryable
    assert len(scripted_server.chat_requests()) == 1


async def test_401_fails_fast_naming_the_key_variable(scripted_server):
    scripted_server.script("root", Reply(fault="401"))
    with pytest.raises(LMError) as info:
        await make_lm(scripted_server).acomplete(user())
    message = str(info.value)
    assert "authentication failed for model 'openai/root'" in message and "OPENAI_API_KEY" in message
    assert len(scripted_server.chat_requests()) == 1


async def test_context_window_error_is_typed_and_not_retried(scripted_server):
    scripted_server.script("root", Reply(fault="context"))
    with pytest.raises(ContextWindowError, match="context window"):
        await make_lm(scripted_server).acomplete(user())
    assert len(scripted_server.chat_requests()) == 1


async def test_hang_times_out_within_timeout(scripted_server):
    scripted_server.script("root", Reply(fault="hang"))
    lm = make_lm(scripted_server, timeout_s=0.5, num_retries=0)
    start = time.monotonic()
    with pytest.raises(LMError, match="did not answer within 0.5 s"):
        await lm.acomplete(user())
    assert time.monotonic() - start < 5
    assert len(scripted_server.chat_requests()) == 1  # no hidden client-side retries


async def test_hang_once_then_success(scripted_server):
    scripted_server.script("root", Reply(fault="hang"), "second try")
    completion = await make_lm(scripted_server, timeout_s=0.3).acomplete(user())
    assert completion.text == "second try"


async def test_cut_stream_is_retried_and_restarts(scripted_server):
    scripted_server.script("root", Reply("alpha beta gamma delta epsilon zeta", fault="cut"), "fresh full answer")
    tokens: list[str] = []
    completion = await make_lm(scripted_server).acomplete(
        user(), on_token=tokens.append, on_restart=lambda: tokens.append("<restart>"))
    assert completion.text == "fresh full answer"
    cut = tokens.index("<restart>")
    assert 0 < cut < 6 and "".join(tokens[:cut]).startswith("alpha")  # partial tokens, then a restart
    assert "".join(tokens[cut + 1:]) == "fresh full answer"


async def test_cut_stream_without_retries_is_an_lm_error(scripted_server):
    scripted_server.script("root", Reply("alpha beta gamma delta", fault="cut"))
    with pytest.raises(LMError, match="stream from model 'openai/root' .* was cut"):
        await make_lm(scripted_server, num_retries=0).acomplete(user(), on_token=lambda _t: None)


async def test_garbage_is_a_clear_lm_error(scripted_server):
    scripted_server.script("root", Reply(fault="garbage", times=2))
    with pytest.raises(LMError, match="malformed response") as info:
        await make_lm(scripted_server, num_retries=1).acomplete(user())
    assert info.value.attempts == 2 and len(scripted_server.chat_requests()) == 2


async def test_garbage_stream_is_a_clear_lm_error(scripted_server):
    scripted_server.script("root", Reply(fault="garbage"))
    with pytest.raises(LMError, match="malformed response"):
        await make_lm(scripted_server, num_retries=0).acomplete(user(), on_token=lambda _t: None)


async def test_connection_refused_is_a_clear_lm_error(scripted_server):
    url = scripted_server.url
    scripted_server.stop()
    lm = LM("openai/root", api_base=url, num_retries=1, retry_backoff_s=0.01, timeout_s=2)
    with pytest.raises(LMError, match="cannot reach model 'openai/root'") as info:
        await lm.acomplete(user())
    assert info.value.retryable and info.value.attempts == 2


# --- cost ---------------------------------------------------------------------------------------
async def test_cost_is_none_for_unknown_model_and_priced_for_known(scripted_server):
    scripted_server.script("gpt-4o-mini", Reply("y" * 400, usage={"prompt_tokens": 1000, "completion_tokens": 100}))
    unknown = await make_lm(scripted_server).acomplete(user())
    assert unknown.usage.cost_usd is None
    known = await make_lm(scripted_server, "openai/gpt-4o-mini").acomplete(user())
    assert (known.usage.prompt_tokens, known.usage.completion_tokens) == (1000, 100)
    expected = price_usd("openai/gpt-4o-mini", 1000, 100)
    assert expected is not None and expected > 0
    assert known.usage.cost_usd == pytest.approx(expected)


def test_usage_from_response_shapes():
    litellm_shape = {"usage": {"prompt_tokens": 1000, "completion_tokens": 10}}
    usage = usage_from_response(litellm_shape, "openai/gpt-4o-mini", 0.5)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.lm_calls, usage.latency_s) == (1000, 10, 1, 0.5)
    assert usage.cost_usd == pytest.approx(price_usd("openai/gpt-4o-mini", 1000, 10))
    assert usage_from_response(litellm_shape, "openai/no-such-model-xyz", 0.1).cost_usd is None
    assert usage_from_response({}, "openai/gpt-4o-mini", 0.1).cost_usd is None  # no usage: unknown


def test_usage_addition():
    a = Usage(10, 5, 0.01, 1.0, 1)
    b = Usage(1, 2, 0.02, 0.5, 2)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens, total.latency_s, total.lm_calls) == (11, 7, 1.5, 3)
    assert total.cost_usd == pytest.approx(0.03) and total.total_tokens == 18
    assert sum([a, b], Usage()).lm_calls == 3
    assert Usage().cost_usd == 0.0


def test_one_unknown_price_leaves_the_known_cost_and_counts_the_unpriced_calls():
    priced = Usage(10, 5, 0.01, 1.0, 1)
    unknown = Usage(1, 1, None, 0, 1)
    assert unknown.unpriced_calls == 1 and not unknown.cost_known
    total = sum([priced, unknown, unknown, priced], Usage())
    assert total.cost_usd == pytest.approx(0.02)  # not None: the known part stays a number
    assert (total.lm_calls, total.unpriced_calls, total.cost_known) == (4, 2, False)
    assert total.cost_text() == "$0.0200 + 2 calls of unknown price"
    assert (priced + priced).cost_known and (priced + priced).cost_text() == "$0.0200"
    only_unknown = Usage() + unknown + unknown
    assert only_unknown.cost_usd is None and only_unknown.cost_text() == "unknown price (2 calls)"


# --- credentials and secrets ------------------------------------------------------------------------
def test_missing_key_names_the_variable(monkeypatch):
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingKeyError, match="ANTHROPIC_API_KEY") as info:
        LM("anthropic/claude-3-5-haiku-20241022").check_credentials()
    assert "ANTHROPIC_API_KEY" in info.value.env_vars
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        LM("openai/gpt-4o-mini").check_credentials()
    LM("openai/gpt-4o-mini", api_key="sk-given").check_credentials()  # a key given: fine
    LM("openai/local-model", api_base="http://127.0.0.1:1/v1").check_credentials()  # local server: fine
    LM("ollama_chat/llama3.1").check_credentials()  # needs no key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    LM("openai/gpt-4o-mini").check_credentials()


async def test_missing_key_at_call_time_is_not_retried(scripted_server, monkeypatch):
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    # Were a key present, litellm would send this to the scripted server, never to a hosted API.
    monkeypatch.setenv("OPENAI_API_BASE", scripted_server.url)
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_server.url)
    lm = LM("openai/gpt-4o-mini", num_retries=3, retry_backoff_s=0.01, timeout_s=5)
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        await lm.acomplete(user())
    assert scripted_server.chat_requests() == []


async def test_key_never_in_repr_or_errors(scripted_server):
    lm = make_lm(scripted_server, api_key=SECRET)
    assert SECRET not in repr(lm) and SECRET not in str(lm)
    assert "hunter2" not in repr(LM("openai/x", api_base="https://me:hunter2@proxy.example/v1?key=hunter2"))
    assert SECRET not in repr(lm.dspy_lm.dump_state())
    scripted_server.script("root", Reply(fault="401"))  # the server quotes the key it got
    assert scripted_server.requests == []
    with pytest.raises(LMError) as info:
        await lm.acomplete(user())
    assert "authentication failed" in str(info.value)
    rendered = "".join(traceback.format_exception(info.value))
    assert SECRET not in rendered and SECRET not in repr(info.value)
    assert scripted_server.chat_requests()[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent


async def test_no_key_needed_for_a_local_server(scripted_server, monkeypatch):
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    assert (await LM("openai/local", api_base=scripted_server.url).acomplete(user())).text == "echo: hello"


# --- models and integration ----------------------------------------------------------------------------
def test_reasoning_model_defaults_are_adjusted(scripted_server):
    lm = make_lm(scripted_server, "openai/gpt-5-mini")
    assert lm.temperature == 1.0 and lm.max_tokens >= 16000


async def test_dspy_lm_serves_dspy_predict(scripted_server):
    scripted_server.script("root", "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]")
    lm = make_lm(scripted_server)
    with dspy.context(lm=lm.dspy_lm):
        prediction = await dspy.Predict("question -> answer").acall(question="6 * 7?")
    assert prediction.answer == "42"
    assert "6 * 7?" in scripted_server.chat_requests()[0].prompt_text


async def test_concurrent_calls_overlap(scripted_server):
    lm = make_lm(scripted_server, "openai/sub")
    await asyncio.gather(*(lm.acomplete(user(f"warm {i}")) for i in range(16)))  # open the connections
    scripted_server.clear()
    scripted_server.latency_s = 0.2
    results = await asyncio.gather(*(lm.acomplete(user(f"q{i}")) for i in range(16)))
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(16)]
    requests = scripted_server.chat_requests()
    assert len(requests) == 16
    assert max(r.start for r in requests) < min(r.end for r in requests)  # all 16 in flight at once


async def test_concurrent_first_calls_wait_for_the_litellm_import(scripted_server):
    import subprocess
    import sys

    code = (
        "import asyncio, os\n"
        "os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'\n"
        "from rlm_tui.lm.client import LM\n"
        f"lm = LM('openai/sub', api_base={scripted_server.url!r})\n"
        "async def go():\n"
        "    rs = await asyncio.gather(*(lm.acomplete([{'role': 'user', 'content': f'q{i}'}]) for i in range(8)))\n"
        "    print(sorted(r.text for r in rs)[0])\n"
        "asyncio.run(go())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "echo: q0"
