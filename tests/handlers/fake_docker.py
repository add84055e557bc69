"""A fake Docker Engine: the subset of the Engine API that the docker SDK calls for DockerTaskHandler, served over
a unix socket, running each container's command as a real local process.

What it emulates:

* ``/_ping``, ``/version``; ``/images/{name}/json`` for the images it was given; ``/images/create`` (pull) is
  always refused, as by an engine without a registry.
* ``/containers/create``, ``/json``, ``/start``, ``/wait``, ``/kill``, ``/logs`` (multiplexed frames, ``follow``,
  ``stdout``/``stderr``), ``/archive`` (PUT and GET), ``DELETE``.

A container is a folder (its root) with ``/tmp`` in it. A bind mount ``host:/path`` becomes a symlink at
``<root>/path``. The command runs with the root as working directory and only the container's environment; any
absolute path in its arguments or environment whose first component exists in the root (``/tmp``, ``/opt`` ...)
is rewritten to point into the root. The command ``python`` is the image's interpreter: for an image given as
``{"python:3.11-slim": [sys.executable, "-S"]}`` that is this interpreter without its site-packages, so only what the
container is given (a mount on ``PYTHONPATH``) is importable, as in a bare Python image.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import tarfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.43"


@dataclass
class FakeContainer:
    """One container: its config, its root folder, its process and everything it wrote."""

    id: str
    image: str
    command: list[str]
    env: dict[str, str]
    root: Path
    interpreter: list[str]
    proc: subprocess.Popen[bytes] | None = None
    output: list[tuple[int, bytes]] = field(default_factory=list)  # (1 stdout | 2 stderr, data)
    exit_code: int | None = None
    killed: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.exit_code is None

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def translate(self, value: str) -> str:
        """Rewrite the absolute container paths in ``value`` (``:``-separated lists too) to paths under the root."""
        parts = []
        for part in value.split(":"):
            first = part.lstrip("/").split("/", 1)[0]
            if part.startswith("/") and first and (self.root / first).exists():
                part = str(self.root) + part
            parts.append(part)
        return ":".join(parts)

    def start(self) -> None:
        if not self.command or self.command[0] != "python":
            raise FileNotFoundError(f"exec: {self.command[:1]!r}: executable file not found in $PATH")
        argv = [*self.interpreter, *(self.translate(a) for a in self.command[1:])]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **{k: self.translate(v) for k, v in self.env.items()}}
        self.proc = subprocess.Popen(argv, cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        readers = [threading.Thread(target=self._read, args=(stream, number), daemon=True)
                   for stream, number in ((self.proc.stdout, 1), (self.proc.stderr, 2))]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._reap, args=(readers,), daemon=True).start()

    def _read(self, stream: Any, number: int) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self.cond:
                self.output.append((number, chunk))
                self.cond.notify_all()

    def _reap(self, readers: list[threading.Thread]) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        for reader in readers:
            reader.join()
        with self.cond:
            self.exit_code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as docker reports
            self.cond.notify_all()

    def kill(self) -> None:
        if self.proc is not None and self.exit_code is None:
            self.killed = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        with self.cond:
            self.cond.wait_for(lambda: self.exit_code is not None)
            assert self.exit_code is not None
            return self.exit_code


class FakeDockerEngine:
    """The fake engine; use as a context manager.

    Args:
        socket_path: Where to listen.
        images: Image name -> the interpreter command that stands for ``python`` in it.
        workdir: Where container roots are made.
    """

    def __init__(self, socket_path: Path, images: dict[str, Sequence[str]], workdir: Path) -> None:
        self.socket_path = socket_path
        self.images = {name: list(argv) for name, argv in images.items()}
        self.workdir = workdir
        self.containers: dict[str, FakeContainer] = {}
        self.removed: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.pull_attempts: list[str] = []
        self._server: _Server | None = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def __enter__(self) -> FakeDockerEngine:
        server = _Server(str(self.socket_path), _Handler)
        server.engine = self
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for container in self.containers.values():
            container.kill()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def container_created_last(self) -> FakeContainer:
        return list(self.containers.values())[-1]

    # -- the API ------------------------------------------------------------------------------------------------------
    def create(self, body: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        image = body.get("Image", "")
        if image not in self.images:
            return 404, {"message": f"No such image: {image}"}
        container_id = uuid.uuid4().hex
        root = self.workdir / container_id[:12]
        (root / "tmp").mkdir(parents=True)
        for bind in (body.get("HostConfig") or {}).get("Binds") or []:
            host, target = bind.split(":")[:2]
            link = root / target.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(host)
        env = dict(item.split("=", 1) for item in body.get("Env") or [])
        self.containers[container_id] = FakeContainer(
            container_id, image, list(body.get("Cmd") or []), env, root, self.images[image]
        )
        return 201, {"Id": container_id, "Warnings": []}

    def inspect(self, container: FakeContainer) -> dict[str, Any]:
        status = "running" if container.running else ("exited" if container.exit_code is not None else "created")
        return {
            "Id": container.id,
            "Name": f"/fake_{container.id[:8]}",
            "Image": container.image,
            "Config": {"Image": container.image, "Cmd": container.command, "Tty": False,
                       "Env": [f"{k}={v}" for k, v in container.env.items()]},
            "State": {"Status": status, "Running": container.running, "ExitCode": container.exit_code or 0},
            "HostConfig": {},
        }

    def put_archive(self, container: FakeContainer, path: str, data: bytes) -> tuple[int, Any]:
        target = container.path(path)
        if not target.is_dir():
            return 404, {"message": f"Could not find the file {path} in container {container.id}"}
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(target, filter="data")
        return 200, None

    def get_archive(self, container: FakeContainer, path: str) -> tuple[bytes, dict[str, Any]] | None:
        source = container.path(path)
        if not source.exists():
            return None
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(source, arcname=source.name)
        stat = {"name": source.name, "size": source.stat().st_size, "mode": source.stat().st_mode, "mtime": "",
                "linkTarget": ""}
        return buffer.getvalue(), stat

    def remove(self, container: FakeContainer) -> None:
        container.kill()
        if container.proc is not None:
            container.wait()
        self.containers.pop(container.id, None)
        self.removed.append(container.id)
        shutil.rmtree(container.root, ignore_errors=True)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeDockerEngine


_CONTAINER_ROUTE = re.compile(r"^/containers/([0-9a-f]+)(?:/(\w+))?$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        engine = self.server.engine
        parts = urlsplit(self.path)
        path = re.sub(r"^/v[\d.]+", "", unquote(parts.path))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self._body()
        engine.calls.append((method, path))
        try:
            self._route(engine, method, path, query, body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timed-out wait)
            pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, engine: FakeDockerEngine, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        if path == "/_ping":
            return self._send(200, b"OK", "text/plain")
        if path == "/version":
            return self._json(200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Version": "fake",
                                    "Os": "linux", "Arch": "amd64"})
        image = re.match(r"^/images/(.+)/json$", path)
        if image and method == "GET":
            name = image.group(1)
            if name not in engine.images:
                return self._json(404, {"message": f"No such image: {name}"})
            return self._json(200, {"Id": f"sha256:{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}", "RepoTags": [name]})
        if path == "/images/create" and method == "POST":
            engine.pull_attempts.append(f"{query.get('fromImage')}:{query.get('tag')}")
            return self._json(500, {"message": "pull refused: the fake engine has no registry"})
        if path == "/containers/create" and method == "POST":
            return self._json(*engine.create(json.loads(body or b"{}"), query))
        route = _CONTAINER_ROUTE.match(path)
        if route is None:
            return self._json(404, {"message": f"page not found: {method} {path}"})
        container = engine.containers.get(route.group(1))
        if container is None:
            return self._json(404, {"message": f"No such container: {route.group(1)}"})
        return self._container(engine, container, method, route.group(2), query, body)

    def _container(self, engine: FakeDockerEngine, container: FakeContainer, method: str, action: str | None,
                   query: dict[str, str], body: bytes) -> None:
        if action is None and method == "DELETE":
            engine.remove(container)
            return self._send(204, b"")
        if action == "json":
            return self._json(200, engine.inspect(container))
        if action == "start":
            try:
                container.start()
            except FileNotFoundError as exc:
                return self._json(400, {"message": str(exc)})
            return self._send(204, b"")
        if action == "wait":
            return self._json(200, {"StatusCode": container.wait(), "Error": None})
        if action == "kill":
            if not container.running:
                return self._json(409, {"message": f"Container {container.id} is not running"})
            container.kill()
            return self._send(204, b"")
        if action == "logs":
            return self._logs(container, query)
        if action == "archive" and method == "PUT":
            return self._json(*engine.put_archive(container, query.get("path", "/"), body))
        if action == "archive" and method in ("GET", "HEAD"):
            found = engine.get_archive(container, query.get("path", "/"))
            if found is None:
                return self._json(404, {"message": f"Could not find the file {query.get('path')}"})
            data, stat = found
            header = base64.b64encode(json.dumps(stat).encode()).decode()
            return self._send(200, data, "application/x-tar", {"X-Docker-Container-Path-Stat": header})
        return self._json(404, {"message": f"unsupported: {method} {action}"})

    def _logs(self, container: FakeContainer, query: dict[str, str]) -> None:
        wanted = {1} if query.get("stdout") == "1" else set()
        wanted |= {2} if query.get("stderr") == "1" else set()
        follow = query.get("follow") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0

        def ready() -> bool:
            return (len(container.output) > sent or container.exit_code is not None or not follow
                    or container.proc is None)

        while True:
            with container.cond:
                container.cond.wait_for(ready)
                frames = container.output[sent:]
                done = container.exit_code is not None or not follow or container.proc is None
            sent += len(frames)
            for number, data in frames:
                if number in wanted:
                    frame = bytes([number, 0, 0, 0]) + len(data).to_bytes(4, "big") + data
                    self.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            self.wfile.flush()
            if done and sent == len(container.output):
                break
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: Any) -> None:
        if payload is None:
            return self._send(status, b"")
        return self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, content_type: str | None = None,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
