"""A local OpenAI-compatible chat completions server for tests and offline examples.

:class:`FakeLLMServer` answers ``POST /v1/chat/completions`` (and ``/chat/completions``) on ``127.0.0.1`` with a free
port, using the standard library's ``http.server`` only. Replies are scripted in order; when the script runs out the
server echoes the last user message. Every request is recorded, so a test can assert on what a client sent.

It speaks enough of the protocol for LiteLLM, the ``openai`` SDK and pydantic-ai's OpenAI provider: plain text
replies, tool calls, token usage, and streaming as server-sent events (``"stream": true``), including the final usage
chunk asked for with ``stream_options.include_usage``.

Example::

    with FakeLLMServer() as server:
        server.script("Hello!", tool_call("lookup", {"city": "Paris"}))
        client = LLMClient("openai/test-model", api_base=server.base_url, api_key="test")
        assert client.completion_text([make_message("user", "hi")]) == "Hello!"
        assert server.requests[0].messages[-1]["content"] == "hi"
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "FakeLLMServer",
    "FakeReply",
    "FakeToolCall",
    "RecordedRequest",
    "echo_reply",
    "error_reply",
    "tool_call",
]


@dataclass(frozen=True)
class FakeToolCall:
    """One function call the fake model asks for.

    Attributes:
        name: The tool's name.
        arguments: The arguments, as a mapping (sent JSON-encoded) or an already encoded string.
        id: The call id; generated when empty.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str = ""

    def encoded_arguments(self) -> str:
        """The arguments as the JSON string the protocol carries."""
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer of the fake model.

    Attributes:
        content: The assistant text (None for a reply made only of tool calls).
        tool_calls: Function calls the model asks for.
        finish_reason: Defaults to ``tool_calls`` when there are tool calls, else ``stop``.
        usage: ``(prompt_tokens, completion_tokens)``; counted from whitespace-separated words when None.
        status: An HTTP status other than 200 makes the server answer with an OpenAI-style error body.
        chunks: How a streamed reply is cut into deltas; by default one chunk per word.
    """

    content: str | None = None
    tool_calls: tuple[FakeToolCall, ...] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    status: int = 200
    chunks: tuple[str, ...] | None = None

    def resolved_finish_reason(self) -> str:
        """The finish reason sent to the client."""
        if self.finish_reason:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


#: A scripted entry: a fixed reply, plain text, or a function of the request that returns either.
ReplySpec = FakeReply | str | Callable[["RecordedRequest"], "FakeReply | str"]


def tool_call(name: str, arguments: dict[str, Any] | str | None = None, *, id: str = "") -> FakeReply:  # noqa: A002
    """A reply that asks for one call of tool ``name`` with ``arguments``."""
    return FakeReply(tool_calls=(FakeToolCall(name, arguments if arguments is not None else {}, id),))


def error_reply(status: int, message: str = "scripted failure") -> FakeReply:
    """A reply that fails with HTTP ``status`` and an OpenAI-style error body carrying ``message``."""
    return FakeReply(content=message, status=status)


def echo_reply(request: RecordedRequest) -> FakeReply:
    """The default reply: ``"echo: <last user message>"``."""
    return FakeReply(content=f"echo: {request.last_user_text()}")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received.

    Attributes:
        method: HTTP method.
        path: Request path.
        headers: Request headers (lower-case names).
        body: The decoded JSON body (empty for a request without one).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        """The ``model`` field of the body."""
        return self.body.get("model")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the body."""
        return list(self.body.get("messages") or [])

    @property
    def stream(self) -> bool:
        """Whether the client asked for a streamed answer."""
        return bool(self.body.get("stream"))

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions the client offered."""
        return list(self.body.get("tools") or [])

    def last_user_text(self) -> str:
        """The text of the last user message (text parts joined when the content is a list)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text_of(message.get("content"))
        return ""


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _word_count(text: str) -> int:
    return len(text.split())


