"""Prometheus series for LLM calls (extra ``metrics``).

Two series, fed by :mod:`graflow.llm.events` (process-wide with :func:`install_llm_metrics`) or by the
``MetricsHook`` of a run (``graflow.observability``, which records through :func:`recorder_for`):

- ``graflow_llm_tokens_total{model, kind}``: a counter of tokens, ``kind`` is ``prompt`` or ``completion``;
- ``graflow_llm_request_duration_seconds{model}``: a histogram of call latency (failed calls included).

The ``model`` label is bounded: the first :data:`DEFAULT_MAX_MODELS` distinct model names keep their own value and
later ones are counted as ``other``, so a program that builds model names dynamically cannot blow up the series
count. prometheus-client is imported only when metrics are installed; without it :func:`install_llm_metrics` logs
once and returns a recorder that does nothing.

    from graflow.llm.metrics import install_llm_metrics

    install_llm_metrics()          # process-wide registry; served by graflow's /metrics endpoint
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from graflow.llm import events
from graflow.llm.events import LLMCallEvent

logger = logging.getLogger(__name__)

TOKENS_METRIC = "graflow_llm_tokens_total"
DURATION_METRIC = "graflow_llm_request_duration_seconds"
#: Every metric family this module exports (names as Prometheus shows them, without histogram suffixes).
METRIC_NAMES = (TOKENS_METRIC, DURATION_METRIC)
#: Values of the ``kind`` label.
TOKEN_KINDS = ("prompt", "completion")
#: Model calls take from tens of milliseconds (small local models) to minutes (long reasoning answers).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: Distinct ``model`` label values kept per registry before further models are reported as :data:`OTHER_MODEL`.
DEFAULT_MAX_MODELS = 20
OTHER_MODEL = "other"


class BoundedLabel:
    """Maps free-form values onto at most ``limit`` distinct label values plus ``other``.

    Args:
        limit: How many distinct values keep their own label.
        other: The label of every value past the limit.
    """

    def __init__(self, limit: int = DEFAULT_MAX_MODELS, other: str = OTHER_MODEL) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.limit = limit
        self.other = other
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return self.other


class _Series:
    """The metric objects of one registry (a metric can be registered only once per registry)."""

    def __init__(self, registry: Any, max_models: int) -> None:
        from prometheus_client import Counter, Histogram

        self.tokens = Counter("graflow_llm_tokens", "Tokens used by LLM calls", ["model", "kind"], registry=registry)
        self.duration = Histogram(DURATION_METRIC, "LLM call latency", ["model"], buckets=DURATION_BUCKETS,
                                  registry=registry)
        self.model_label = BoundedLabel(max_models)
        # Events recorded lately, by identity: a call that both a process-wide recorder and a run's MetricsHook
        # see counts once per registry. Entries vanish with their events.
        self._recorded: weakref.WeakValueDictionary[int, LLMCallEvent] = weakref.WeakValueDictionary()
        self._recorded_lock = threading.Lock()

    def record(self, event: LLMCallEvent) -> None:
        """Count ``event`` unless this registry counted it already."""
        with self._recorded_lock:
            if self._recorded.get(id(event)) is event:
                return
            self._recorded[id(event)] = event
        model = self.model_label(event.model or "unknown")
        self.duration.labels(model=model).observe(max(event.duration, 0.0))
        if event.prompt_tokens:
            self.tokens.labels(model=model, kind="prompt").inc(event.prompt_tokens)
        if event.completion_tokens:
            self.tokens.labels(model=model, kind="completion").inc(event.completion_tokens)


_series_lock = threading.Lock()
_series_by_registry: weakref.WeakKeyDictionary[Any, _Series] = weakref.WeakKeyDictionary()


def _series_for(registry: Any, max_models: int) -> _Series:
    with _series_lock:
        series = _series_by_registry.get(registry)
        if series is None:
            series = _series_by_registry[registry] = _Series(registry, max_models)
        return series


class LLMMetrics:
    """A listener of :mod:`graflow.llm.events` that records the two LLM series.

    Args:
        registry: Where the series live (default: prometheus-client's process-wide ``REGISTRY``).
        max_models: Bound of the ``model`` label (the first recorder of a registry sets it).

    Attributes:
        enabled: False when prometheus-client is not installed; recording is then a no-op.
    """

    def __init__(self, registry: Any = None, *, max_models: int = DEFAULT_MAX_MODELS) -> None:
        self._series: _Series | None = None
        try:
            import prometheus_client
        except ImportError:
            logger.info("prometheus-client is not installed; LLM metrics are off (pip install 'graflow[metrics]')")
            self.registry = registry
            return
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self._series = _series_for(self.registry, max_models)

    @property
    def enabled(self) -> bool:
        """Whether events are recorded."""
        return self._series is not None

    def __call__(self, event: LLMCallEvent) -> None:
        """Record one call: its latency and, when known, its prompt and completion tokens."""
        series = self._series
        if series is not None:
            series.record(event)

    record = __call__

    def install(self) -> LLMMetrics:
        """Subscribe to every LLM call of this process. Returns self."""
        if self.enabled:
            events.add_listener(self)
        return self

    def uninstall(self) -> None:
        """Stop recording."""
        events.remove_listener(self)


_installed_lock = threading.Lock()
_installed: dict[int, LLMMetrics] = {}


def install_llm_metrics(registry: Any = None, *, max_models: int = DEFAULT_MAX_MODELS) -> LLMMetrics:
    """Record every LLM call of this process in ``registry``; calling it again for a registry changes nothing.

    Returns:
        The recorder (``enabled`` is False when prometheus-client is missing).
    """
    with _installed_lock:
        key = id(registry)
        recorder = _installed.get(key)
        if recorder is None:
            recorder = _installed[key] = LLMMetrics(registry, max_models=max_models)
    return recorder.install()


def recorder_for(registry: Any = None) -> LLMMetrics:
    """A recorder for ``registry`` (default: the process-wide one) that is not subscribed to any call.

    This is how ``graflow.observability``'s ``MetricsHook`` counts the model calls of a run in the same series: it
    finds this function by the registry name ``llm_metrics``/``prometheus`` and records the events its hook
    receives. A call counted this way and by :func:`install_llm_metrics` on the same registry counts once.
    """
    return LLMMetrics(registry)


def uninstall_llm_metrics(registry: Any = None) -> None:
    """Undo :func:`install_llm_metrics` for ``registry``."""
    with _installed_lock:
        recorder = _installed.pop(id(registry), None)
    if recorder is not None:
        recorder.uninstall()


__all__ = [
    "DEFAULT_MAX_MODELS",
    "DURATION_BUCKETS",
    "DURATION_METRIC",
    "METRIC_NAMES",
    "OTHER_MODEL",
    "TOKENS_METRIC",
    "TOKEN_KINDS",
    "BoundedLabel",
    "LLMMetrics",
    "install_llm_metrics",
    "recorder_for",
    "uninstall_llm_metrics",
]
