"""The ``router/<group>`` litellm provider: every LM call through one LiteLLM Router.

`install(RouterSettings)` builds a `litellm.Router` from the deployments (several servers or keys
per model group, load balancing, retries on another deployment, cooldowns, fallbacks between
groups, rpm/tpm limits) and registers a `litellm.CustomLLM` under the provider name ``router``, so
``router/<group>`` is a model string like any other: `rlm_tui.lm.client.LM` (root calls, `llm_query`
sub-calls) and `dspy.LM` (`predict`) reach the Router through the same litellm call, with
streaming. Each group is priced (and given its window) in litellm's map as its first deployment
with a known price, so usage and cost read as usual. With no deployments, or a `model` that names
no group, `RouterError` says what to fix.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from rlm_tui.config import RouterSettings, load_router_file

PROVIDER = "router"
_OPTIONS = ("max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "n",
            "response_format", "reasoning_effort")
_lock = threading.Lock()
_router: Any = None
_groups: dict[str, list[str]] = {}  # group -> its deployments' api_base or model, for messages


class RouterError(ValueError):
    """The router settings cannot be used; the message says what to fix."""


def model_string(group: str) -> str:
    return f"{PROVIDER}/{group}"


def install(settings: RouterSettings) -> list[str]:
    """Build the Router and register the provider; returns the model groups it serves."""
    import litellm

    global _router
    if settings.file is not None and not settings.model_list:
        settings = load_router_file(settings.file)
    where = f"router file {settings.file}" if settings.file else "[router] in config"
    if not settings.model_list:
        raise RouterError(f"{where} has no deployments: add model_list entries like "
                          "{model_name: qwen, litellm_params: {model: hosted_vllm/Qwen/Qwen3-8B, "
                          "api_base: http://gpu1:8000/v1}}")
    for i, deployment in enumerate(settings.model_list):
        if not isinstance(deployment.litellm_params.get("model"), str) or not deployment.litellm_params["model"]:
            raise RouterError(f"{where}: deployment {i + 1} ({deployment.model_name!r}) has no litellm_params.model")
    found = {d.model_name for d in settings.model_list}
    for fallback in settings.fallbacks:
        for group, others in fallback.items():
            missing = [g for g in [group, *others] if g not in found]
            if missing:
                raise RouterError(f"{where}: fallback names group(s) {', '.join(missing)} that no deployment serves")
    known = {"model_list", "routing_strategy", "num_retries", "allowed_fails", "cooldown_time", "timeout",
             "fallbacks"}
    extra = {k: v for k, v in (settings.model_extra or {}).items()}
    accepted = set(inspect.signature(litellm.Router.__init__).parameters)
    unknown = sorted(k for k in extra if k not in accepted)
    if unknown:
        raise RouterError(f"{where}: unknown router setting(s) {', '.join(unknown)}")
    params = {k: getattr(settings, k) for k in known - {"model_list"} if getattr(settings, k) is not None}
    model_list = [d.model_dump() for d in settings.model_list]
    with _lock:
        _router = litellm.Router(model_list=model_list, **params, **extra)
        _groups.clear()
        for d in settings.model_list:
            _groups.setdefault(d.model_name, []).append(
                str(d.litellm_params.get("api_base") or d.litellm_params["model"]))
        _register(litellm, settings)
    return sorted(_groups)


def check_group(model: str) -> None:
    """`RouterError` unless ``router/<group>`` names a group of the installed router."""
    group = model.removeprefix(f"{PROVIDER}/")
    if group not in _groups:
        raise RouterError(f"model {group!r} is not a model_name of the router (it serves: "
                          f"{', '.join(sorted(_groups)) or 'nothing'})")


def _register(litellm: Any, settings: RouterSettings) -> None:
    from litellm.utils import custom_llm_setup

    if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": PROVIDER, "custom_handler": HANDLER}]
    custom_llm_setup()
    prices = {}
    for group in _groups:  # a group of unknown price stays unknown (cost None), never 0
        for d in settings.model_list:
            info = litellm.model_cost.get(d.litellm_params["model"]) or litellm.model_cost.get(
                d.litellm_params["model"].split("/", 1)[-1])
            if d.model_name == group and info and info.get("input_cost_per_token") is not None:
                prices[model_string(group)] = {
                    "litellm_provider": PROVIDER, "mode": "chat",
                    **{k: info[k] for k in ("input_cost_per_token", "output_cost_per_token", "max_input_tokens",
                                            "max_tokens", "max_output_tokens") if info.get(k) is not None}}
                break
    if prices:
        litellm.register_model(prices)


# --- the litellm handler ---------------------------------------------------------------------------------
def _active() -> Any:
    if _router is None:
        raise RouterError("no router is installed: give [router] in config or --router FILE")
    return _router


def _failed(group: str, error: Exception) -> Exception:
    """A router failure with no deployment left to try, said plainly (HTTP 503, retryable); client
    errors (bad request, window, auth) pass unchanged, so they are classified as usual."""
    import litellm

    unavailable = (litellm.APIConnectionError, litellm.InternalServerError, litellm.ServiceUnavailableError,
                   litellm.Timeout)
    if not isinstance(error, unavailable) and "No deployments available" not in str(error):
        return error
    detail = " ".join(str(getattr(error, "message", None) or error).split())[:240]
    where = ", ".join(_groups.get(group, [])) or "no deployments"
    return litellm.ServiceUnavailableError(
        message=f"router group {group!r}: no deployment answered ({where}); last error: {detail}",
        llm_provider=PROVIDER, model=group)


def _params(optional_params: dict[str, Any] | None) -> dict[str, Any]:
    params = dict(optional_params or {})
    return {k: params[k] for k in _OPTIONS if params.get(k) is not None}


def _group(model: str) -> str:
    return model.removeprefix(f"{PROVIDER}/")


def _chunk(text: str = "", finish_reason: str = "", usage: Any = None, finished: bool = False) -> dict[str, Any]:
    return {"text": text, "is_finished": finished, "finish_reason": finish_reason, "usage": usage,
            "index": 0, "tool_use": None}


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
    if prompt is None or completion is None:
        return None
    return {"prompt_tokens": int(prompt), "completion_tokens": int(completion),
            "total_tokens": int(prompt) + int(completion)}


class _Stream:
    """Router stream chunks as litellm's generic chunks; the finish reason and usage at the end."""

    def __init__(self) -> None:
        self.finish = "stop"
        self.usage: dict[str, int] | None = None

    def take(self, chunk: Any) -> str:
        if getattr(chunk, "usage", None) is not None:
            self.usage = _usage(chunk.usage)
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        if getattr(choices[0], "finish_reason", None):
            self.finish = choices[0].finish_reason
        delta = getattr(choices[0], "delta", None)
        return getattr(delta, "content", None) or ""

    def last(self) -> dict[str, Any]:
        return _chunk(finish_reason=self.finish, usage=self.usage, finished=True)


