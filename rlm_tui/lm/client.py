"""LM access: one `dspy.LM` over litellm per model, with usage, cost, streaming and retries.

Every call goes through `dspy.LM` in DSPy 3.4's supported form: an explicit `dspy.lm15.Request`
(OpenAI-style ``messages=`` calls are deprecated in 3.4). The `dspy.LM` is built with
``engine="litellm"`` so that any litellm model string works the same way (hosted providers,
Ollama, vLLM, a LiteLLM proxy, any OpenAI-compatible ``api_base``); pass ``engine="auto"`` to let
DSPy use its native lm15 engine where it can.

Streaming also goes through `dspy.LM`: DSPy streams a Request when ``dspy.settings.send_stream``
is set (that is how `dspy.streamify` works); `LM.acomplete` sets it, for its own call only, to a
small sink that hands each text delta to ``on_token`` as it arrives. The litellm engine asks for
``stream_options={"include_usage": True}``.

Retries are ours, not DSPy's, so that a stream cut after some tokens is retried too (DSPy never
replays once output was emitted) and so that the backoff is configurable. The `dspy.LM` used for a
single attempt is a copy of `LM.dspy_lm` with ``num_retries=0``; `LM.dspy_lm` itself keeps
``num_retries`` for `dspy.Predict` sub-calls, where DSPy's own backoff applies.
"""

from __future__ import annotations

import os

# Before litellm/dspy are imported anywhere: use the bundled price map, never fetch it from
# GitHub at import time (no network, no warnings). A user can opt in by setting it to False.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncio  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Coroutine, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import dspy  # noqa: E402

from rlm_tui.lm.facts import CHARS_PER_TOKEN  # noqa: E402
from rlm_tui.usage import Usage  # noqa: E402

__all__ = [
    "LM",
    "Completion",
    "ContextWindowError",
    "LMError",
    "MissingKeyError",
    "Usage",
    "estimate_tokens",
    "key_env_vars",
    "preload",
    "price_usd",
    "usage_from_response",
]

_T = TypeVar("_T")


# --- data at the border ------------------------------------------------------------------------
@dataclass(frozen=True)
class Completion:
    """One finished LM call: the full text, the model string asked for, and its usage."""

    text: str
    model: str
    usage: Usage


class LMError(RuntimeError):
    """An LM call failed. The message says what and what to do; ``__cause__`` keeps the original.

    ``status`` is the HTTP status when there was one; ``retryable`` says whether the failure was
    transient (it was already retried ``attempts - 1`` times when raised from `LM.acomplete`).
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None,
                 retryable: bool = False, attempts: int = 1) -> None:
        super().__init__(message)
        self.model = model
        self.status = status
        self.retryable = retryable
        self.attempts = attempts


class MissingKeyError(LMError):
    """The provider needs an API key that is not set. ``env_vars`` names the variables to set."""

    def __init__(self, message: str, *, env_vars: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.env_vars = tuple(env_vars)


class ContextWindowError(LMError):
    """The prompt does not fit the model's context window (compact the history and retry)."""