class FakeLLMServer:
    """An OpenAI-compatible chat completions server on ``127.0.0.1`` for tests.

    Args:
        replies: Initial script, consumed one entry per chat completion request.
        default: What to answer once the script is empty (default :func:`echo_reply`).
        model_id: The model listed by ``GET /v1/models`` and used when a request names none.

    Start it with :meth:`start` (or ``with``) and stop it with :meth:`stop`; both are idempotent.
    """

    def __init__(
        self,
        replies: Iterable[ReplySpec] = (),
        *,
        default: ReplySpec = echo_reply,
        model_id: str = "test-model",
    ) -> None:
        self.default = default
        self.model_id = model_id
        self._script: deque[ReplySpec] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Bind a free loopback port and serve in a daemon thread. Returns self."""
        if self._httpd is None:
            handler = type("_BoundHandler", (_Handler,), {"fake": self})
            self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            self._httpd.daemon_threads = True
            # A short poll interval keeps stop() quick: shutdown() waits for the serving loop's next poll.
            self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-llm",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the serving thread."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients should use: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.url}/v1"

    # -- script and records -------------------------------------------------------------------------------------------

    def script(self, *replies: ReplySpec) -> None:
        """Append replies to the script."""
        with self._cond:
            self._script.extend(replies)

    def clear(self) -> None:
        """Forget the script and the recorded requests."""
        with self._cond:
            self._script.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the chat completion requests received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    @property
    def pending_replies(self) -> int:
        """How many scripted replies are still unused."""
        with self._cond:
            return len(self._script)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived; raises TimeoutError after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} requests, got {len(self._requests)} within {timeout}s")
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> FakeReply:
        with self._cond:
            self._requests.append(request)
            spec = self._script.popleft() if self._script else self.default
            self._cond.notify_all()
        if callable(spec):
            spec = spec(request)
        return FakeReply(content=spec) if isinstance(spec, str) else spec


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection; ``fake`` is bound to the owning server by :meth:`FakeLLMServer.start`."""

    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet: test output is for the test."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": self.fake.model_id, "object": "model", "created": 0, "owned_by": "graflow"}]})
        else:
            self._send_json(404, _error_body("not found", "invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, _error_body(f"unknown path {self.path}", "invalid_request_error"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error_body("body is not JSON", "invalid_request_error"))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest("POST", self.path, headers, body if isinstance(body, dict) else {})
        reply = self.fake._record(request)
        if reply.status != 200:
            self._send_json(reply.status, _error_body(reply.content or "error", "api_error"))
        elif request.stream:
            self._send_stream(request, reply)
        else:
            self._send_json(200, _completion_body(request, reply, self.fake.model_id))

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, request: RecordedRequest, reply: FakeReply) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # the end of the body is the end of the connection
        self.end_headers()
        self.close_connection = True
        for chunk in _stream_chunks(request, reply, self.fake.model_id):
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _usage(request: RecordedRequest, reply: FakeReply) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        prompt = sum(_word_count(_text_of(m.get("content"))) for m in request.messages)
        completion = _word_count(reply.content or "") + sum(
            1 + _word_count(call.encoded_arguments()) for call in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _call_ids(reply: FakeReply) -> list[str]:
    return [call.id or f"call_{uuid.uuid4().hex[:12]}" for call in reply.tool_calls]


def _completion_body(request: RecordedRequest, reply: FakeReply, model_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function",
             "function": {"name": call.name, "arguments": call.encoded_arguments()}}
            for call, call_id in zip(reply.tool_calls, _call_ids(reply), strict=True)
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or model_id,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.resolved_finish_reason()}],
        "usage": _usage(request, reply),
    }


def _stream_chunks(request: RecordedRequest, reply: FakeReply, model_id: str) -> Iterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": request.model or model_id}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield chunk({"role": "assistant", "content": ""})
    if reply.content:
        pieces = reply.chunks if reply.chunks is not None else _split_words(reply.content)
        for piece in pieces:
            yield chunk({"content": piece})
    for index, (call, call_id) in enumerate(zip(reply.tool_calls, _call_ids(reply), strict=True)):
        yield chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                     "function": {"name": call.name, "arguments": ""}}]})
        yield chunk({"tool_calls": [{"index": index, "function": {"arguments": call.encoded_arguments()}}]})
    yield chunk({}, reply.resolved_finish_reason())
    if (request.body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(request, reply)}


def _split_words(text: str) -> list[str]:
    """Cut ``text`` into word-sized pieces that join back to exactly ``text``."""
    pieces: list[str] = []
    for index, word in enumerate(text.split(" ")):
        pieces.append(word if index == 0 else " " + word)
    return [piece for piece in pieces if piece]
