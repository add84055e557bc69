"""A real Prometheus scrapes Graflow's /metrics on loopback, and its HTTP API returns our series.

Needs the ``prometheus`` binary (Debian package ``prometheus``): skipped when it is missing, a failure under
``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from graflow.core.decorators import task
from graflow.core.retry import RetryPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowError
from graflow.observability.health import HealthMonitor
from graflow.observability.metrics import MetricsHook
from graflow.observability.server import ObservabilityServer, start_observability_server

STARTUP_DEADLINE = 60.0
SCRAPE_DEADLINE = 60.0
HTTP_TIMEOUT = 5.0
JOB = "graflow"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "graflow.json"
# The background workload stops after this many runs even if the test never signals it.
STEADY_MAX_RUNS = 20_000
# Every series a scrape must contain once workflows ran and the queue events fired.
EXPECTED_SERIES = (
    "graflow_tasks_total",
    "graflow_task_duration_seconds_bucket",
    "graflow_workflow_duration_seconds_bucket",
    "graflow_workflow_runs_total",
    "graflow_queue_depth",
    "graflow_task_queue_wait_seconds_bucket",
    "graflow_task_retries_total",
    "graflow_task_redeliveries_total",
    "graflow_tasks_dead_lettered_total",
    "graflow_tasks_in_flight",
    "graflow_checkpoint_write_seconds_bucket",
    "graflow_payload_rejected_total",
    "graflow_build_info",
)


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - loopback only
        return json.loads(response.read().decode())


class Prometheus:
    """A private Prometheus process scraping one target every second."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = workdir / "prometheus.log"
        self._log_handle = self.log.open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            threading.Event().wait(0.1)
        raise RuntimeError(f"prometheus not ready within {STARTUP_DEADLINE}s:\n{self.log.read_text()}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": promql})
        body = _get_json(f"{self.url}/api/v1/query?{params}")
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_for(self, promql: str, predicate: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + SCRAPE_DEADLINE
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if predicate(result):
                return result
            threading.Event().wait(0.25)
        raise AssertionError(f"{promql!r} never satisfied the condition; last result {result}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_handle.close()


def _run_workloads(hook: MetricsHook) -> None:
    """Real workflows: successes, a failure, a retried task; then the queue events a distributed queue emits."""
    attempts = iter([ValueError("transient"), None])
    for _ in range(3):
        with workflow("scraped", hooks=[hook]) as wf:

            @task
            def fetch() -> int:
                return 1

            @task
            def store() -> int:
                return 2

            fetch >> store
            wf.execute()
    with workflow("scraped_failing", hooks=[hook]) as wf:

        @task
        def explode() -> None:
            raise RuntimeError("boom")

        with pytest.raises(GraflowError):
            wf.execute()
    with workflow("scraped_retry", hooks=[hook]) as wf:

        @task(retry_policy=RetryPolicy(max_retries=1, initial_interval=0.0))
        def flaky() -> str:
            error = next(attempts)
            if error:
                raise error
            return "ok"

        wf.execute()

    class Ctx:
        workflow_name = "scraped"

    hook.on_checkpoint(context=Ctx(), path="ckpt", duration=0.02)  # type: ignore[arg-type]
    hook.on_task_dequeued(task_id="a", queue="graflow:tasks", wait_seconds=0.3, deliveries=1)
    hook.on_task_redelivered(task_id="a", queue="graflow:tasks", deliveries=2)
    hook.on_task_dead_lettered(task_id="a", queue="graflow:tasks", reason="max_deliveries")
    hook.on_payload_rejected(queue="graflow:tasks", reason="bad_signature")
    hook.on_queue_depth(queue="graflow:tasks", depth=4)


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        if _in_ci():
            pytest.fail("the prometheus binary is missing (apt-get install prometheus); CI=true makes this a failure")
        pytest.skip("the prometheus binary is missing (apt-get install prometheus)")
    return binary


def _steady(hook: MetricsHook, stop: threading.Event) -> None:
    """Keep a small workflow running while Prometheus scrapes, so that rates and quantiles have data."""
    for _ in range(STEADY_MAX_RUNS):
        if stop.wait(0.005):
            return
        with workflow("steady", hooks=[hook]) as wf:

            @task
            def tick() -> int:
                return 1

            wf.execute()


@pytest.fixture
def scraped(prometheus_binary: str, tmp_path: Path) -> Iterator[tuple[Prometheus, ObservabilityServer]]:
    registry = prometheus_client.CollectorRegistry()
    hook = MetricsHook(registry=registry)
    _run_workloads(hook)
    server = start_observability_server(0, health=HealthMonitor(), registry=registry)
    stop = threading.Event()
    steady = threading.Thread(target=_steady, args=(hook, stop), daemon=True)
    steady.start()
    prom = Prometheus(prometheus_binary, tmp_path, f"127.0.0.1:{server.port}")
    try:
        prom.wait_ready()
        yield prom, server
    finally:
        stop.set()
        steady.join(30)
        prom.stop()
        server.stop()


def test_prometheus_scrapes_every_graflow_series(scraped: tuple[Prometheus, ObservabilityServer]) -> None:
    prom, _ = scraped
    # when Prometheus has scraped the target at least once
    prom.wait_for(f'up{{job="{JOB}"}}', lambda r: r and r[0]["value"][1] == "1")
    names = {
        s["metric"]["__name__"]
        for s in prom.wait_for('{__name__=~"graflow_.*"}', lambda r: len(r) > 0)
    }
    # then every series we document is stored
    missing = [name for name in EXPECTED_SERIES if name not in names]
    assert not missing, f"not scraped: {missing}; have {sorted(names)}"
    # and the values are the ones the workflows produced
    ok = prom.query(f'graflow_tasks_total{{job="{JOB}", workflow="scraped", task="fetch", status="success"}}')
    assert [r["value"][1] for r in ok] == ["3"]
    failed = prom.query('graflow_workflow_runs_total{workflow="scraped_failing", status="failed"}')
    assert [r["value"][1] for r in failed] == ["1"]
    retries = prom.query('graflow_task_retries_total{workflow="scraped_retry", task="flaky"}')
    assert [r["value"][1] for r in retries] == ["1"]
    dead = prom.query('graflow_tasks_dead_lettered_total{queue="graflow:tasks", reason="max_deliveries"}')
    assert [r["value"][1] for r in dead] == ["1"]
    depth = prom.query('graflow_queue_depth{queue="graflow:tasks"}')
    assert [r["value"][1] for r in depth] == ["4"]


def test_every_dashboard_query_is_valid_promql(scraped: tuple[Prometheus, ObservabilityServer]) -> None:
    prom, _ = scraped
    prom.wait_for(f'up{{job="{JOB}"}}', lambda r: r and r[0]["value"][1] == "1")
    substitutions = {"$__rate_interval": "1m", "$__range": "1h", "$job": ".*", "$workflow": ".*", "$queue": ".*"}
    for query in dashboard_queries():
        for variable, value in substitutions.items():
            query = query.replace(variable, value)
        # a parse error makes the API answer 400, which raises here
        try:
            prom.query(query)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{query!r}: {error.read().decode()}") from error
    # and the latency quantile and throughput panels produce numbers once a few scrapes of a busy workflow exist
    def numeric(result: list[dict[str, Any]]) -> bool:
        return len(result) == 1 and result[0]["value"][1] not in {"NaN", "0"}

    p95 = prom.wait_for(
        'histogram_quantile(0.95, sum by (le) (rate(graflow_task_duration_seconds_bucket{workflow="steady"}[1m])))',
        numeric,
    )
    assert 0 < float(p95[0]["value"][1]) <= 10
    throughput = prom.wait_for('sum(rate(graflow_tasks_total{workflow="steady"}[1m]))', numeric)
    assert float(throughput[0]["value"][1]) > 0


def test_prometheus_scrapes_a_real_worker(
    prometheus_binary: str, tmp_path: Path, redis_client: Any, redis_url: str, key_prefix: str
) -> None:
    # given a worker process serving /metrics and Prometheus scraping it
    from graflow.coordination.coordinator import CoordinationBackend
    from graflow.core.context import ExecutionContext
    from graflow.worker.inprocess import spawn_worker

    metrics_port = _free_port()
    proc = spawn_worker(redis_url, key_prefix, extra_args=["--metrics-port", str(metrics_port), "--concurrency", "2"])
    prom = Prometheus(prometheus_binary, tmp_path, f"127.0.0.1:{metrics_port}")
    try:
        prom.wait_ready()
        prom.wait_for(f'up{{job="{JOB}"}}', lambda r: bool(r) and r[0]["value"][1] == "1")
        # when a producer runs workflows whose groups execute on that worker
        for _ in range(3):
            with workflow("distributed") as wf:

                @task
                def remote_ok() -> int:
                    return 1

                @task
                def remote_fail() -> None:
                    raise RuntimeError("remote failure")

                (remote_ok | remote_fail).with_execution(backend=CoordinationBackend.REDIS, policy="best_effort")
            ctx = ExecutionContext.create(
                wf.graph, channel_backend="redis", workflow_name="distributed",
                config={"redis_client": redis_client, "key_prefix": key_prefix},
            )
            ctx.execute()
        # then the worker's task, queue-wait and build series reach Prometheus
        queue = f"{key_prefix}:tasks"
        ok = prom.wait_for(
            'sum(graflow_tasks_total{task="remote_ok", status="success"})',
            lambda r: bool(r) and r[0]["value"][1] == "3",
        )
        assert ok
        failed = prom.wait_for(
            'sum(graflow_tasks_total{task="remote_fail", status="failed"})',
            lambda r: bool(r) and r[0]["value"][1] == "3",
        )
        assert failed
        waits = prom.wait_for(
            f'sum(graflow_task_queue_wait_seconds_count{{queue="{queue}"}})',
            lambda r: bool(r) and float(r[0]["value"][1]) >= 6,
        )
        assert waits
        assert prom.query(f'graflow_build_info{{job="{JOB}"}}')
    finally:
        prom.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