try:
    from litellm.llms.custom_llm import CustomLLM as _CustomLLM
except ImportError:  # pragma: no cover - litellm is a hard dependency
    _CustomLLM = object  # type: ignore[assignment,misc]


class RouterLLM(_CustomLLM):
    """litellm handler for ``router/<group>``: completion, acompletion, streaming, astreaming."""

    def completion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                   **kwargs: Any) -> Any:
        group = _group(model)
        try:
            return _active().completion(model=group, messages=messages, **_params(optional_params))
        except Exception as e:
            raise _failed(group, e) from e

    async def acompletion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                          **kwargs: Any) -> Any:
        group = _group(model)
        try:
            return await _active().acompletion(model=group, messages=messages, **_params(optional_params))
        except Exception as e:
            raise _failed(group, e) from e

    def streaming(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                  **kwargs: Any) -> Iterator[dict[str, Any]]:
        group, state = _group(model), _Stream()
        try:
            stream = _active().completion(model=group, messages=messages, stream=True,
                                          stream_options={"include_usage": True}, **_params(optional_params))
            for chunk in stream:
                if text := state.take(chunk):
                    yield _chunk(text)
        except Exception as e:
            raise _failed(group, e) from e
        yield state.last()

    async def astreaming(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                         **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        group, state = _group(model), _Stream()
        try:
            stream = await _active().acompletion(model=group, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}, **_params(optional_params))
            async for chunk in stream:
                if text := state.take(chunk):
                    yield _chunk(text)
        except Exception as e:
            raise _failed(group, e) from e
        yield state.last()


HANDLER = RouterLLM()
