"""One llama.cpp model per GGUF file, in-process: loaded once, calls serialised, prompt prefixes reused.

`LocalModel.generate(messages, ...)` renders the chat with the GGUF's own template, tokenizes it,
and generates (streaming text deltas to ``on_text`` if given). Only one call runs at a time per model
(a lock); `LocalModel.executor` is a one-thread pool for async callers, so waiting calls queue there
instead of occupying the event loop's default executor.

Prefix reuse. llama.cpp keeps the KV cache of the last sequence: when the next prompt starts with the
same tokens (the root prompt of an RLM grows by appending), only the new suffix is processed. A
sub-call in between (``llm_query`` with another prompt) overwrites that cache, so after a long call
that opens with a system prompt the KV state of its sequence is stashed (``llama_state_seq_get_data``:
the KV cells only, ~12 KB a token for the 0.5B model, unlike ``Llama.save_state``/``LlamaRAMCache``,
which also copy an n_batch x vocab logits array, ~300 MB for Qwen's 152K vocabulary, on every
call); a later prompt sharing a longer prefix with a stash than with the live cache gets it restored
first. ``prefix_cache=False`` (or RLM_TUI_LOCAL_PREFIX_CACHE=0) re-processes every prompt in full.

A constrained reply (``grammar`` given: a root reply, see reply_grammar.py) streams through a
`RunawayGuard` (runaway.py): line by line, cut with a note and closed when it loops or hits its
token limit, so it always ends as a cell that runs.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import ctypes
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm_tui.local.runaway import RunawayGuard

DEFAULT_N_CTX = 8192  # the window when a model's KV size is unknown (a GGUF given by path)
CONTEXT_SIZES = (32_768, 16_384, 8_192)  # tried largest first
KV_MEMORY_SHARE = 4  # the KV cache and its stashes take at most 1/4 of the available memory
DEFAULT_MAX_TOKENS = 1024  # a root reply is one code cell; caps a small model's runaway output


class LocalModelError(RuntimeError):
    """The local model cannot run (runtime missing, weights missing, prompt too long...)."""


class LlamaMissingError(LocalModelError):
    """llama-cpp-python is not installed."""


class ContextOverflowError(LocalModelError):
    """The prompt does not fit the model's context window."""


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "") or default))
    except ValueError:
        return default


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux; 8 GiB when it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def context_size(trained: int, kv_bytes_per_token: int, *, stash_slots: int = 2,
                 memory: int | None = None) -> int:
    """The context window to open a model with: RLM_TUI_LOCAL_CTX if set, else the largest of
    `CONTEXT_SIZES` (up to what the model was trained for) whose KV cache, with a copy per prefix
    stash, fits in 1/`KV_MEMORY_SHARE` of the available memory. Qwen2.5-Coder: 32K when ~4 GB
    (1.5B) or ~1.6 GB (0.5B) are free. Unknown KV size: `DEFAULT_N_CTX`."""
    if os.environ.get("RLM_TUI_LOCAL_CTX", "").strip():
        return _env_int("RLM_TUI_LOCAL_CTX", DEFAULT_N_CTX)
    if kv_bytes_per_token <= 0:
        return min(DEFAULT_N_CTX, trained)
    budget = (available_memory() if memory is None else memory) // KV_MEMORY_SHARE
    for size in CONTEXT_SIZES:
        if size <= trained and size * kv_bytes_per_token * (1 + stash_slots) <= budget:
            return size
    return min(CONTEXT_SIZES[-1], trained)


