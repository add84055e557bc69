"""``PrometheusMetrics``: record task, workflow and queue metrics by hand, into Graflow's Prometheus series.

:class:`PrometheusMetrics` is the :class:`~graflow.observability.metrics.MetricsCollector` to call from your own
code (a scheduler, a task runner of your own, a script), with a task *id* where :class:`MetricsHook` passes a task
name. It is a :class:`~graflow.observability.prometheus.PrometheusCollector`, so it writes the same series
(``graflow_tasks_total``, ``graflow_task_duration_seconds``, ``graflow_workflow_runs_total``,
``graflow_queue_depth`` ...): any number of instances, and a :class:`MetricsHook`, can share one registry without
registering a series twice.

Task ids become bounded labels in two steps: the engine's cycle-iteration suffix is stripped
(:func:`~graflow.observability.metrics.task_id_label`, the same rule :class:`MetricsHook` applies), and a registry
admits at most :data:`MAX_TASK_LABELS` distinct task labels through this class; later new ones are counted under
:data:`OVERFLOW_TASK_LABEL`, so ids that carry a unique part cannot grow the series without bound.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from graflow import defaults
from graflow.observability.metrics import reason_label, task_id_label
from graflow.observability.prometheus import PrometheusCollector

logger = logging.getLogger(__name__)

#: Distinct task labels one registry admits through :class:`PrometheusMetrics`.
MAX_TASK_LABELS = defaults.METRICS_MAX_TASK_LABELS
#: The task label of attempts whose own label did not fit under :data:`MAX_TASK_LABELS`.
OVERFLOW_TASK_LABEL = "_other"


class _TaskLabels:
    """The task labels admitted for one registry, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._warned = False

    def admit(self, label: str) -> str:
        """``label`` when it is known or there is room for it, else :data:`OVERFLOW_TASK_LABEL`."""
        if label in self._seen:
            return label
        with self._lock:
            if label in self._seen:
                return label
            if len(self._seen) < self.limit:
                self._seen.add(label)
                return label
            if not self._warned:
                self._warned = True
                logger.warning(
                    "More than %d distinct task labels: further new task ids are counted as task=%r. "
                    "Pass task names rather than ids that carry a unique part.",
                    self.limit,
                    OVERFLOW_TASK_LABEL,
                )
        return OVERFLOW_TASK_LABEL


_labels_lock = threading.Lock()
_labels_by_registry: weakref.WeakKeyDictionary[Any, _TaskLabels] = weakref.WeakKeyDictionary()


def _task_labels_for(registry: Any) -> _TaskLabels:
    with _labels_lock:
        labels = _labels_by_registry.get(registry)
        if labels is None:
            labels = _labels_by_registry[registry] = _TaskLabels(MAX_TASK_LABELS)
        return labels


class PrometheusMetrics(PrometheusCollector):
    """Prometheus metrics recorded by hand: ``record_task_execution(task_id, duration, status)`` and friends.

    Series and labels are those of :mod:`graflow.observability.prometheus`: a task attempt counts in
    ``graflow_tasks_total{workflow, task, status}`` and ``graflow_task_duration_seconds{workflow, task}``, a run in
    ``graflow_workflow_runs_total``, ``graflow_workflow_duration_seconds`` and ``graflow_workflow_tasks``, a queue
    depth in ``graflow_queue_depth``, and ``increment_counter("x")`` in ``graflow_x_total``. ``workflow`` is the
    empty string unless given.

    An attempt recorded without ``record_task_started`` does not touch ``graflow_tasks_in_flight``; one whose task
    was started on this instance (as :class:`~graflow.observability.metrics.MetricsHook` does) is taken out of it
    again.

    Args:
        registry: Where the series live. Default: prometheus-client's process-wide ``REGISTRY``, the one that
            :func:`~graflow.observability.server.start_observability_server`, prometheus-client's own
            ``start_http_server`` and ``MetricsHook()`` use, so the values show on the ``/metrics`` you already
            serve. Pass a ``CollectorRegistry()`` of your own to keep them apart (tests, several exporters).

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> metrics = PrometheusMetrics(CollectorRegistry())
        >>> metrics.record_task_execution("extract", 0.25, "success")
        >>> metrics.record_queue_depth("graflow:tasks", 3)
    """

    def __init__(self, registry: Any = None) -> None:
        super().__init__(registry)
        self._task_labels = _task_labels_for(self.registry)
        # Attempts reported through record_task_started and not yet ended, per (workflow, task) label pair.
        self._open: dict[tuple[str, str], int] = {}
        self._open_lock = threading.Lock()

    def _task_label(self, task_id: str) -> str:
        return self._task_labels.admit(task_id_label(task_id))

    def record_task_started(self, task_id: str, *, workflow: str = "") -> None:
        """A task attempt started: counts it in ``graflow_tasks_in_flight`` until its ``record_task_execution``."""
        label = self._task_label(task_id)
        with self._open_lock:
            self._open[(workflow, label)] = self._open.get((workflow, label), 0) + 1
        super().record_task_started(label, workflow=workflow)

    def record_task_execution(self, task_id: str, duration: float, status: str, *, workflow: str = "") -> None:
        """A task attempt ended after ``duration`` seconds with ``status`` (``success``, ``failed``, ``cancelled``).

        Args:
            task_id: The task's id or name; the label is the id without its cycle-iteration suffix.
            duration: Seconds the attempt took.
            status: Outcome; free text is cut at the first colon and to 64 characters.
            workflow: Workflow name for the ``workflow`` label.
        """
        label = self._task_label(task_id)
        status_label = reason_label(status)
        key = (workflow, label)
        with self._open_lock:
            started = key in self._open
            if started:
                self._open[key] -= 1
                if not self._open[key]:
                    del self._open[key]
        if started:
            super().record_task_execution(label, duration, status_label, workflow=workflow)
        else:
            self._count_attempt(label, duration, status_label, workflow)

    def record_task_retry(self, task_id: str, *, workflow: str = "") -> None:
        """A failed attempt of ``task_id`` will be retried (``graflow_task_retries_total``)."""
        super().record_task_retry(self._task_label(task_id), workflow=workflow)


__all__ = ["MAX_TASK_LABELS", "OVERFLOW_TASK_LABEL", "PrometheusMetrics"]
