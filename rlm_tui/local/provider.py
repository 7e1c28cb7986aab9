"""The ``embedded/<name>`` litellm provider: offline models in-process, via llama.cpp.

`register()` adds a `litellm.CustomLLM` to ``litellm.custom_provider_map`` under the provider name
``embedded`` and prices every known offline model at 0 in litellm's cost map (with its context
window), so ``embedded/qwen2.5-coder-1.5b`` works as a model string everywhere: `rlm_tui.lm.client.LM`,
``--model``, config.toml, ``dspy.LM(...)``, ``litellm.completion(...)``. It is idempotent and cheap:
llama_cpp is imported only when an ``embedded/`` model is first called, and a missing runtime or
model is reported then, saying what to install or pull.

Calls to one model are serialised (`LocalModel.lock`); async calls run on the model's own
one-thread executor, so the event loop never blocks. Usage counts are real (tokens of the rendered
prompt and of the reply); the cost is 0.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from rlm_tui.local import reply_grammar
from rlm_tui.local.catalog import PROVIDER, UnknownModelError, get_model, known_models
from rlm_tui.local.llama import (
    ContextOverflowError,
    Generation,
    LlamaMissingError,
    LocalModel,
    LocalModelError,
    context_size,
    import_llama_cpp,
    local_model,
)

__all__ = ["EmbeddedLLM", "check_ready", "register", "resolve"]

_registered = False
_register_lock = threading.Lock()


# --- resolving model strings ---------------------------------------------------------------------------
def _bare(model: str) -> str:
    return model[len(PROVIDER) + 1 :] if model.startswith(f"{PROVIDER}/") else model


def resolve(model: str) -> LocalModel:
    """The shared `LocalModel` for ``embedded/<name>`` (or ``<name>``); clear errors when unusable.

    ``<name>`` is a known offline model (see ``rlm-tui models list``) or a path to a ``.gguf`` file.
    """
    name = _bare(model)
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise LocalModelError(f"no GGUF file at {path}")
        import_llama_cpp()
        return local_model(path, name=path.stem)
    try:
        spec = get_model(name)
    except UnknownModelError as e:
        raise LocalModelError(f"{e} (or give a path: embedded//path/to/model.gguf)") from None
    import_llama_cpp()
    if not spec.is_installed():
        raise LocalModelError(
            f"offline model {spec.name} is not pulled yet: run rlm-tui models pull {spec.name}"
        )
    return local_model(spec.path(), name=spec.name, n_ctx=model_context(spec))


_contexts: dict[str, int] = {}
_contexts_lock = threading.Lock()


def model_context(spec: Any) -> int:
    """The context window of a known model, decided once per process (litellm's map and the
    opened model must agree, whatever the free memory does later)."""
    with _contexts_lock:
        if spec.name not in _contexts:
            _contexts[spec.name] = context_size(spec.trained_context, spec.kv_bytes_per_token)
        return _contexts[spec.name]


def check_ready(model: str) -> str | None:
    """Why ``embedded/<name>`` cannot run (runtime missing, not pulled, unknown), or ``None``."""
    try:
        resolve(model)
    except LocalModelError as e:
        return str(e)
    return None


# --- the litellm handler -----------------------------------------------------------------------------------
_OPTIONS = ("max_tokens", "temperature", "top_p", "stop", "seed")


def _options(optional_params: dict[str, Any] | None) -> dict[str, Any]:
    params = dict(optional_params or {})
    if params.get("max_completion_tokens") and not params.get("max_tokens"):
        params["max_tokens"] = params["max_completion_tokens"]
    options = {k: params[k] for k in _OPTIONS if params.get(k) is not None}
    options.setdefault("temperature", 0.0)
    return options


def _usage(generation: Generation) -> dict[str, int]:
    s = generation.stats
    return {
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "total_tokens": s.prompt_tokens + s.completion_tokens,
    }


def _litellm_error(model: str, error: Exception) -> Exception:
    """Our failures as litellm exceptions, so callers classify them (not retried, not 'network')."""
    import litellm

    full = f"{PROVIDER}/{_bare(model)}"
    if isinstance(error, ContextOverflowError):
        return litellm.ContextWindowExceededError(
            message=str(error), model=full, llm_provider=PROVIDER
        )
    if isinstance(error, LlamaMissingError):
        return litellm.BadRequestError(message=str(error), model=full, llm_provider=PROVIDER)
    if isinstance(error, LocalModelError):
        return litellm.NotFoundError(message=str(error), model=full, llm_provider=PROVIDER)
    return error


def _run(
    model: str, messages: list, optional_params: dict[str, Any] | None, **kwargs: Any
) -> Generation:
    try:
        return resolve(model).generate(messages, **_options(optional_params), **kwargs)
    except LocalModelError as e:
        raise _litellm_error(model, e) from e


def _chunk(
    text: str = "",
    *,
    finished: bool = False,
    finish_reason: str = "",
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "text": text,
        "is_finished": finished,
        "finish_reason": finish_reason,
        "usage": usage,
        "index": 0,
        "tool_use": None,
    }


def _fill(model_response: Any, model: str, generation: Generation) -> Any:
    import litellm

    model_response.choices[0].message.content = generation.text
    model_response.choices[0].finish_reason = generation.stats.finish_reason
    model_response.model = f"{PROVIDER}/{_bare(model)}"
    model_response.created = int(time.time())
    usage = _usage(generation)
    model_response.usage = litellm.Usage(prompt_tokens=usage["prompt_tokens"],
                                         completion_tokens=usage["completion_tokens"],
                                         total_tokens=usage["total_tokens"])
    return model_response


class _Done:
    def __init__(
        self, generation: Generation | None = None, error: BaseException | None = None
    ) -> None:
        self.generation, self.error = generation, error


try:
    from litellm.llms.custom_llm import CustomLLM as _CustomLLM
except ImportError:  # pragma: no cover - litellm is a hard dependency
    _CustomLLM = object  # type: ignore[assignment,misc]


class EmbeddedLLM(_CustomLLM):
    """litellm handler for ``embedded/<name>``: completion, acompletion, streaming, astreaming."""

    def completion(
        self,
        model: str,
        messages: list,
        api_base: str = "",
        custom_prompt_dict: dict | None = None,
        model_response: Any = None,
        print_verbose: Any = None,
        encoding: Any = None,
        api_key: Any = None,
        logging_obj: Any = None,
        optional_params: dict | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        grammar = reply_grammar.active()
        return _fill(model_response, model, _run(model, messages, optional_params, grammar=grammar))

    async def acompletion(
        self,
        model: str,
        messages: list,
        api_base: str = "",
        custom_prompt_dict: dict | None = None,
        model_response: Any = None,
        print_verbose: Any = None,
        encoding: Any = None,
        api_key: Any = None,
        logging_obj: Any = None,
        optional_params: dict | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        local = self._resolve(model)
        cancel = threading.Event()
        grammar = reply_grammar.active()  # read here: the executor thread has another context
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            local.executor,
            lambda: _run(model, messages, optional_params, grammar=grammar, cancel=cancel),
        )
        try:
            generation = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # the generation stops at its next token and frees the model
            raise
        return _fill(model_response, model, generation)

    def streaming(
        self,
        model: str,
        messages: list,
        api_base: str = "",
        custom_prompt_dict: dict | None = None,
        model_response: Any = None,
        print_verbose: Any = None,
        encoding: Any = None,
        api_key: Any = None,
        logging_obj: Any = None,
        optional_params: dict | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Iterator[dict[str, Any]]:
        local = self._resolve(model)
        items: queue.Queue[str | _Done] = queue.Queue()
        cancel = threading.Event()
        grammar = reply_grammar.active()

        def work() -> None:
            try:
                items.put(
                    _Done(_run(model, messages, optional_params, grammar=grammar,
                               on_text=items.put, cancel=cancel))
                )
            except BaseException as e:  # handed to the consumer
                items.put(_Done(error=e))

        local.executor.submit(work)
        try:
            while True:
                item = items.get()
                if isinstance(item, _Done):
                    if item.error is not None:
                        raise item.error
                    assert item.generation is not None
                    yield _chunk(
                        finished=True,
                        finish_reason=item.generation.stats.finish_reason,
                        usage=_usage(item.generation),
                    )
                    return
                yield _chunk(item)
        finally:
            cancel.set()

    async def astreaming(
        self,
        model: str,
        messages: list,
        api_base: str = "",
        custom_prompt_dict: dict | None = None,
        model_response: Any = None,
        print_verbose: Any = None,
        encoding: Any = None,
        api_key: Any = None,
        logging_obj: Any = None,
        optional_params: dict | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        local = self._resolve(model)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[str | _Done] = asyncio.Queue()
        cancel = threading.Event()
        grammar = reply_grammar.active()

        def put(item: str | _Done) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                cancel.set()

        def work() -> None:
            try:
                put(_Done(_run(model, messages, optional_params, grammar=grammar, on_text=put,
                               cancel=cancel)))
            except BaseException as e:  # handed to the consumer
                put(_Done(error=e))

        loop.run_in_executor(local.executor, work)
        try:
            while True:
                item = await items.get()
                if isinstance(item, _Done):
                    if item.error is not None:
                        raise item.error
                    assert item.generation is not None
                    yield _chunk(
                        finished=True,
                        finish_reason=item.generation.stats.finish_reason,
                        usage=_usage(item.generation),
                    )
                    return
                yield _chunk(item)
        finally:
            cancel.set()

    @staticmethod
    def _resolve(model: str) -> LocalModel:
        try:
            return resolve(model)
        except LocalModelError as e:
            raise _litellm_error(model, e) from e


HANDLER = EmbeddedLLM()


# --- registration --------------------------------------------------------------------------------------
def register() -> None:
    """Make ``embedded/<name>`` a litellm model string (idempotent; no llama_cpp import)."""
    global _registered
    with _register_lock:
        import litellm
        from litellm.utils import custom_llm_setup

        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            litellm.custom_provider_map = [
                *litellm.custom_provider_map,
                {"provider": PROVIDER, "custom_handler": HANDLER},
            ]
        custom_llm_setup()  # adds the provider to litellm.provider_list now, not at the first call
        if not _registered:
            _register_prices(litellm)
            _registered = True


def _register_prices(litellm: Any) -> None:
    from rlm_tui.local.llama import DEFAULT_MAX_TOKENS, _env_int

    def entry(spec: Any) -> dict[str, Any]:
        n_ctx = model_context(spec)
        return {
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "cache_read_input_token_cost": 0.0,
            "cache_creation_input_token_cost": 0.0,
            "litellm_provider": PROVIDER,
            "mode": "chat",
            "max_input_tokens": n_ctx,
            "max_tokens": n_ctx,
            "max_output_tokens": _env_int("RLM_TUI_LOCAL_MAX_TOKENS", DEFAULT_MAX_TOKENS),
        }

    litellm.register_model({spec.model_string: entry(spec) for spec in known_models()})
