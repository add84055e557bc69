"""Workflow metrics: the :class:`MetricsCollector` plug-in point and the :class:`MetricsHook` that feeds it.

The hook turns engine events into calls on a collector. It knows nothing of Prometheus: the Prometheus backend
(:mod:`graflow.observability.prometheus`) is one collector; StatsD or OpenTelemetry metrics can be others, and
:class:`InMemoryMetricsCollector` is the dependency-free twin used in tests and for quick inspection.

Labels stay bounded: workflow name, task *name* (the function name, never an instance or iteration id), queue name,
and a status or reason from a small set (:mod:`graflow.observability.labels`). A label value that could grow
without bound (a task id, an error message) never reaches a collector. Model calls made by a run's tasks
(``on_llm_call``) go to collectors that offer ``record_llm_call`` (:class:`LLMCallRecorder`); the Prometheus one
bounds the model label itself.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as _Counter
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from graflow.core.hooks import EngineHook
from graflow.observability.labels import (
    STATUS_CANCELLED,
    STATUS_FAILED,
    STATUS_MAX_STEPS,
    STATUS_SUCCESS,
    STATUS_TERMINATED,
    UNKNOWN_LABEL,
    reason_label,
    task_id_label,
    task_label,
    task_status,
    workflow_label,
    workflow_status,
)

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

_perf_counter = time.perf_counter


@runtime_checkable
class MetricsCollector(Protocol):
    """Where metrics go. Implement it to send Graflow's metrics to another backend.

    Every label argument is already bounded by the caller (see module docstring). When :class:`MetricsHook` drives
    a collector, ``record_task_started`` is always followed by exactly one ``record_task_execution`` for the same
    task, so a collector can keep an in-flight gauge from the pair.
    """

    def record_task_started(self, task_name: str, *, workflow: str = "") -> None:
        """A task attempt started."""

    def record_task_execution(self, task_name: str, duration: float, status: str, *, workflow: str = "") -> None:
        """A task attempt ended after ``duration`` seconds with ``status`` (success, failed, cancelled)."""

    def record_task_retry(self, task_name: str, *, workflow: str = "") -> None:
        """A failed task attempt will be retried."""

    def record_workflow_execution(
        self, workflow_name: str, duration: float, tasks_count: int, *, status: str = STATUS_SUCCESS
    ) -> None:
        """A root workflow run ended after ``duration`` seconds, having run ``tasks_count`` tasks."""

    def record_queue_depth(self, queue_name: str, depth: int) -> None:
        """``depth`` tasks were waiting in ``queue_name``."""

    def record_queue_wait(self, queue_name: str, wait_seconds: float) -> None:
        """A task waited ``wait_seconds`` in ``queue_name`` between enqueue and pick-up."""

    def record_redelivery(self, queue_name: str) -> None:
        """A task of ``queue_name`` was handed out again after its worker died or its lease expired."""

    def record_dead_letter(self, queue_name: str, reason: str) -> None:
        """A task of ``queue_name`` was dead-lettered for ``reason``."""

    def record_payload_rejected(self, queue_name: str, reason: str) -> None:
        """A payload of ``queue_name`` failed verification or decoding."""

    def record_checkpoint_write(self, duration: float, *, workflow: str = "") -> None:
        """A checkpoint was written in ``duration`` seconds."""

    def increment_counter(self, metric_name: str, value: int = 1, tags: dict[str, str] | None = None) -> None:
        """Add ``value`` to a counter of your own (``tags`` are its labels; keep them bounded)."""


@runtime_checkable
class LLMCallRecorder(Protocol):
    """Optional part of a collector: counts the model calls of a run's tasks.

    :class:`MetricsHook` hands every ``on_llm_call`` event to a collector that has this method, and listens to no
    model call otherwise. The event is a ``graflow.llm.events.LLMCallEvent``: ``model``, ``duration`` (seconds),
    ``prompt_tokens`` and ``completion_tokens`` (None when not reported), ``success`` ... The model name is free
    text: the collector bounds it (the Prometheus collector keeps the first 20 models and counts later ones as
    ``other``).
    """

    def record_llm_call(self, event: Any) -> None:
        """One model call (or agent run) ended."""


@runtime_checkable
class TaskEventRecorder(Protocol):
    """Optional fast path of a collector: takes the engine's timed task event itself.

    A collector with a non-None ``task_events`` attribute of this type gets ``on_task_timed`` straight from the
    engine instead of ``record_task_started``/``record_task_execution`` calls made by :class:`MetricsHook`, which
    then listens to neither ``on_task_start`` nor ``on_task_end``. It must record exactly what
    ``record_task_execution`` would (labels from :func:`task_label`, the context's ``workflow_name``, and
    :func:`task_status`) and find tasks in flight on its own (the Prometheus one reads the engine's running contexts
    at scrape time). This saves a call per task, the timing and the label work.
    """

    def on_task_timed(self, task: Any, context: Any, duration: float, error: BaseException | None = None) -> None:
        """An attempt that ``context`` ran ended after ``duration`` seconds, successfully when ``error`` is None."""


class MetricsHook(EngineHook):
    """Engine hook that records task, workflow, queue and checkpoint metrics into a :class:`MetricsCollector`.

    Durations are measured here, between ``on_task_start`` and ``on_task_end`` of the same task on the same thread,
    so they include the handler but not the time a task waited in a queue (that is ``on_task_dequeued``'s
    ``wait_seconds``). A collector that offers a :class:`TaskEventRecorder` as ``task_events`` (the Prometheus one in
    single-process mode) receives the engine's ``on_task_timed`` event directly instead (the engine times the
    attempt, and nothing runs at its start).

    Args:
        collector: Where metrics go. Default: a :class:`~graflow.observability.prometheus.PrometheusCollector` on
            ``registry`` (needs ``pip install graflow[metrics]``).
        registry: Prometheus registry for the default collector (default: the process-wide one).

    Example:
        >>> with workflow("etl", hooks=[MetricsHook()]) as wf:  # doctest: +SKIP
        ...     extract >> load
    """

    def __init__(self, collector: MetricsCollector | None = None, *, registry: Any = None) -> None:
        if collector is None:
            from graflow.observability.prometheus import PrometheusCollector

            collector = PrometheusCollector(registry)
        self.collector = collector
        events: TaskEventRecorder | None = getattr(collector, "task_events", None)
        cls = type(self)
        timed_overridden = cls.on_task_timed is not MetricsHook.on_task_timed
        overridden = (timed_overridden or cls.on_task_start is not MetricsHook.on_task_start
                      or cls.on_task_end is not MetricsHook.on_task_end)
        if events is not None and not overridden:
            # The engine finds listeners with getattr(hook, event): these instance attributes make it time each
            # attempt and call the collector's recorder directly, once per task, and call nothing at the start.
            # (A subclass that overrides either event keeps the collector calls, so that its own code runs.)
            self.on_task_timed = events.on_task_timed  # type: ignore[method-assign]
            self.on_task_start = None  # type: ignore[assignment,method-assign]
            self.on_task_end = None  # type: ignore[assignment,method-assign]
        elif not timed_overridden:
            self.on_task_timed = None  # type: ignore[assignment,method-assign]
        record_llm: Any = getattr(collector, "record_llm_call", None)
        if record_llm is None:
            self.on_llm_call = None  # type: ignore[assignment,method-assign]
        self._record_llm = record_llm
        # Bound once: the task events run for every task.
        self._record_started = collector.record_task_started
        self._record_execution = collector.record_task_execution
        # Per thread: task id -> perf_counter at start; one entry per running attempt.
        self._local = threading.local()
        # id(context) -> perf_counter at workflow start.
        self._run_starts: dict[int, float] = {}

    # -- workflow ---------------------------------------------------------------------------------------------------
    def on_workflow_start(self, *, workflow_name: str, context: ExecutionContext) -> None:
        """Remember when the root run started."""
        self._run_starts[id(context)] = time.perf_counter()

    def on_workflow_end(
        self, *, workflow_name: str, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Record the run's duration and outcome."""
        start = self._run_starts.pop(id(context), None)
        duration = time.perf_counter() - start if start is not None else 0.0
        # Task completions of the run (a task that ran again counts again): a length, not a pass over the log.
        log = getattr(context, "execution_log", None)
        tasks_count = len(log) if log is not None else len(getattr(context, "completed_tasks", None) or ())
        self.collector.record_workflow_execution(
            workflow_name or workflow_label(context), duration, tasks_count, status=workflow_status(context, error)
        )

    # -- tasks (the hot path: a few dictionary operations, and no allocation that the engine does not make) -------
    def _starts(self) -> dict[str, tuple[float, str, str]]:
        try:
            starts: dict[str, tuple[float, str, str]] = self._local.starts
        except AttributeError:
            starts = self._local.starts = {}
        return starts

    def on_task_start(self, *, task: Any, context: ExecutionContext) -> None:
        """Start timing the attempt (per thread: parallel members run on pool threads) and count it in flight."""
        label = task_label(task)
        workflow = getattr(context, "workflow_name", None) or UNKNOWN_LABEL
        # The labels are kept with the start so that the end does not compute them again.
        self._starts()[task.task_id] = (_perf_counter(), label, workflow)
        self._record_started(label, workflow=workflow)

    def on_task_end(
        self, *, task: Any, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Record the attempt's duration and status."""
        entry = self._starts().pop(task.task_id, None)
        if entry is None:
            # An end without a start on this thread (the hook was added mid-task): nothing was counted in flight.
            return
        start, label, workflow = entry
        self._record_execution(
            label, _perf_counter() - start, STATUS_SUCCESS if error is None else task_status(error), workflow=workflow
        )

    def on_task_timed(
        self, task: Any, context: ExecutionContext, duration: float, error: BaseException | None = None
    ) -> None:
        """Replaced per instance: by the collector's recorder on the fast path, else by None (not listened to)."""

    def on_task_retry(
        self, *, task: Any, context: ExecutionContext, attempt: int, delay: float, error: BaseException
    ) -> None:
        """Count a retry."""
        self.collector.record_task_retry(task_label(task), workflow=workflow_label(context))

    def on_checkpoint(self, *, context: ExecutionContext, path: str, duration: float) -> None:
        """Record how long the checkpoint write took."""
        self.collector.record_checkpoint_write(duration, workflow=workflow_label(context))

    def on_llm_call(self, *, event: Any, context: ExecutionContext, task_id: str | None = None) -> None:
        """Count a model call's tokens and latency (``graflow_llm_tokens_total``,
        ``graflow_llm_request_duration_seconds`` on Prometheus)."""
        self._record_llm(event)

    # -- queues and workers -----------------------------------------------------------------------------------------
    def on_task_dequeued(self, *, task_id: str, queue: str, wait_seconds: float, deliveries: int) -> None:
        """Record the queue wait (enqueue to pick-up)."""
        self.collector.record_queue_wait(queue, max(0.0, wait_seconds))

    def on_task_redelivered(self, *, task_id: str, queue: str, deliveries: int) -> None:
        """Count a redelivery."""
        self.collector.record_redelivery(queue)

    def on_task_dead_lettered(self, *, task_id: str | None, queue: str, reason: str) -> None:
        """Count a dead letter by reason."""
        self.collector.record_dead_letter(queue, reason_label(reason))

    def on_payload_rejected(self, *, queue: str, reason: str) -> None:
        """Count a rejected payload by reason."""
        self.collector.record_payload_rejected(queue, reason_label(reason))

    def on_queue_depth(self, *, queue: str, depth: int) -> None:
        """Set the queue-depth gauge."""
        self.collector.record_queue_depth(queue, depth)


class InMemoryMetricsCollector:
    """A :class:`MetricsCollector` that keeps everything in dictionaries (tests, quick inspection, no deps).

    Attributes:
        tasks: ``Counter[(workflow, task, status)]``.
        task_durations: ``{(workflow, task): [seconds, ...]}``.
        in_flight: ``Counter[workflow]`` of attempts started and not yet ended.
        retries: ``Counter[(workflow, task)]``.
        workflow_runs: ``Counter[(workflow, status)]``.
        workflow_durations: ``{workflow: [seconds, ...]}``.
        queue_depth: ``{queue: depth}`` (last value).
        queue_waits: ``{queue: [seconds, ...]}``.
        redeliveries: ``Counter[queue]``.
        dead_letters: ``Counter[(queue, reason)]``.
        payload_rejections: ``Counter[(queue, reason)]``.
        checkpoint_writes: ``{workflow: [seconds, ...]}``.
        counters: ``Counter[(metric_name, tuple(sorted(tags.items())))]``.
        llm_tokens: ``Counter[(model, kind)]``, ``kind`` is ``prompt`` or ``completion``.
        llm_durations: ``{model: [seconds, ...]}``, one entry per model call (failed ones included).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tasks: _Counter[tuple[str, str, str]] = _Counter()
        self.task_durations: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
        self.in_flight: _Counter[str] = _Counter()
        self.retries: _Counter[tuple[str, str]] = _Counter()
        self.workflow_runs: _Counter[tuple[str, str]] = _Counter()
        self.workflow_durations: defaultdict[str, list[float]] = defaultdict(list)
        self.workflow_task_counts: defaultdict[str, list[int]] = defaultdict(list)
        self.queue_depth: dict[str, int] = {}
        self.queue_waits: defaultdict[str, list[float]] = defaultdict(list)
        self.redeliveries: _Counter[str] = _Counter()
        self.dead_letters: _Counter[tuple[str, str]] = _Counter()
        self.payload_rejections: _Counter[tuple[str, str]] = _Counter()
        self.checkpoint_writes: defaultdict[str, list[float]] = defaultdict(list)
        self.counters: _Counter[tuple[str, tuple[tuple[str, str], ...]]] = _Counter()
        self.llm_tokens: _Counter[tuple[str, str]] = _Counter()
        self.llm_durations: defaultdict[str, list[float]] = defaultdict(list)

    def record_task_started(self, task_name: str, *, workflow: str = "") -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.in_flight[workflow] += 1

    def record_task_execution(self, task_name: str, duration: float, status: str, *, workflow: str = "") -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.in_flight[workflow] -= 1
            self.tasks[(workflow, task_name, status)] += 1
            self.task_durations[(workflow, task_name)].append(duration)

    def record_task_retry(self, task_name: str, *, workflow: str = "") -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.retries[(workflow, task_name)] += 1

    def record_workflow_execution(
        self, workflow_name: str, duration: float, tasks_count: int, *, status: str = STATUS_SUCCESS
    ) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.workflow_runs[(workflow_name, status)] += 1
            self.workflow_durations[workflow_name].append(duration)
            self.workflow_task_counts[workflow_name].append(tasks_count)

    def record_queue_depth(self, queue_name: str, depth: int) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.queue_depth[queue_name] = depth

    def record_queue_wait(self, queue_name: str, wait_seconds: float) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.queue_waits[queue_name].append(wait_seconds)

    def record_redelivery(self, queue_name: str) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.redeliveries[queue_name] += 1

    def record_dead_letter(self, queue_name: str, reason: str) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.dead_letters[(queue_name, reason)] += 1

    def record_payload_rejected(self, queue_name: str, reason: str) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.payload_rejections[(queue_name, reason)] += 1

    def record_checkpoint_write(self, duration: float, *, workflow: str = "") -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.checkpoint_writes[workflow].append(duration)

    def increment_counter(self, metric_name: str, value: int = 1, tags: dict[str, str] | None = None) -> None:
        """See :class:`MetricsCollector`."""
        with self._lock:
            self.counters[(metric_name, tuple(sorted((tags or {}).items())))] += value

    def record_llm_call(self, event: Any) -> None:
        """See :class:`LLMCallRecorder`."""
        model = str(getattr(event, "model", None) or UNKNOWN_LABEL)
        with self._lock:
            self.llm_durations[model].append(max(float(event.duration), 0.0))
            for kind, tokens in (("prompt", event.prompt_tokens), ("completion", event.completion_tokens)):
                if tokens:
                    self.llm_tokens[(model, kind)] += tokens


def __getattr__(name: str) -> Any:
    # PrometheusMetrics needs the ``metrics`` extra (prometheus-client): imported only when asked for.
    if name == "PrometheusMetrics":
        from graflow.observability.prometheus_metrics import PrometheusMetrics

        return PrometheusMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STATUS_CANCELLED",
    "STATUS_FAILED",
    "STATUS_MAX_STEPS",
    "STATUS_SUCCESS",
    "STATUS_TERMINATED",
    "UNKNOWN_LABEL",
    "InMemoryMetricsCollector",
    "LLMCallRecorder",
    "MetricsCollector",
    "MetricsHook",
    "TaskEventRecorder",
    "reason_label",
    "task_id_label",
    "task_label",
    "task_status",
    "workflow_status",
]
