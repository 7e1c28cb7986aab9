"""A scripted OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, no real model.

litellm talks to it exactly as to any OpenAI-compatible endpoint
(``model="openai/<name>", api_base=server.url``), so retries, errors, usage and streaming are
exercised for real. Replies are scripted per model name::

    with ScriptedServer() as server:
        server.script("root", "```python\\nprint(1)\\n```", Reply("done", latency_s=0.1))
        server.script("sub", Reply(fault="429"), "sub answer")   # 429 once, then the answer
        server.default(lambda req: "echo: " + last_user_text(req))  # when a queue is empty
        ... litellm.completion(model="openai/root", api_base=server.url, api_key="x", ...)
        assert server.requests[0].model == "root"

Every reply is served ``times`` times (default once) before the next one. Faults
(``Reply(fault=...)``):
  - an HTTP status as a string (``"429"``, ``"500"``, ``"400"``, ``"401"``, ...): an OpenAI-style
    error body with that status (429 carries ``Retry-After`` when ``retry_after`` is set);
  - ``"hang"``: never answers; the handler returns when the client goes away or the server stops;
  - ``"cut"``: streaming: half of the chunks, then the connection is dropped mid-body
    (non-streaming: a truncated body);
  - ``"garbage"``: status 200 with a body that is not JSON (streaming: SSE lines that are not JSON);
  - ``"context"``: HTTP 400 ``context_length_exceeded``, as OpenAI answers an over-long prompt.

Standalone (for end-to-end tests of the installed CLI)::

    python tests/support/scripted_server.py --port 0 --script FILE.json

prints its URL (``http://127.0.0.1:PORT/v1``) on the first line of stdout, then serves until
SIGTERM/SIGINT. The script file: ``{"root": ["reply", {"text": "...", "fault": "429"}, ...],
"sub": [...], "default": "echo" | "<constant text>", "latency_s": 0.0}``.

Stdlib only (``http.server``), so it also runs outside the project's venv.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "echo_reply",
    "estimate_tokens",
    "last_user_text",
]

SPECIAL_FAULTS = ("hang", "cut", "garbage", "context")


@dataclass
class Reply:
    """One scripted answer.

    ``latency_s`` is added to the server's global latency before the first byte. ``chunk_delay_s``
    is the pause between streamed chunks (streaming only). ``usage`` overrides the estimated
    ``{"prompt_tokens": .., "completion_tokens": ..}``; ``omit_usage`` sends none at all. A reply
    (a fault too) is served ``times`` times before the next one in its queue.
    """

    text: str = ""
    latency_s: float = 0.0
    fault: str | None = None
    usage: dict[str, int] | None = None
    times: int = 1
    chunk_delay_s: float = 0.0
    retry_after: float | None = None
    finish_reason: str = "stop"
    omit_usage: bool = False

    def __post_init__(self) -> None:
        if self.fault is not None:
            self.fault = str(self.fault)
            if self.fault not in SPECIAL_FAULTS and not re.fullmatch(r"[1-5]\d\d", self.fault):
                raise ValueError(f"unknown fault {self.fault!r}: an HTTP status or one of {SPECIAL_FAULTS}")
        if self.times < 1:
            raise ValueError("times must be >= 1")


@dataclass
class RecordedRequest:
    """What the server saw (and did) for one HTTP request. Times are ``time.monotonic()``."""

    method: str
    path: str
    body: dict[str, Any] | None
    model: str | None
    messages: list[dict[str, Any]]
    stream: bool
    start: float
    end: float | None = None
    status: int | None = None
    reply_text: str | None = None
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """All message contents joined (handy for ``assert "x" in req.prompt_text``)."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last user message of a chat request body."""
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def echo_reply(request: dict[str, Any]) -> str:
    """The default fallback: a deterministic answer derived from the last user message."""
    return f"echo: {last_user_text(request)}"


