"""A small HTTP server for ``/metrics``, ``/healthz`` and ``/readyz`` (standard library, daemon thread).

Workers start it with ``--metrics-port``; a local program can start it next to its workflows::

    server = start_observability_server(9464, health=monitor)
    ...
    server.stop()

``/metrics`` serves the Prometheus text format (needs the ``metrics`` extra; 503 without it). ``/healthz`` is
liveness: 200 while every liveness check passes. ``/readyz`` is readiness: 200 unless a critical check fails
or a check raises (``degraded`` is still ready). Both answer with the JSON report of
:class:`~graflow.observability.health.HealthMonitor`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from graflow.observability.health import HealthMonitor, HealthStatus

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# How long stop() waits for the serving thread to finish.
STOP_TIMEOUT_SECONDS = 5.0
# How often the serving loop checks for stop(): bounds how long stop() takes, at ten idle wake-ups a second.
POLL_INTERVAL_SECONDS = 0.1


def _render_metrics(registry: Any) -> tuple[int, str, bytes]:
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from graflow.observability.prometheus import exposition_registry
    except ImportError:
        body = b"prometheus-client is not installed: pip install 'graflow[metrics]'\n"
        return HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body
    return HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(exposition_registry(registry))


def _health_response(report: dict[str, Any], ok: bool) -> tuple[int, str, bytes]:
    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    return status, "application/json", json.dumps(report).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        try:
            status, content_type, body = self._route(path)
        except Exception:  # a failing endpoint answers 500 and keeps serving
            logger.exception("Observability endpoint %s failed", path)
            status, content_type, body = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", b"internal error\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        health = self.server.health
        if path == "/metrics":
            return _render_metrics(self.server.registry)
        if path in ("/healthz", "/livez"):
            if health is None:
                return _health_response({"status": HealthStatus.HEALTHY.value, "checks": {}}, True)
            report = health.get_liveness()
            return _health_response(report, report["status"] == HealthStatus.HEALTHY.value)
        if path == "/readyz":
            if health is None:
                return _health_response({"status": HealthStatus.HEALTHY.value, "checks": {}}, True)
            report = health.get_health()
            return _health_response(report, report["status"] != HealthStatus.UNHEALTHY.value)
        if path == "/":
            return HTTPStatus.OK, "text/plain; charset=utf-8", b"graflow: /metrics /healthz /readyz\n"
        return HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Scrapes every few seconds would flood stderr; keep them at debug level.
        logger.debug("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], health: HealthMonitor | None, registry: Any) -> None:
        self.health = health
        self.registry = registry
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class ObservabilityServer:
    """A running observability server. Use :func:`start_observability_server` to create one.

    Attributes:
        host: The address it listens on.
        port: The port it listens on (the real one when started with port 0).
    """

    def __init__(self, httpd: _Server) -> None:
        self._httpd = httpd
        self.host: str = str(httpd.server_address[0])
        self.port: int = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(POLL_INTERVAL_SECONDS,), name=f"graflow-observability-{self.port}",
            daemon=True,
        )
        self._stopped = False

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(STOP_TIMEOUT_SECONDS)

    def __enter__(self) -> ObservabilityServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_observability_server(
    port: int,
    *,
    host: str = DEFAULT_HOST,
    health: HealthMonitor | None = None,
    registry: Any = None,
) -> ObservabilityServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` from a daemon thread.

    Args:
        port: TCP port; 0 picks a free one (read it from ``.port``).
        host: Listen address; loopback by default. Bind ``0.0.0.0`` only behind a network you trust.
        health: Checks behind ``/healthz`` and ``/readyz``; without one both always answer 200.
        registry: Prometheus registry to expose (default: the process-wide one, or the multi-process aggregate
            when ``PROMETHEUS_MULTIPROC_DIR`` is set).

    Returns:
        The running server; call ``.stop()`` to shut it down.

    Raises:
        OSError: The address is in use or cannot be bound.
    """
    server = ObservabilityServer(_Server((host, port), health, registry))
    server._start()
    logger.info("Observability endpoints on %s (/metrics /healthz /readyz)", server.url)
    return server


__all__ = ["ObservabilityServer", "start_observability_server"]
