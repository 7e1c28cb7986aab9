"""The scripted OpenAI-compatible server, driven by real litellm HTTP (and plain urllib)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

from tests.support.scripted_server import Reply, ScriptedServer, estimate_tokens  # noqa: E402

litellm.suppress_debug_info = True
SERVER_SCRIPT = Path(__file__).parent / "support" / "scripted_server.py"


def chat(server: ScriptedServer, model: str = "root", content: str = "hello", **kwargs):
    """One litellm call, no retries of any kind (neither litellm's nor the OpenAI client's)."""
    kwargs.setdefault("num_retries", 0)
    kwargs.setdefault("max_retries", 0)
    return litellm.completion(model=f"openai/{model}", api_base=server.url, api_key="sk-test",
                              messages=[{"role": "user", "content": content}], **kwargs)


def stream_text(server: ScriptedServer, model: str = "root", **kwargs) -> tuple[str, list]:
    chunks = list(chat(server, model, stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def post(server: ScriptedServer, body: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(f"{server.url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_plain_completion_with_usage_and_record(scripted_server):
    scripted_server.script("root", "The answer is 42.")
    response = chat(scripted_server, content="x" * 100)
    assert response.choices[0].message.content == "The answer is 42."
    assert response.usage.prompt_tokens == 25  # 100 chars / 4
    assert response.usage.completion_tokens == estimate_tokens("The answer is 42.")
    [request] = scripted_server.chat_requests()
    assert request.model == "root" and request.stream is False and request.status == 200
    assert request.messages == [{"role": "user", "content": "x" * 100}]
    assert request.prompt_text == "x" * 100 and request.end >= request.start


def test_explicit_usage_and_per_model_queues_and_default(scripted_server):
    scripted_server.script("root", Reply("r1", usage={"prompt_tokens": 1000, "completion_tokens": 7}), "r2")
    scripted_server.script("sub", "s1")
    assert chat(scripted_server, "sub").choices[0].message.content == "s1"
    first = chat(scripted_server, "root")
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (1000, 7)
    assert chat(scripted_server, "root").choices[0].message.content == "r2"
    # queues empty: the default echoes the prompt, deterministically
    assert chat(scripted_server, "root", content="ping").choices[0].message.content == "echo: ping"
    scripted_server.default(lambda request: Reply(f"len={len(request['messages'])}"))
    assert chat(scripted_server, "sub").choices[0].message.content == "len=1"
    scripted_server.default("constant")
    assert chat(scripted_server, "other").choices[0].message.content == "constant"
    assert [r.model for r in scripted_server.chat_requests()] == ["sub", "root", "root", "root", "sub", "other"]


def test_times_repeats_a_reply(scripted_server):
    scripted_server.script("root", Reply("again", times=3), "then")
    assert scripted_server.pending("root") == 4
    assert [chat(scripted_server).choices[0].message.content for _ in range(4)] == ["again"] * 3 + ["then"]


def test_streaming_chunks_and_final_usage(scripted_server):
    scripted_server.script("root", "one two three", "four five")
    text, chunks = stream_text(scripted_server, stream_options={"include_usage": True})
    assert text == "one two three"
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and usage[-1].completion_tokens == estimate_tokens("one two three")
    request = scripted_server.chat_requests()[-1]
    assert request.stream and request.body["stream_options"] == {"include_usage": True}
    # without include_usage the server sends no usage chunk (litellm may still estimate one)
    text, _ = stream_text(scripted_server)
    assert text == "four five"


def test_streaming_is_real_time(scripted_server):
    scripted_server.script("root", Reply("a b c d", chunk_delay_s=0.1))
    arrivals = []
    start = time.monotonic()
    for chunk in chat(scripted_server, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] >= 0.25  # spread out, not delivered in one burst


def test_models_endpoint(scripted_server):
    scripted_server.script("root", "x")
    with urllib.request.urlopen(f"{scripted_server.url}/models", timeout=5) as resp:
        data = json.load(resp)
    assert "root" in [m["id"] for m in data["data"]]


def test_fault_429_once_then_success(scripted_server):
    scripted_server.script("root", Reply(fault="429", retry_after=0), "ok")
    with pytest.raises(litellm.RateLimitError):
        chat(scripted_server)
    assert chat(scripted_server).choices[0].message.content == "ok"
    assert [r.status for r in scripted_server.chat_requests()] == [429, 200]


def test_fault_500_times(scripted_server):
    scripted_server.script("root", Reply(fault="500", times=2), "ok")
    for _ in range(2):
        with pytest.raises(litellm.InternalServerError):
            chat(scripted_server)
    assert chat(scripted_server).choices[0].message.content == "ok"


def test_fault_4xx(scripted_server):
    scripted_server.script("root", Reply(fault="400"), Reply(fault="401"))
    with pytest.raises(litellm.BadRequestError):
        chat(scripted_server)
    with pytest.raises(litellm.AuthenticationError, match="sk-test"):  # quotes the key, like OpenAI
        chat(scripted_server)


def test_fault_hang_times_out_and_stop_does_not_hang():
    server = ScriptedServer().start()
    server.script("root", Reply(fault="hang"), Reply(fault="hang"))
    start = time.monotonic()
    with pytest.raises(litellm.Timeout):
        chat(server, timeout=0.3)
    assert time.monotonic() - start < 5
    # a second hanging request still in flight when the server stops
    errors = []
    thread = threading.Thread(target=lambda: errors.append(_call_and_catch(server)))
    thread.start()
    while not any(r.fault == "hang" and r.end is None for r in server.chat_requests()):
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 5
    thread.join(5)
    assert not thread.is_alive() and errors and errors[0] is not None


def _call_and_catch(server):
    try:
        chat(server, timeout=30)
    except Exception as e:  # the connection is dropped when the server stops
        return e
    return None


def test_fault_cut_stream(scripted_server):
    scripted_server.script("root", Reply("alpha beta gamma delta epsilon zeta", fault="cut"))
    seen = []
    with pytest.raises(Exception):  # noqa: B017 - litellm wraps the transport error
        for chunk in chat(scripted_server, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert 0 < len(seen) < 6  # some text, then the connection dropped


def test_fault_cut_non_streaming(scripted_server):
    scripted_server.script("root", Reply("alpha beta", fault="cut"))
    with pytest.raises(Exception):  # noqa: B017
        chat(scripted_server)


def test_fault_garbage(scripted_server):
    scripted_server.script("root", Reply(fault="garbage"), Reply(fault="garbage"))
    with pytest.raises(litellm.InternalServerError, match="Expecting value"):  # litellm's JSON error
        chat(scripted_server)
    with pytest.raises(Exception):  # noqa: B017
        stream_text(scripted_server)


def test_global_latency_and_parallel_requests():
    with ScriptedServer(latency_s=0.2) as server:
        results: list[int] = []

        def one(i: int) -> None:
            status, _ = post(server, {"model": "sub", "messages": [{"role": "user", "content": str(i)}]})
            results.append(status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        assert results == [200] * 8
        assert 0.2 <= elapsed < 3.0
        requests = server.chat_requests("sub")
        assert max(r.start for r in requests) < min(r.end for r in requests)  # all overlapped


def test_bad_requests_are_answered_not_crashed(scripted_server):
    status, body = post(scripted_server, {"model": "root"})  # no messages: echo of nothing
    assert status == 200
    req = urllib.request.Request(f"{scripted_server.url}/chat/completions", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400
    with pytest.raises(ValueError):
        Reply(fault="teapot")


def test_standalone_process(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"root": ["first", {"text": "second", "latency_s": 0.01}],
                                  "default": "echo"}))
    proc = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), "--port", "0", "--script", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")

        def ask(model: str, content: str = "hi") -> str:
            req = urllib.request.Request(f"{url}/chat/completions", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"model": model, "messages": [
                                             {"role": "user", "content": content}]}).encode())
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.load(resp)["choices"][0]["message"]["content"]

        assert [ask("root"), ask("root"), ask("root", "q")] == ["first", "second", "echo: q"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