def estimate_tokens(text: str) -> int:
    """About 4 characters per token, at least 1 for non-empty text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _split_stream(text: str) -> list[str]:
    """Word-sized chunks that concatenate back to ``text`` exactly."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [""]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered: a JSON reply's last bytes leave when the handler returns, after the request is
    # recorded as finished, so a client never sees a reply before `server.requests` does.
    wbufsize = -1
    server: _HTTPServer  # type: ignore[assignment]

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests read server.requests instead

    # --- routing ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        owner = self.server.owner
        record = owner._record(self, None)
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            models = sorted(set(owner._queues) | owner.known_models) or ["scripted"]
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in models]})
            owner._finish(record, 200)
        else:
            self._send_error_json(404, "not found", "not_found_error")
            owner._finish(record, 404)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError:
            record = owner._record(self, None)
            self._send_error_json(400, "request body is not a JSON object", "invalid_request_error")
            owner._finish(record, 400)
            return
        record = owner._record(self, body)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error_json(404, f"no route {self.path}", "not_found_error")
            owner._finish(record, 404)
            return
        try:
            status = self._chat(body, record)
        except (BrokenPipeError, ConnectionResetError, OSError):
            status = 499  # the client went away mid-reply
        owner._finish(record, status)

    # --- the chat endpoint -------------------------------------------------------------------
    def _chat(self, body: dict[str, Any], record: RecordedRequest) -> int:
        owner = self.server.owner
        reply = owner._next_reply(body)
        record.fault = reply.fault
        record.reply_text = reply.text
        delay = owner.latency_s + reply.latency_s
        if delay > 0 and owner._stopping.wait(delay):
            self.close_connection = True
            return 503
        fault = reply.fault
        stream = bool(body.get("stream"))
        if fault == "hang":
            self._hang()
            self.close_connection = True
            return 0
        if fault == "garbage":
            return self._garbage(stream)
        if fault == "context":
            self._send_json(400, {"error": {
                "message": "This model's maximum context length is 8192 tokens. However, your messages "
                           "resulted in 9000 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
            return 400
        if fault is not None and fault != "cut":
            status = int(fault)
            kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
            message = f"scripted fault {status}"
            if status == 401:  # like OpenAI, quote the key it was sent (tests check it is redacted)
                sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                message = f"Incorrect API key provided: {sent or '<none>'}"
            self._send_error_json(status, message, kind, headers)
            return status

        prompt_text = "\n".join(_content_text(m.get("content")) for m in body.get("messages") or [])
        usage = {"prompt_tokens": estimate_tokens(prompt_text), "completion_tokens": estimate_tokens(reply.text)}
        usage.update(reply.usage or {})
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        model = body.get("model") or "scripted"
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(reply, model, completion_id,
                                usage if include_usage and not reply.omit_usage else None, cut=fault == "cut")
        payload = {
            "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": usage,
        }
        if reply.omit_usage:
            del payload["usage"]
        if fault == "cut":
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._drop()
            return 200
        self._send_json(200, payload)
        return 200

    def _stream(self, reply: Reply, model: str, completion_id: str, usage: dict[str, int] | None,
                *, cut: bool) -> int:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_scripted",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}

        pieces = _split_stream(reply.text)
        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in pieces]
        events.append(chunk({}, reply.finish_reason))
        if usage is not None:
            events.append({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                           "model": model, "choices": [], "usage": usage})
        if cut:
            events = events[: max(2, (len(pieces) + 1) // 2 + 1)]  # the role chunk + about half the text
        chunk_delay = reply.chunk_delay_s or owner.chunk_delay_s
        for i, event in enumerate(events):
            if i > 1 and chunk_delay > 0 and owner._stopping.wait(chunk_delay):
                self._drop()
                return 503
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        if cut:
            self._drop()
            return 200
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # chunked-encoding terminator
        return 200

    def _garbage(self, stream: bool) -> int:
        if stream:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._write_chunk(b"data: {this is not json\n\n")
            self._write_chunk(b"data: <html>502 Bad Gateway</html>\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
            return 200
        data = b"<html><body>502 Bad Gateway (scripted garbage)</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return 200

    def _hang(self) -> None:
        """Block until the server stops or the client closes its end."""
        owner = self.server.owner
        sock = self.connection
        while not owner._stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.05)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    return  # client closed the connection (it timed out)
            except (OSError, ValueError):
                return

    # --- low-level writers ---------------------------------------------------------------------
    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the TCP connection abruptly, mid-body."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)  # flushed after do_POST/do_GET return (see wbufsize)

    def _send_error_json(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": kind}},
                        headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: ScriptedServer


ReplyLike = Reply | str
DefaultFn = Callable[[dict[str, Any]], ReplyLike]


class ScriptedServer:
    """The server object: ``start()``/``stop()`` or a context manager. Thread-safe scripting."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_s: float = 0.0,
                 chunk_delay_s: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[RecordedRequest] = []
        self.known_models: set[str] = set()
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._default: DefaultFn = echo_reply
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The OpenAI base URL, ending in ``/v1``."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"scripted-server:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even with hanging requests in flight."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes hang/latency waits
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting -------------------------------------------------------------------------------
    def script(self, model: str, *replies: ReplyLike) -> ScriptedServer:
        """Queue replies for requests whose ``model`` equals ``model`` (served in order)."""
        with self._lock:
            self.known_models.add(model)
            self._queues[model].extend(r if isinstance(r, Reply) else Reply(str(r)) for r in replies)
        return self

    def default(self, fn: DefaultFn | str) -> ScriptedServer:
        """Fallback when a model's queue is empty: ``fn(request_body) -> Reply | str``, or a constant."""
        with self._lock:
            self._default = (lambda _request, text=fn: text) if isinstance(fn, str) else fn
        return self

    def pending(self, model: str | None = None) -> int:
        """Replies still queued (for one model, or all)."""
        with self._lock:
            if model is not None:
                return sum(r.times for r in self._queues.get(model, ()))
            return sum(r.times for q in self._queues.values() for r in q)

    def clear(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queues.clear()
            self.requests.clear()

    def chat_requests(self, model: str | None = None) -> list[RecordedRequest]:
        """Recorded chat-completion requests, optionally for one model."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")
                    and (model is None or r.model == model)]

    # --- internals (called from handler threads) --------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        model = str(body.get("model") or "")
        with self._lock:
            queue = self._queues.get(model)
            if queue:
                head = queue[0]
                if head.times > 1:
                    head.times -= 1
                    return dataclasses.replace(head, times=1)
                return queue.popleft()
            default = self._default
        result = default(body)
        return result if isinstance(result, Reply) else Reply(str(result))

    def _record(self, handler: _Handler, body: dict[str, Any] | None) -> RecordedRequest:
        body = body or {}
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        record = RecordedRequest(
            method=handler.command, path=handler.path, body=body or None, model=body.get("model"),
            messages=messages, stream=bool(body.get("stream")), start=time.monotonic(),
            headers={k.lower(): v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.requests.append(record)
        return record

    def _finish(self, record: RecordedRequest, status: int) -> None:
        record.status = status
        record.end = time.monotonic()


# --- standalone ---------------------------------------------------------------------------------
def _reply_from_json(item: Any) -> Reply:
    if isinstance(item, str):
        return Reply(item)
    if isinstance(item, dict):
        return Reply(**item)
    raise ValueError(f"a scripted reply is a string or an object, not {item!r}")


def load_script(server: ScriptedServer, script: dict[str, Any]) -> None:
    """Apply a JSON script (see the module docstring) to ``server``."""
    script = dict(script)
    default = script.pop("default", "echo")
    server.latency_s = float(script.pop("latency_s", server.latency_s))
    server.chunk_delay_s = float(script.pop("chunk_delay_s", server.chunk_delay_s))
    for model, replies in script.items():
        if not isinstance(replies, list):
            raise ValueError(f"script[{model!r}] must be a list of replies")
        server.script(model, *(_reply_from_json(r) for r in replies))
    if default == "echo":
        server.default(echo_reply)
    elif isinstance(default, dict):
        reply = _reply_from_json(default)
        server.default(lambda _request: reply)
    else:
        server.default(str(default))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible chat server (for tests).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON file: {model: [replies...], 'default': 'echo' | text}")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args(argv)

    server = ScriptedServer(host=args.host, port=args.port, latency_s=args.latency)
    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            load_script(server, json.load(fh))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(server.url, flush=True)
    try:
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