def default_threads() -> tuple[int, int]:
    """(generation threads, prompt-processing threads).

    Generation is memory-bound and synchronises threads per layer: measured on 2 busy cores, 2
    threads generated 2-7 tok/s where 1 thread did 25-29 (a preempted thread stalls every step).
    Prompt processing is compute-bound and scales with cores. Override with RLM_TUI_LOCAL_THREADS
    and RLM_TUI_LOCAL_BATCH_THREADS.
    """
    cores = _cores()
    return (
        _env_int("RLM_TUI_LOCAL_THREADS", max(1, min(cores // 2, 4))),
        _env_int("RLM_TUI_LOCAL_BATCH_THREADS", max(1, min(cores, 8))),
    )


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as e:
        raise LlamaMissingError(
            "the offline model runtime (llama-cpp-python) is not installed: install the local extra: "
            "pip install 'rlm-tui[local]' (see the README for the portable build flags), "
            "then rlm-tui models pull NAME"
        ) from e
    return llama_cpp


@dataclass(frozen=True)
class GenerationStats:
    """What one call cost: tokens, how much of the prompt was reused, and timings."""

    prompt_tokens: int
    completion_tokens: int
    reused_tokens: int  # prompt tokens already in the KV cache (not processed again)
    restored_tokens: (
        int  # of those, tokens that came back from a stash (0 if the live cache was used)
    )
    time_to_first_token_s: float
    total_s: float
    finish_reason: str

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens processed by this call."""
        return self.prompt_tokens - self.reused_tokens


@dataclass(frozen=True)
class Generation:
    text: str
    stats: GenerationStats


@dataclass
class _Stash:
    tokens: list[int]
    state: bytes
    used: float = field(default_factory=time.monotonic)
    hits: int = 0  # times restored or extended: a conversation that keeps coming back


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LocalModel:
    """A GGUF model in llama.cpp. Thread-safe: every call holds ``lock``."""

    def __init__(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        prefix_cache: bool | None = None,
        stash_slots: int = 2,
        stash_min_tokens: int = 256,
        max_tokens: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.n_ctx = n_ctx or _env_int("RLM_TUI_LOCAL_CTX", DEFAULT_N_CTX)
        threads, batch_threads = default_threads()
        self.n_threads = n_threads or threads
        self.n_threads_batch = n_threads_batch or batch_threads
        if prefix_cache is None:
            flag = os.environ.get("RLM_TUI_LOCAL_PREFIX_CACHE", "1").strip().lower()
            prefix_cache = flag not in ("0", "false", "no", "off")
        self.prefix_cache = prefix_cache
        self.stash_slots = stash_slots
        self.stash_min_tokens = stash_min_tokens
        self.max_tokens = max_tokens or _env_int("RLM_TUI_LOCAL_MAX_TOKENS", DEFAULT_MAX_TOKENS)
        self.lock = threading.Lock()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"rlm-tui-{self.name}"
        )
        self.load_s: float | None = None
        self._llm: Any = None
        self._formatter: Any = None
        self._add_bos = False
        self._stashes: list[_Stash] = []
        self._closed = False
        self.calls: collections.deque[GenerationStats] = collections.deque(
            maxlen=1000
        )  # newest last

    def __repr__(self) -> str:
        return f"LocalModel({self.name!r}, n_ctx={self.n_ctx}, loaded={self._llm is not None})"

    # --- lifecycle ------------------------------------------------------------------------------
    def load(self) -> Any:
        """The `llama_cpp.Llama`, loaded on first use (under the lock)."""
        with self.lock:
            return self._load()

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        if self._closed:
            raise LocalModelError(f"offline model {self.name} was closed")
        llama_cpp = import_llama_cpp()
        if not self.path.is_file():
            raise LocalModelError(f"offline model file {self.path} is missing")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        start = time.monotonic()
        try:
            llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads_batch,
                n_batch=512,
                verbose=False,
            )
        except Exception as e:  # llama.cpp says little: "Failed to load model from file"
            raise LocalModelError(f"llama.cpp could not load {self.path}: {e}") from e
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            llm.close()
            raise LocalModelError(f"{self.path.name} has no chat template in its GGUF metadata")
        model = llm._model
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        eos = model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = model.token_get_text(bos_id) if bos_id != -1 else ""
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
        )
        self._add_bos = bool(model.add_bos_token()) and bos_id != -1
        self._llm = llm
        self.load_s = time.monotonic() - start
        return llm

    def close(self, timeout: float = 5.0) -> bool:
        """Free the model (waits up to ``timeout`` for a running call; returns whether it closed)."""
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            self._closed = True
            self._stashes.clear()
            if self._llm is not None:
                self._llm.close()
                self._llm = None
        finally:
            self.lock.release()
        self.executor.shutdown(wait=False, cancel_futures=True)
        return True

    # --- prompts --------------------------------------------------------------------------------
    def prompt_tokens(self, messages: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
        """The chat rendered by the GGUF's template and tokenized, and its stop strings."""
        llm = self._load()
        rendered = self._formatter(messages=_plain_messages(messages))
        tokens = llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=False, special=True)
        if self._add_bos and (not tokens or tokens[0] != llm.token_bos()):
            tokens = [llm.token_bos(), *tokens]
        stops = [
            s for s in (rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]) if s
        ]
        return tokens, stops

    def count_tokens(self, text: str) -> int:
        with self.lock:
            return (
                len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=False))
                if text
                else 0
            )

    # --- generation -----------------------------------------------------------------------------
    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        stop: Sequence[str] | str | None = None,
        seed: int | None = None,
        grammar: str | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Generate a chat reply. ``grammar`` (GBNF) constrains it; ``on_text`` gets each text
        delta; setting ``cancel`` stops early."""
        with self.lock:
            return self._generate(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=stop,
                seed=seed,
                grammar=grammar,
                on_text=on_text,
                cancel=cancel,
            )

    def _generate(
        self, messages, *, max_tokens, temperature, top_p, stop, seed, grammar, on_text, cancel
    ) -> Generation:
        start = time.monotonic()
        llm = self._load()
        tokens, template_stops = self.prompt_tokens(messages)
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(
                f"the prompt is {len(tokens):,} tokens; offline model {self.name} has a {self.n_ctx:,}-token "
                f"context window (set RLM_TUI_LOCAL_CTX to raise it)"
            )
        room = self.n_ctx - len(tokens)
        limit = min(max_tokens or self.max_tokens, self.max_tokens, room)
        restored = self._restore_best_prefix(llm, tokens) if self.prefix_cache else 0
        if not self.prefix_cache:
            llm.reset()
        live = _common_prefix(llm._input_ids.tolist(), tokens) if self.prefix_cache else 0
        reused = min(live, len(tokens) - 1)  # llama_cpp re-evaluates the last token when all match
        stops = [*template_stops, *([stop] if isinstance(stop, str) else (stop or []))]
        kwargs: dict[str, Any] = {
            "max_tokens": limit,
            "temperature": temperature,
            "stop": stops,
            "stream": True,
            "seed": seed,
        }
        if top_p is not None:
            kwargs["top_p"] = top_p
        sampler = None
        if grammar is not None and temperature == 0:
            # Greedy: our sampler checks the grammar only where the greedy token breaks it.
            from rlm_tui.local.grammar_sampler import GreedyGrammarSampler

            sampler = GreedyGrammarSampler(import_llama_cpp(), llm._model, grammar)
            llm._init_sampler = lambda **_options: sampler  # what Llama.generate builds its sampler with
        elif grammar is not None:
            kwargs["grammar"] = import_llama_cpp().LlamaGrammar.from_string(grammar, verbose=False)
        pieces: list[str] = []

        def emit(text: str) -> None:
            if text:
                pieces.append(text)
                if on_text is not None:
                    on_text(text)

        guard = RunawayGuard() if grammar is not None else None  # a constrained reply must end as a cell
        first: float | None = None
        finish = "stop"
        stream = llm.create_completion(tokens, **kwargs)
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                if text and first is None:
                    first = time.monotonic() - start
                emit(guard.feed(text) if guard is not None else text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if cancel is not None and cancel.is_set():
                    finish = "stop"
                    break
                if guard is not None and guard.tripped:
                    break
            if guard is not None:
                emit(guard.end(token_limit=limit if finish == "length" else None))
        finally:
            stream.close()
            if sampler is not None:
                del llm._init_sampler  # back to the class's
                llm._sampler = None
                sampler.close()
        text = "".join(pieces)
        completion = (
            len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
        )
        if self.prefix_cache:
            self._stash(llm, messages)
        total = time.monotonic() - start
        stats = GenerationStats(
            prompt_tokens=len(tokens),
            completion_tokens=completion,
            reused_tokens=max(reused, 0),
            restored_tokens=restored,
            time_to_first_token_s=first if first is not None else total,
            total_s=total,
            finish_reason=finish,
        )
        self.calls.append(stats)
        return Generation(text, stats)

    # --- prefix stash ------------------------------------------------------------------------------
    def _stash(self, llm: Any, messages: list[dict[str, Any]]) -> None:
        """Keep the KV state of this call's sequence for a later call that extends it.

        Only prompts that open with a system message are stashed: the root prompt and typed
        predicts, which later calls extend or share; one-shot ``llm_query`` prompts (a lone user
        message) are not, so a batch of them cannot push the root conversation out. The newest
        stash is always kept; the other slots go to the stashes hit most, then most recently.
        """
        n = llm.n_tokens
        if n < self.stash_min_tokens or self.stash_slots <= 0:
            return
        if not messages or messages[0].get("role") != "system":
            return
        tokens = llm.input_ids[:n].tolist()
        # A stash that this sequence extends is superseded by it (and hands on its hits).
        hits = 0
        kept = []
        for stash in self._stashes:
            if _common_prefix(stash.tokens, tokens) == len(stash.tokens):
                hits = max(hits, stash.hits + 1)
            else:
                kept.append(stash)
        llama_cpp = import_llama_cpp()
        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not written:
            self._stashes = kept
            return
        kept.sort(key=lambda s: (s.hits, s.used), reverse=True)
        self._stashes = [
            _Stash(tokens, bytes(memoryview(buffer)[:written]), hits=hits),
            *kept[: self.stash_slots - 1],
        ]

    def _restore_best_prefix(self, llm: Any, tokens: list[int]) -> int:
        """Restore the stash sharing the longest prefix with ``tokens`` if it beats the live cache."""
        if not self._stashes:
            return 0
        live = _common_prefix(llm._input_ids.tolist(), tokens)
        best, best_len = None, live
        for stash in self._stashes:
            shared = _common_prefix(stash.tokens, tokens)
            if shared > best_len + 16:
                best, best_len = stash, shared
        if best is None:
            return 0
        llama_cpp = import_llama_cpp()
        ctx = llm._ctx.ctx
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        source = (ctypes.c_uint8 * len(best.state)).from_buffer_copy(best.state)
        if llama_cpp.llama_state_seq_set_data(ctx, source, len(best.state), 0) == 0:
            llm.reset()
            self._stashes.remove(best)
            return 0
        n = len(best.tokens)
        llm.input_ids[:n] = best.tokens
        llm.n_tokens = n
        llm._requires_eval = True
        best.used = time.monotonic()
        best.hits += 1
        return best_len


def _plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with list-of-parts content flattened to text (the template wants strings)."""
    plain = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        plain.append({"role": message.get("role", "user"), "content": content or ""})
    return plain


# --- one LocalModel per file, closed at exit ---------------------------------------------------------
_registry: dict[str, LocalModel] = {}
_registry_lock = threading.Lock()


def local_model(path: Path | str, *, name: str | None = None, n_ctx: int | None = None) -> LocalModel:
    """The shared `LocalModel` for ``path`` (created on first use; loaded on its first call)."""
    key = str(Path(path).resolve())
    with _registry_lock:
        model = _registry.get(key)
        if model is None or model._closed:
            if not _registry:
                atexit.register(close_all)
            model = _registry[key] = LocalModel(path, name=name, n_ctx=n_ctx)
        return model


def close_all() -> None:
    """Close every shared model (at exit; a model busy in another thread is left to the OS)."""
    with _registry_lock:
        models = list(_registry.values())
        _registry.clear()
    for model in models:
        model.close(timeout=2.0)
