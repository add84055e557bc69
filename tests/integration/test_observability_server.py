"""The observability HTTP server: /metrics, /healthz, /readyz over real loopback HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.observability.health import HealthMonitor, Heartbeat, heartbeat_check
from graflow.observability.server import start_observability_server

prometheus_client = pytest.importorskip("prometheus_client")

TIMEOUT = 10


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - loopback only
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


@pytest.fixture
def registry() -> Any:
    return prometheus_client.CollectorRegistry()


def test_metrics_endpoint_serves_the_workflow_series(registry: Any) -> None:
    # given a server on a free port exposing a private registry fed by a real run
    from graflow.observability.metrics import MetricsHook

    with workflow("served", hooks=[MetricsHook(registry=registry)]) as wf:

        @task
        def step() -> int:
            return 1

        wf.execute()
    server = start_observability_server(0, registry=registry)
    try:
        # when Prometheus would scrape it
        status, content_type, body = _get(f"{server.url}/metrics")
    finally:
        server.stop()
    # then
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'graflow_tasks_total{status="success",task="step",workflow="served"} 1.0' in body
    assert "graflow_build_info" in body


def test_without_a_monitor_health_endpoints_answer_ok(registry: Any) -> None:
    with start_observability_server(0, registry=registry) as server:
        for path in ("/healthz", "/readyz"):
            status, content_type, body = _get(server.url + path)
            assert status == 200
            assert content_type == "application/json"
            assert json.loads(body)["status"] == "healthy"


def test_readiness_fails_on_a_critical_check_while_liveness_holds(registry: Any) -> None:
    # given a dead dependency (critical) and a beating loop (liveness)
    monitor = HealthMonitor()
    monitor.register_check("redis", lambda: (False, "connection refused"), critical=True)
    monitor.register_check("loop", heartbeat_check(Heartbeat(), max_age=3600), liveness=True)
    with start_observability_server(0, health=monitor, registry=registry) as server:
        ready_status, _, ready_body = _get(server.url + "/readyz")
        live_status, _, live_body = _get(server.url + "/healthz")
    assert ready_status == 503
    ready = json.loads(ready_body)
    assert ready["status"] == "unhealthy"
    assert ready["checks"]["redis"]["detail"] == "connection refused"
    assert live_status == 200
    assert json.loads(live_body)["checks"].keys() == {"loop"}


def test_degraded_is_still_ready(registry: Any) -> None:
    monitor = HealthMonitor()
    monitor.register_check("cache", lambda: False)
    with start_observability_server(0, health=monitor, registry=registry) as server:
        status, _, body = _get(server.url + "/readyz")
    assert status == 200
    assert json.loads(body)["status"] == "degraded"


def test_stuck_loop_fails_liveness(registry: Any) -> None:
    monitor = HealthMonitor()
    monitor.register_check("loop", heartbeat_check(Heartbeat(), max_age=-1.0), liveness=True)
    with start_observability_server(0, health=monitor, registry=registry) as server:
        status, _, body = _get(server.url + "/healthz")
    assert status == 503
    assert json.loads(body)["checks"]["loop"]["status"] == "fail"


def test_a_check_that_raises_answers_503_not_500(registry: Any) -> None:
    def broken() -> bool:
        raise OSError("disk gone")

    monitor = HealthMonitor()
    monitor.register_check("disk", broken, critical=True)
    with start_observability_server(0, health=monitor, registry=registry) as server:
        status, _, body = _get(server.url + "/readyz")
        # and the server keeps serving afterwards
        again, _, _ = _get(server.url + "/metrics")
    assert status == 503
    assert "disk gone" in json.loads(body)["checks"]["disk"]["error"]
    assert again == 200


def test_unknown_path_is_404_and_query_strings_are_ignored(registry: Any) -> None:
    with start_observability_server(0, registry=registry) as server:
        assert _get(server.url + "/nope")[0] == 404
        assert _get(server.url + "/metrics?name[]=x")[0] == 200


def test_stop_closes_the_port(registry: Any) -> None:
    server = start_observability_server(0, registry=registry)
    url = server.url
    assert server.host == "127.0.0.1" and server.port > 0
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=TIMEOUT)  # noqa: S310 - loopback only


def test_port_in_use_raises_oserror(registry: Any) -> None:
    with start_observability_server(0, registry=registry) as server, pytest.raises(OSError):
        start_observability_server(server.port, registry=registry)
