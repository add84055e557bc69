"""A local HTTP server that answers the part of Langfuse's public API the SDK uses to fetch prompts.

``GET /api/public/v2/prompts/{name}?label=...&version=...`` with HTTP basic auth (public key, secret key). Without
label and version it serves the ``production`` label, as Langfuse does; an unknown prompt, label or version is a 404.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

PROMPTS_PATH = "/api/public/v2/prompts/"
SECRET_KEY = "sk-lf-test"


@dataclass
class FakeLangfuse:
    """Prompt versions by name, the requests received, and errors to answer with."""

    prompts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add(self, name: str, version: int, prompt: Any, labels: list[str], config: Any = None) -> None:
        kind = "chat" if isinstance(prompt, list) else "text"
        self.prompts.setdefault(name, []).append({
            "type": kind, "name": name, "version": version, "prompt": prompt, "config": config or {},
            "labels": labels, "tags": [], "commitMessage": None,
        })

    def lookup(self, name: str, label: str | None, version: int | None) -> dict[str, Any] | None:
        for entry in self.prompts.get(name, []):
            if version is not None and entry["version"] == version:
                return entry
            if version is None and (label or "production") in entry["labels"]:
                return entry
        return None


def make_handler(state: FakeLangfuse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            with state.lock:
                state.requests.append({"path": url.path, "query": query})
            user, _, secret = base64.b64decode(self.headers.get("Authorization", "Basic ")[6:]).decode().partition(":")
            if not user or secret != SECRET_KEY:
                return self.reply(401, {"message": "Invalid credentials"})
            if state.fail_with is not None:
                return self.reply(state.fail_with, {"message": "Internal error"})
            if not url.path.startswith(PROMPTS_PATH):
                return self.reply(404, {"message": "No such route"})
            name = unquote(url.path[len(PROMPTS_PATH):])
            version = int(query["version"]) if "version" in query else None
            entry = state.lookup(name, query.get("label"), version)
            if entry is None:
                return self.reply(404, {"error": "LangfuseNotFoundError", "message": "Prompt not found"})
            return self.reply(200, entry)

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
            return

    return Handler


class LangfuseServer:
    """Runs a :class:`FakeLangfuse` on a free loopback port until :meth:`stop`."""

    def __init__(self) -> None:
        self.state = FakeLangfuse()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.state.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="fake-langfuse", daemon=True)

    def start(self) -> FakeLangfuse:
        self._thread.start()
        return self.state

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
