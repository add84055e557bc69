"""Prometheus backend of :class:`~graflow.observability.metrics.MetricsCollector` (extra ``metrics``).

Metric names follow Prometheus conventions: base units (seconds), ``_total`` counters, a ``graflow_`` prefix.

Forked worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory *before* the first
process imports ``prometheus_client`` (that is when the library decides where values live). Every process then
writes its values to files there, and :func:`exposition_registry` returns a registry that sums them, so any process
(or a separate one) can serve ``/metrics`` for all of them. Call :func:`mark_process_dead` when a worker process
exits so its live gauges (in-flight tasks, queue depth) stop counting.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from graflow import config
from graflow.core import registry as adapters
from graflow.exceptions import ConfigError
from graflow.observability.metrics import STATUS_SUCCESS

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "Prometheus metrics need the prometheus-client package: pip install 'graflow[metrics]'"
    ) from exc

if TYPE_CHECKING:
    from graflow.observability.task_series import TaskSeries

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRIC_PREFIX = "graflow_"

# Task latencies span sub-millisecond local tasks to hour-long LLM or batch tasks.
TASK_DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0,
)
WORKFLOW_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)
QUEUE_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
CHECKPOINT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WORKFLOW_TASKS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)

#: Every metric family this module exports (the names Prometheus shows, without histogram/counter suffixes).
METRIC_NAMES = (
    "graflow_tasks_total",
    "graflow_task_duration_seconds",
    "graflow_tasks_in_flight",
    "graflow_task_retries_total",
    "graflow_workflow_runs_total",
    "graflow_workflow_duration_seconds",
    "graflow_workflow_tasks",
    "graflow_queue_depth",
    "graflow_task_queue_wait_seconds",
    "graflow_task_redeliveries_total",
    "graflow_tasks_dead_lettered_total",
    "graflow_payload_rejected_total",
    "graflow_checkpoint_write_seconds",
    "graflow_build_info",
)


def multiprocess_enabled() -> bool:
    """Whether prometheus-client stores values in ``PROMETHEUS_MULTIPROC_DIR`` (forked workers)."""
    return bool(config.env(MULTIPROC_ENV))


def exposition_registry(registry: Any = None) -> Any:
    """The registry to serve on ``/metrics``.

    ``registry`` when given; in multi-process mode a fresh registry that aggregates every process's files (build
    it per scrape, as prometheus-client recommends); otherwise the process-wide default registry.
    """
    if registry is not None:
        return registry
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        aggregate = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregate)  # type: ignore[no-untyped-call]
        return aggregate
    return prometheus_client.REGISTRY


def mark_process_dead(pid: int) -> None:
    """Drop the live gauges of exited worker process ``pid`` (multi-process mode only; otherwise a no-op)."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def graflow_version() -> str:
    """The installed Graflow version, or ``unknown``."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("graflow")
    except PackageNotFoundError:
        import graflow

        return str(getattr(graflow, "__version__", "unknown"))


class _Metrics:
    """The metric objects of one registry (metrics can be registered only once per registry)."""

    def __init__(self, registry: Any) -> None:
        r = registry
        # The per-task trio is on the engine's hot path: plain Python buffers folded at scrape time, unless
        # forked processes must share values through files (then prometheus-client's metrics, slower but shared).
        from graflow.observability.task_series import TaskSeries  # needs prometheus-client, checked above

        self.series: TaskSeries | None = None
        if multiprocess_enabled():
            self.tasks = Counter("graflow_tasks", "Task attempts that ended, by status",
                                 ["workflow", "task", "status"], registry=r)
            self.task_duration = Histogram("graflow_task_duration_seconds", "Task attempt duration",
                                           ["workflow", "task"], buckets=TASK_DURATION_BUCKETS, registry=r)
            self.in_flight = Gauge("graflow_tasks_in_flight", "Task attempts running now", ["workflow"],
                                   registry=r, multiprocess_mode="livesum")
        else:
            self.series = TaskSeries(TASK_DURATION_BUCKETS)
            r.register(self.series)
        self.retries = Counter("graflow_task_retries", "Task attempts that will be retried", ["workflow", "task"],
                               registry=r)
        self.runs = Counter("graflow_workflow_runs", "Root workflow runs that ended, by status",
                            ["workflow", "status"], registry=r)
        self.run_duration = Histogram("graflow_workflow_duration_seconds", "Root workflow run duration",
                                      ["workflow"], buckets=WORKFLOW_DURATION_BUCKETS, registry=r)
        self.run_tasks = Histogram("graflow_workflow_tasks", "Task completions per root workflow run", ["workflow"],
                                   buckets=WORKFLOW_TASKS_BUCKETS, registry=r)
        # Every worker observes the same queue: the latest observation is the answer, not the sum.
        self.queue_depth = Gauge("graflow_queue_depth", "Tasks waiting in a queue", ["queue"], registry=r,
                                 multiprocess_mode="livemostrecent")
        self.queue_wait = Histogram("graflow_task_queue_wait_seconds", "Time from enqueue to pick-up by a worker",
                                    ["queue"], buckets=QUEUE_WAIT_BUCKETS, registry=r)
        self.redeliveries = Counter("graflow_task_redeliveries", "Tasks handed out again after a lease expired",
                                    ["queue"], registry=r)
        self.dead_letters = Counter("graflow_tasks_dead_lettered", "Tasks moved to the dead-letter stream",
                                    ["queue", "reason"], registry=r)
        self.rejected = Counter("graflow_payload_rejected", "Payloads that failed verification or decoding",
                                ["queue", "reason"], registry=r)
        self.checkpoint = Histogram("graflow_checkpoint_write_seconds", "Checkpoint write duration", ["workflow"],
                                    buckets=CHECKPOINT_BUCKETS, registry=r)
        self.build_info = Gauge("graflow_build_info", "Graflow version (value is always 1)", ["version"],
                                registry=r, multiprocess_mode="max")
        self.build_info.labels(version=graflow_version()).set(1)
        self.custom: dict[str, tuple[Any, tuple[str, ...]]] = {}


_metrics_lock = threading.RLock()
_metrics_by_registry: weakref.WeakKeyDictionary[Any, _Metrics] = weakref.WeakKeyDictionary()


def _metrics_for(registry: Any) -> _Metrics:
    with _metrics_lock:
        metrics = _metrics_by_registry.get(registry)
        if metrics is None:
            metrics = _metrics_by_registry[registry] = _Metrics(registry)
        return metrics


class PrometheusCollector:
    """A :class:`~graflow.observability.metrics.MetricsCollector` writing prometheus-client metrics.

    Any number of collectors can share a registry: the metric objects are created once per registry.

    Args:
        registry: Where the metrics are registered (default: prometheus-client's process-wide ``REGISTRY``; in
            multi-process mode values are stored in ``PROMETHEUS_MULTIPROC_DIR`` whatever the registry).
    """

    def __init__(self, registry: Any = None) -> None:
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self._m = _metrics_for(self.registry)
        self._series = self._m.series
        #: The fast path for MetricsHook's task events (single-process mode only; see TaskEventRecorder).
        self.task_events = self._series
        # Label lookups take a lock inside prometheus-client; cache the children (multi-process mode).
        self._task_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._in_flight_children: dict[str, Any] = {}
        self._llm: Any = None

    def _in_flight(self, workflow: str) -> Any:
        child = self._in_flight_children.get(workflow)
        if child is None:
            child = self._in_flight_children[workflow] = self._m.in_flight.labels(workflow=workflow)
        return child

    def record_task_started(self, task_name: str, *, workflow: str = "") -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        if self._series is not None:
            self._series.started(workflow)
        else:
            self._in_flight(workflow).inc()

    def record_task_execution(self, task_name: str, duration: float, status: str, *, workflow: str = "") -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        if self._series is not None:
            self._series.ended(workflow, task_name, status, duration)
            return
        self._count_attempt(task_name, duration, status, workflow)
        self._in_flight(workflow).dec()

    def _count_attempt(self, task_name: str, duration: float, status: str, workflow: str) -> None:
        """Count an attempt in ``graflow_tasks_total`` and ``graflow_task_duration_seconds``; in flight unchanged."""
        if self._series is not None:
            self._series.observe(workflow, task_name, status, duration)
            return
        key = (workflow, task_name, status)
        children = self._task_children.get(key)
        if children is None:
            children = (
                self._m.tasks.labels(workflow=workflow, task=task_name, status=status),
                self._m.task_duration.labels(workflow=workflow, task=task_name),
            )
            self._task_children[key] = children
        children[0].inc()
        children[1].observe(duration)

    def record_task_retry(self, task_name: str, *, workflow: str = "") -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.retries.labels(workflow=workflow, task=task_name).inc()

    def record_workflow_execution(
        self, workflow_name: str, duration: float, tasks_count: int, *, status: str = STATUS_SUCCESS
    ) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.runs.labels(workflow=workflow_name, status=status).inc()
        self._m.run_duration.labels(workflow=workflow_name).observe(duration)
        self._m.run_tasks.labels(workflow=workflow_name).observe(tasks_count)

    def record_queue_depth(self, queue_name: str, depth: int) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.queue_depth.labels(queue=queue_name).set(depth)

    def record_queue_wait(self, queue_name: str, wait_seconds: float) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.queue_wait.labels(queue=queue_name).observe(wait_seconds)

    def record_redelivery(self, queue_name: str) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.redeliveries.labels(queue=queue_name).inc()

    def record_dead_letter(self, queue_name: str, reason: str) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.dead_letters.labels(queue=queue_name, reason=reason).inc()

    def record_payload_rejected(self, queue_name: str, reason: str) -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.rejected.labels(queue=queue_name, reason=reason).inc()

    def record_checkpoint_write(self, duration: float, *, workflow: str = "") -> None:
        """See :class:`~graflow.observability.metrics.MetricsCollector`."""
        self._m.checkpoint.labels(workflow=workflow).observe(duration)

    def record_llm_call(self, event: Any) -> None:
        """Count a model call in ``graflow_llm_tokens_total{model,kind}`` and observe its latency in
        ``graflow_llm_request_duration_seconds{model}``.

        The series belong to ``graflow.llm.metrics`` (one definition, shared with ``install_llm_metrics``; a call
        both see counts once), reached through the adapter registry because adapters do not import each other.
        Events come from ``graflow.llm``, which registers that name when it is imported.
        """
        recorder = self._llm
        if recorder is None:
            recorder = self._llm = adapters.resolve("llm_metrics", "prometheus")(self.registry)
        recorder.record(event)

    def increment_counter(self, metric_name: str, value: int = 1, tags: dict[str, str] | None = None) -> None:
        """Add ``value`` to counter ``graflow_<metric_name>_total`` (created on first use with ``tags`` as labels).

        Raises:
            ConfigError: A later call uses other tag names than the first one for the same counter.
        """
        base = metric_name if metric_name.startswith(METRIC_PREFIX) else METRIC_PREFIX + metric_name
        base = base.removesuffix("_total")
        labels = tuple(sorted((tags or {}).keys()))
        with _metrics_lock:
            entry = self._m.custom.get(base)
            if entry is None:
                entry = (Counter(base, f"Custom counter {base}", list(labels), registry=self.registry), labels)
                self._m.custom[base] = entry
        counter, known = entry
        if known != labels:
            raise ConfigError(f"Counter {base}_total has labels {list(known)}, got tags {list(labels)}")
        (counter.labels(**tags) if labels and tags else counter).inc(value)


__all__ = [
    "METRIC_NAMES",
    "MULTIPROC_ENV",
    "PrometheusCollector",
    "exposition_registry",
    "graflow_version",
    "mark_process_dead",
    "multiprocess_enabled",
]
