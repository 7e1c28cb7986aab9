"""The LiteLLM Router behind every LM call: against two scripted servers, load spreads across
both, a failing or unreachable one fails over to the other, streaming and sub-calls go through
it, and bad router files say what is wrong."""

from __future__ import annotations

import asyncio
import json

import pytest

from rlm_tui.cli import EXIT_OK, EXIT_USAGE, main
from rlm_tui.config import ConfigError, RouterSettings, Settings, load_router_file
from rlm_tui.lm.build import build_lms
from rlm_tui.lm.client import LMError
from rlm_tui.lm.router import RouterError
from tests.engine.test_engine import code
from tests.support.scripted_server import Reply, ScriptedServer


@pytest.fixture
def second_server():
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


def router_of(*bases: str, group: str = "m", **settings) -> RouterSettings:
    return RouterSettings.model_validate({**settings, "model_list": [
        {"model_name": group, "litellm_params": {"model": f"openai/{group}", "api_base": base, "api_key": "x"}}
        for base in bases]})


def ask(lm, n: int) -> list[str]:
    async def calls():
        done = await asyncio.gather(*(lm.acomplete([{"role": "user", "content": f"q{i}"}]) for i in range(n)))
        return [c.text for c in done]

    return asyncio.run(calls())


def test_load_spreads_across_both_deployments(scripted_server, second_server):
    scripted_server.default("from A")
    second_server.default("from B")
    lm, sub, _ = build_lms(Settings(model="m", router=router_of(scripted_server.url, second_server.url)))
    assert lm.model == "router/m" and sub is lm
    texts = ask(lm, 24)
    assert set(texts) == {"from A", "from B"}
    a, b = len(scripted_server.chat_requests("m")), len(second_server.chat_requests("m"))
    assert a + b == 24 and a >= 3 and b >= 3
    tokens: list[str] = []
    streamed = asyncio.run(lm.acomplete([{"role": "user", "content": "stream"}], on_token=tokens.append))
    assert "".join(tokens) == streamed.text and streamed.text in {"from A", "from B"}
    assert streamed.usage.prompt_tokens > 0 and streamed.usage.cost_usd is None  # unknown price stays unknown


def test_a_failing_deployment_fails_over_to_the_other(scripted_server, second_server):
    scripted_server.default(lambda _request: Reply(fault="500"))
    second_server.default("from B")
    lm, _, _ = build_lms(Settings(model="m", router=router_of(scripted_server.url, second_server.url)))
    assert ask(lm, 8) == ["from B"] * 8
    assert len(second_server.chat_requests("m")) == 8


def test_an_unreachable_deployment_fails_over_then_all_down_is_a_clear_error(second_server):
    gone = ScriptedServer().start()
    dead = gone.url
    gone.stop()
    second_server.default("from B")
    alive = second_server.url
    lm, _, _ = build_lms(Settings(model="m", router=router_of(dead, alive)))
    assert ask(lm, 4) == ["from B"] * 4
    second_server.stop()
    lm, _, _ = build_lms(Settings(model="m", router=router_of(dead, alive)))
    lm.retry_backoff_s = 0.01
    with pytest.raises(LMError, match=r"router group 'm': no deployment answered \(http://127\.0\.0\.1"):
        asyncio.run(lm.acomplete([{"role": "user", "content": "x"}]))


def test_router_settings_errors(tmp_path, scripted_server):
    with pytest.raises(RouterError, match="has no deployments"):
        build_lms(Settings(model="m", router=RouterSettings()))
    with pytest.raises(RouterError, match=r"model 'other' is not a model_name of the router \(it serves: m\)"):
        build_lms(Settings(model="other", router=router_of(scripted_server.url)))
    with pytest.raises(RouterError, match="fallback names group"):
        build_lms(Settings(model="m", router=router_of(scripted_server.url, fallbacks=[{"m": ["nope"]}])))
    with pytest.raises(RouterError, match="unknown router setting"):
        build_lms(Settings(model="m", router=router_of(scripted_server.url, colour="blue")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: [ {model_name: m, litellm_params: {model: openai/m}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_router_file(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text("model_list:\n  - model_name: m\n")
    with pytest.raises(ConfigError, match="litellm_params"):
        load_router_file(missing)


def test_cli_router_file_with_no_deployments_is_a_usage_error(tmp_path, capsys):
    empty = tmp_path / "router.yaml"
    empty.write_text("model_list: []\nrouter_settings:\n  routing_strategy: simple-shuffle\n")
    assert main(["ask", "hello", "--project", str(tmp_path), "--model", "m", "--router", str(empty)]) == EXIT_USAGE
    assert "has no deployments" in capsys.readouterr().err


def test_eval_sends_root_and_sub_calls_through_the_router(scripted_server, second_server, tmp_path, capsys):
    """A whole eval task over the router: the root LM's code calls llm_query, whose sub-calls are
    served by the router's `sub` group, spread over both servers."""
    guest = code("parts = llm_query_batched([f'part {i}' for i in range(6)])\n"
                 "SUBMIT(answer=str(sum(p == 'ok' for p in parts)))")
    for server in (scripted_server, second_server):
        server.default(lambda request: guest if request["model"] == "root" else "ok")
    router = tmp_path / "router.yaml"
    router.write_text(json.dumps({"model_list": [
        {"model_name": group, "litellm_params": {"model": f"openai/{group}", "api_base": base, "api_key": "x"}}
        for group in ("root", "sub") for base in (scripted_server.url, second_server.url)]}))
    out = tmp_path / "out"
    argv = ["eval", "--router", str(router), "--model", "root", "--sub-model", "sub", "--tasks", "needle",
            "--sizes", "1k", "--n", "1", "--modes", "rlm", "--out", str(out), "--no-traces"]
    assert main(argv) == EXIT_OK
    records = json.loads((out / "results.json").read_text())["records"]
    assert [(r["answer"], r["model"], r["sub_model"]) for r in records] == [("6", "router/root", "router/sub")] * 2
    subs = len(scripted_server.chat_requests("sub")), len(second_server.chat_requests("sub"))
    assert sum(subs) == 12 and min(subs) >= 1
    assert len(scripted_server.chat_requests("root")) + len(second_server.chat_requests("root")) == 2
