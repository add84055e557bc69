"""Observability: metrics (Prometheus), health checks, structured logs, and the HTTP endpoints that serve them.

Everything here is an engine hook or a helper around one; nothing is wired into the engine loop. The Prometheus
backend needs the ``metrics`` extra and is imported only when used.
"""

from __future__ import annotations

from typing import Any

from graflow.observability.health import HealthMonitor, HealthStatus, Heartbeat
from graflow.observability.logging import LoggingHook, configure_logging, set_worker_id
from graflow.observability.metrics import InMemoryMetricsCollector, MetricsCollector, MetricsHook
from graflow.observability.server import ObservabilityServer, start_observability_server

__all__ = [
    "HealthMonitor",
    "HealthStatus",
    "Heartbeat",
    "InMemoryMetricsCollector",
    "LoggingHook",
    "MetricsCollector",
    "MetricsHook",
    "ObservabilityServer",
    "PrometheusCollector",
    "PrometheusMetrics",
    "configure_logging",
    "set_worker_id",
    "start_observability_server",
]


def __getattr__(name: str) -> Any:
    # prometheus-client is an extra: import it only when a Prometheus collector is asked for.
    if name == "PrometheusCollector":
        from graflow.observability.prometheus import PrometheusCollector

        return PrometheusCollector
    if name == "PrometheusMetrics":
        from graflow.observability.prometheus_metrics import PrometheusMetrics

        return PrometheusMetrics
    raise AttributeError(f"module 'graflow.observability' has no attribute {name!r}")