# --- helpers -------------------------------------------------------------------------------------
def estimate_tokens(text: str) -> int:
    """A rough token count (`CHARS_PER_TOKEN` characters per token) for when a provider reports no usage."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0


def _messages_text(messages: Sequence[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        parts.append(content if isinstance(content, str) else "")
    return "\n".join(parts)


_litellm_ready = threading.Event()  # set once the import has finished (sys.modules has it earlier)


def _litellm():
    """litellm, imported on first use (it is slow to import), quietened."""
    import litellm  # concurrent first imports wait on Python's per-module import lock

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    _litellm_ready.set()
    return litellm


def preload() -> None:
    """Import litellm now (seconds, ~200 MB). `LM.acomplete` does it on first use, in a worker
    thread; a UI can call this from a background thread after its first paint to hide the wait."""
    _litellm()


def price_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost in USD from litellm's price map; ``None`` when the model has no known price."""
    try:
        prompt_cost, completion_cost = _litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:
        return None
    if prompt_cost is None or completion_cost is None:
        return None
    return float(prompt_cost) + float(completion_cost)


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _reported_tokens(response: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from an lm15 Response, a litellm ModelResponse, or a dict."""
    usage = _get(response, "usage")
    if usage is None:
        return None, None
    prompt = _get(usage, "input_tokens")
    if prompt is None:
        prompt = _get(usage, "prompt_tokens")
    completion = _get(usage, "output_tokens")
    if completion is None:
        completion = _get(usage, "completion_tokens")
    return (int(prompt) if prompt is not None else None, int(completion) if completion is not None else None)


def usage_from_response(response: Any, model: str, latency_s: float) -> Usage:
    """Usage of one call from its response (lm15 `Response`, litellm `ModelResponse` or a dict).

    Cost comes from litellm's price map for ``model``; an unknown price, or usage the provider did
    not report, gives ``cost_usd=None`` (tokens then read 0).
    """
    prompt, completion = _reported_tokens(response)
    if prompt is None or completion is None:
        return Usage(prompt or 0, completion or 0, None, latency_s, 1)
    return Usage(prompt, completion, price_usd(model, prompt, completion), latency_s, 1)


_KEY_VARS = {
    "openai": ("OPENAI_API_KEY",), "text-completion-openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",), "gemini": ("GEMINI_API_KEY",), "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",), "deepseek": ("DEEPSEEK_API_KEY",), "xai": ("XAI_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",), "together_ai": ("TOGETHERAI_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY",), "cohere": ("COHERE_API_KEY",), "azure": ("AZURE_API_KEY",),
    "perplexity": ("PERPLEXITYAI_API_KEY",), "cerebras": ("CEREBRAS_API_KEY",),
}
_CONFIG_SUFFIXES = ("_API_BASE", "_BASE_URL", "_API_VERSION")


def provider_key_vars() -> tuple[str, ...]:
    """The key variables of the providers rlm-tui names (for `rlm-tui doctor`), each once."""
    return tuple(dict.fromkeys(name for names in _KEY_VARS.values() for name in names))


def _prefix_key_vars(model: str) -> tuple[str, ...]:
    """Key variables guessed from the model string's provider prefix alone (no litellm import)."""
    prefix = model.split("/", 1)[0] if "/" in model else "openai"
    return _KEY_VARS.get(prefix, (f"{prefix.upper().replace('-', '_')}_API_KEY",))


def _provider(model: str) -> str:
    try:
        return _litellm().get_llm_provider(model=model)[1] or "openai"
    except Exception:
        return model.split("/", 1)[0] if "/" in model else "openai"


def _missing_env(model: str) -> list[str]:
    try:
        missing = _litellm().validate_environment(model=model).get("missing_keys") or []
    except Exception:
        return []
    return [str(name) for name in missing]


def key_env_vars(model: str) -> tuple[str, ...]:
    """The environment variable(s) that hold the API key for ``model``'s provider."""
    missing = [m for m in _missing_env(model) if not m.endswith(_CONFIG_SUFFIXES)]
    if missing:
        return tuple(missing)
    provider = _provider(model)
    return _KEY_VARS.get(provider, (f"{provider.upper().replace('-', '_')}_API_KEY",))


_REASONING = re.compile(
    r"^(?:o[1345](?:-(?:mini|nano|pro))?(?:-\d{4}-\d{2}-\d{2})?|gpt-5(?:\.\d+)*(?!-chat)(?:-.*)?)$")


def _is_openai_reasoning_model(model: str) -> bool:
    """Mirrors DSPy's rule: these models take only temperature 1.0 and max_tokens >= 16000."""
    return _REASONING.match(model.rsplit("/", 1)[-1].lower()) is not None


# dspy.LM constructor arguments and client settings: they configure the dspy.LM, they are not
# generation options for our explicit Requests.
_DSPY_LM_ARGS = {
    "model_type", "cache", "callbacks", "provider", "finetuning_model", "launch_kwargs", "train_kwargs",
    "use_developer_role", "engine", "async_engine", "prompt_cache",
    "api_version", "headers", "extra_headers", "extra_query", "organization", "project", "base_url",
    "custom_llm_provider", "azure_ad_token_provider",
}


# --- the sync bridge ------------------------------------------------------------------------------
def _run_sync(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from sync code: ``asyncio.run`` here, or on a helper thread
    when this thread already runs a loop. (A fresh loop per call, closed with its tasks: a
    long-lived side loop would strand litellm's logging worker when another loop takes over.)"""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlm-tui-lm") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


# --- streaming sink -------------------------------------------------------------------------------
class _TokenSink:
    """Stands in for DSPy's ``send_stream``: DSPy awaits ``send(chunk)`` per streamed chunk."""

    def __init__(self, on_token: Callable[[str], None]) -> None:
        self.on_token = on_token
        self.emitted = 0
        self.callback_error: BaseException | None = None

    async def send(self, chunk: Any) -> None:
        choices = _get(chunk, "choices") or []
        text = _get(_get(choices[0], "delta"), "content") if choices else None
        if text:
            try:
                self.on_token(text)
            except BaseException as exc:  # surfaces unchanged from acomplete, never retried
                self.callback_error = exc
                raise
            self.emitted += 1


class _Retry(Exception):
    def __init__(self, error: LMError, delay_hint: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay_hint = delay_hint


# --- the LM ------------------------------------------------------------------------------------------
class LM:
    """One model, reached through `dspy.LM` over litellm.

    ``acomplete`` / ``complete`` send chat messages and return a `Completion` with usage and cost.
    ``dspy_lm`` is the underlying `dspy.LM` (for `dspy.Predict` and friends). Keys come from the
    provider's usual env var unless ``api_key`` is given; the key never appears in ``repr`` or in
    error messages. ``retry_backoff_s`` is the first retry delay (doubling, with jitter, capped at
    30 s) unless the provider sends ``Retry-After``. Other keyword arguments go to `dspy.LM`
    (``engine``, ``cache``, ``headers``, ...) and generation options (``top_p``, ``stop``,
    ``seed``, ...) also into every request.

    OpenAI reasoning models (o1/o3/o4/gpt-5) accept only temperature 1.0 and max_tokens >= 16000:
    for them the defaults are adjusted to that instead of failing.
    """

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 temperature: float = 0.0, max_tokens: int = 4096, num_retries: int = 3,
                 timeout_s: float = 120.0, retry_backoff_s: float = 0.5, **extra: Any) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError("model must be a non-empty litellm model string, e.g. 'openai/gpt-4o-mini'")
        self.model = model
        self.api_base = api_base
        self._api_key = api_key
        if _is_openai_reasoning_model(model):
            temperature, max_tokens = 1.0, max(max_tokens, 16000)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.num_retries = num_retries
        self.timeout_s = timeout_s
        self.retry_backoff_s = retry_backoff_s
        self._generation = {k: v for k, v in extra.items() if k not in _DSPY_LM_ARGS}

        lm_args: dict[str, Any] = {"cache": False, "engine": "litellm", **extra}
        if api_base:
            lm_args["api_base"] = api_base
        wire_key = api_key
        if wire_key is None and api_base and not any(os.environ.get(n) for n in _prefix_key_vars(model)):
            # A local OpenAI-compatible server needs no key, but the OpenAI client insists on one.
            # (Decided without importing litellm: constructing an LM stays cheap.)
            wire_key = "sk-no-key-required"
        self._placeholder_key = wire_key is not None and api_key is None
        if wire_key is not None:
            lm_args["api_key"] = wire_key
        if model.startswith("embedded/"):  # the offline provider (rlm-tui[local]) must be known to litellm
            from rlm_tui.local.provider import register

            register()
        if model.startswith("router/"):  # a LiteLLM Router's model group (rlm_tui.lm.router installs it)
            from rlm_tui.lm.router import check_group

            check_group(model)
        self.dspy_lm: dspy.LM = dspy.LM(model, temperature=temperature, max_tokens=max_tokens,
                                        num_retries=num_retries, timeout=timeout_s, **lm_args)
        self._attempt_lm = self.dspy_lm.copy(num_retries=0)

    def __repr__(self) -> str:
        base = f", api_base={_safe_url(self.api_base)!r}" if self.api_base else ""
        return f"LM(model={self.model!r}{base})"

    # --- public API ------------------------------------------------------------------------------
    def check_credentials(self) -> None:
        """Raise `MissingKeyError` naming the env var(s) when the provider needs a key that is not set.

        No network. Nothing to check when ``api_key`` or ``api_base`` was given (a local or
        OpenAI-compatible server needs no key) or when the provider needs none (Ollama, vLLM).
        """
        if self.model.startswith("embedded/"):
            from rlm_tui.local.provider import check_ready

            if (problem := check_ready(self.model)) is not None:
                raise LMError(problem, model=self.model)
            return
        if self._api_key or self.api_base or self.model.startswith("router/"):  # a router's deployments hold their keys
            return
        missing = [m for m in _missing_env(self.model) if not m.endswith(_CONFIG_SUFFIXES)]
        if missing:
            raise self._missing_key_error(missing)

    async def acomplete(self, messages: list[dict[str, Any]], *,
                        on_token: Callable[[str], None] | None = None,
                        on_restart: Callable[[], None] | None = None) -> Completion:
        """Send chat ``messages`` (OpenAI-style dicts) and return the full completion.

        With ``on_token`` the reply is streamed and ``on_token(text)`` is called for every text delta
        as it arrives (on this event loop); the returned `Completion` still has the whole text and
        usage. If a stream is cut or fails after some tokens, the call is retried like any transient
        failure and the retry's tokens start again from the beginning: ``on_restart()`` (if given)
        is called first so the caller can drop what it showed. An exception raised by ``on_token``
        aborts the call and propagates unchanged.

        Usage: the provider's token counts, priced from litellm's map. When a non-streamed reply
        reports none, tokens are estimated (4 chars/token) and the cost is ``None``. When a stream
        reports none, litellm's stream assembly counts them with its tokenizer (DSPy does not pass
        on whether usage came from the provider), and that count is priced.
        """
        request = self._request(messages)
        if not _litellm_ready.is_set():  # first calls: import it off the event loop, off the clock
            await asyncio.to_thread(preload)
        start = time.monotonic()
        attempts = self.num_retries + 1
        last: _Retry | None = None
        shown = 0  # tokens already handed to on_token by earlier attempts
        for attempt in range(attempts):
            if last is not None:
                await asyncio.sleep(self._delay(attempt - 1, last.delay_hint))
            if shown and on_restart is not None:
                on_restart()
            sink = _TokenSink(on_token) if on_token is not None else None
            try:
                response = await self._attempt(request, sink)
            except _Retry as retry:
                last = retry
                shown = sink.emitted if sink is not None else 0
                continue
            return self._completion(response, messages, time.monotonic() - start)
        assert last is not None
        error = last.error
        error.attempts = attempts
        if attempts > 1:
            error.args = (f"{error.args[0]} (gave up after {attempts} attempts)",)
        raise error from last.__cause__

    def complete(self, messages: list[dict[str, Any]], *, on_token: Callable[[str], None] | None = None,
                 on_restart: Callable[[], None] | None = None) -> Completion:
        """Blocking `acomplete`. Called where an event loop is already running in this thread, it
        runs on a helper thread (so ``on_token`` is called from there) and blocks this loop."""
        return _run_sync(lambda: self.acomplete(messages, on_token=on_token, on_restart=on_restart))

    # --- internals -------------------------------------------------------------------------------
    def _request(self, messages: list[dict[str, Any]]):
        from dspy.lm15 import request_from_openai_chat

        if not isinstance(messages, list) or not messages:
            raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
        body: dict[str, Any] = {"model": self.model, "messages": messages, **self._generation}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        try:
            return request_from_openai_chat(body)
        except Exception as exc:  # lm15 refuses what it cannot represent (e.g. n=2, bad roles)
            raise ValueError(f"cannot send these messages/options to {self.model!r}: {exc}") from exc

    async def _attempt(self, request: Any, sink: _TokenSink | None) -> Any:
        try:
            if sink is None:
                return await self._attempt_lm.acall(request)
            with dspy.context(send_stream=sink):
                return await self._attempt_lm.acall(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if sink is not None and sink.callback_error is not None:
                raise sink.callback_error from None
            self._scrub(exc)
            error, retryable, hint = self._classify(exc)
            if retryable:
                raise _Retry(error, hint) from exc
            raise error from exc

    def _completion(self, response: Any, messages: list[dict[str, Any]], latency_s: float) -> Completion:
        text = getattr(response, "text", None) or ""
        usage = usage_from_response(response, self.model, latency_s)
        prompt, completion = _reported_tokens(response)
        if not prompt or completion is None:
            # Not reported (litellm reads a missing usage as zeros; no real prompt is 0 tokens):
            # estimate the tokens, and the price is unknown.
            completion = completion or (estimate_tokens(text) if text else 0)
            usage = Usage(estimate_tokens(_messages_text(messages)), completion, None, latency_s, 1)
        return Completion(text=text, model=self.model, usage=usage)

    def _delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None and math.isfinite(hint) and hint >= 0:
            return min(hint, 60.0)
        base = min(self.retry_backoff_s * (2 ** attempt), 30.0)
        return base * (0.75 + 0.5 * random.random())

    def _redact(self, text: str) -> str:
        secrets = [self._api_key] if self._api_key else []
        for name in key_env_vars(self.model):
            value = os.environ.get(name)
            if value:
                secrets.append(value)
        for secret in secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _scrub(self, exc: BaseException) -> None:
        """Redact keys from the messages of a failure and its causes (kept as ``__cause__``):
        some servers quote the key they were sent in a 401 body."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            try:
                current.args = tuple(self._redact(a) if isinstance(a, str) else a for a in current.args)
                for name in ("message", "msg"):
                    value = getattr(current, name, None)
                    if isinstance(value, str):
                        setattr(current, name, self._redact(value))
            except Exception:
                pass
            current = current.__cause__ or current.__context__

    def _missing_key_error(self, env_vars: Sequence[str], *, status: int | None = None) -> MissingKeyError:
        names = " / ".join(env_vars)
        return MissingKeyError(
            f"model {self.model!r} needs an API key: set {names} "
            f"(or pass api_key=..., or api_base=... for a local OpenAI-compatible server)",
            env_vars=env_vars, model=self.model, status=status)

    def _classify(self, exc: Exception) -> tuple[LMError, bool, float | None]:
        """(our error, retry it?, Retry-After hint) for a failure raised by one dspy.LM attempt."""
        from dspy.utils import exceptions as dx

        detail = self._redact(_short(exc))
        status = getattr(exc, "status", None)
        status = status if isinstance(status, int) else None
        hint = getattr(exc, "retry_after", None)
        hint = float(hint) if isinstance(hint, (int, float)) else None
        where = f" at {_safe_url(self.api_base)}" if self.api_base else ""
        model = self.model
        chain = _chain_text(exc)

        if "missing credentials" in chain or "api_key client option must be set" in chain:
            return self._missing_key_error(key_env_vars(model)), False, None
        if isinstance(exc, dx.LMAuthError):
            names = " / ".join(key_env_vars(model))
            if self._api_key:
                why = "the api_key passed was rejected"
            elif self._placeholder_key:
                why = "the server wants an API key and none was given"
            else:
                why = f"the key in {names} was rejected"
            msg = (f"authentication failed for model {model!r}{where} (HTTP {status or 401}): "
                   f"set {names} or pass a valid api_key ({why})")
            return LMError(msg, model=model, status=status), False, None
        if isinstance(exc, dx.ContextWindowExceededError):
            return ContextWindowError(f"the prompt is too long for model {model!r}'s context window: {detail}",
                                      model=model, status=status), False, None
        if _is_malformed(chain):
            msg = f"model {model!r}{where} returned a malformed response (not valid JSON): {detail}"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if isinstance(exc, dx.LMRateLimitError):
            msg = f"rate limited by the provider of model {model!r}{where} (HTTP {status or 429}): {detail}"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if isinstance(exc, dx.LMTimeoutError):
            msg = f"model {model!r}{where} did not answer within {self.timeout_s:g} s"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if _is_stream_cut(exc, chain):
            msg = f"the stream from model {model!r}{where} was cut before the reply was complete: {detail}"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if isinstance(exc, dx.LMTransportError) or _is_unreachable(chain):
            msg = f"cannot reach model {model!r}{where}: {detail}"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if isinstance(exc, dx.LMServerError) or (status is not None and status >= 500):
            msg = f"server error from model {model!r}{where} (HTTP {status or 500}): {detail}"
            return LMError(msg, model=model, status=status, retryable=True), True, hint
        if isinstance(exc, dx.LMUnsupportedModelError):
            msg = f"model {model!r} is not available{where} (HTTP {status or 404}): {detail}"
            return LMError(msg, model=model, status=status), False, None
        if isinstance(exc, dx.LMInvalidRequestError):
            msg = f"model {model!r}{where} rejected the request (HTTP {status or 400}): {detail}"
            return LMError(msg, model=model, status=status), False, None
        if isinstance(exc, dx.LMBillingError):
            msg = f"billing or quota error for model {model!r}{where}: {detail}"
            return LMError(msg, model=model, status=status), False, None
        retryable = dx.is_retryable_lm_error(exc)
        msg = f"call to model {model!r}{where} failed: {detail}"
        return LMError(msg, model=model, status=status, retryable=retryable), retryable, hint


def _safe_url(url: str) -> str:
    """A URL without credentials (``user:pass@``) or query string, for messages and repr."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if parts.scheme else url
    except ValueError:
        return "<api_base>"


def _chain_text(exc: BaseException) -> str:
    """Lower-cased messages of an exception and its causes (for recognising known failures)."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts).lower()


_MALFORMED = ("expecting value", "expecting property name", "jsondecodeerror", "invalid json",
              "unterminated string", "extra data: line")


def _is_malformed(chain: str) -> bool:
    return any(marker in chain for marker in _MALFORMED)


_UNREACHABLE = ("connection refused", "connecterror", "clientconnectorerror", "cannot connect to host",
                "name or service not known", "nodename nor servname", "temporary failure in name resolution",
                "connection error")


def _is_unreachable(chain: str) -> bool:
    return any(marker in chain for marker in _UNREACHABLE)


def _is_stream_cut(exc: BaseException, chain: str) -> bool:
    from dspy.utils import exceptions as dx

    return (isinstance(exc, dx.LMStreamAssemblyError) or "midstreamfallbackerror" in chain
            or "peer closed connection" in chain or "incomplete chunked read" in chain
            or "stream ended without" in chain)


def _short(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error's message, without DSPy's "[model]" prefix and litellm's noise."""
    text = str(getattr(exc, "message", None) or exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    text = re.sub(r"^(litellm\.\w+:\s*)+", "", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
