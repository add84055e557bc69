"""Per-task Prometheus series kept in plain Python and rendered at scrape time (single-process mode).

``graflow_tasks_total``, ``graflow_task_duration_seconds`` and ``graflow_tasks_in_flight`` change on every task,
so they sit on the engine's hot path. prometheus-client's metric objects take a lock and walk every bucket per
observation; here the engine's ``on_task_timed`` event reaches :attr:`TaskSeries.on_task_timed` directly (the
:class:`~graflow.observability.metrics.MetricsHook` hands it over) and does the least it can:

- The engine times the attempt and reports it once, at its end: nothing runs at the start. Tasks in flight are
  counted at scrape time from the runs going on now (``graflow.core.engine.running_contexts``) that report to this
  series, each with its ``running_task_count``.
- The listener finds the buffer of the (workflow, task) series through a cache keyed by the workflow name and the task's
  function name, so tasks built afresh for every run (a worker decodes each task record) still hit it.
- A successful attempt appends its duration to the buffer. ``list.append`` is atomic, so threads (the members of a
  parallel group) share buffers without a lock and lose no update. Every :data:`FOLD_EVERY` appends, and at every
  scrape, the buffer is folded into the series' counts under the lock: the fold copies the buffer and deletes only
  what it copied, both atomic, so appends made meanwhile stay for the next fold. A failed attempt is counted under
  the lock straight away. A scrape holds the lock, so it never sees an attempt counted twice or half, and no
  counter goes backwards.

Forked workers cannot share these values, so in multi-process mode :mod:`graflow.observability.prometheus` uses
prometheus-client's file-backed metrics instead.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from itertools import repeat
from operator import le
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from graflow.core.engine import running_contexts
from graflow.core.task import TaskWrapper
from graflow.observability.metrics import STATUS_SUCCESS, UNKNOWN_LABEL, task_label, task_status

TASKS = "graflow_tasks"
TASK_DURATION = "graflow_task_duration_seconds"
IN_FLIGHT = "graflow_tasks_in_flight"

# A buffer is folded when it holds this many durations: this bounds its memory, and makes the lock and the
# bucket search a cost per thousand tasks instead of per task.
FOLD_EVERY = 1024
# Past this many cached (workflow, function name) pairs the cache is emptied, so that it stays bounded even when
# workflow names are not.
MAX_CACHED_NAMES = 4096


class _Buffer(list[float]):
    """Durations of successful attempts of one series, not yet in its counts."""

    __slots__ = ("series",)

    def __init__(self, series: _Series) -> None:
        super().__init__()
        self.series = series


class _Series:
    """The counts of one (workflow, task) label pair; changed only under the lock."""

    __slots__ = ("buckets", "buffer", "statuses", "sum", "task", "workflow")

    def __init__(self, workflow: str, task: str, slots: int) -> None:
        self.workflow = workflow
        self.task = task
        self.sum = 0.0
        self.statuses: dict[str, int] = {}
        self.buckets = [0] * slots  # per bucket, not cumulative; the last one is +Inf
        self.buffer = _Buffer(self)

    def add_durations(self, durations: list[float], bounds: tuple[float, ...]) -> None:
        """Count ``durations`` of successful attempts."""
        if not durations:
            return
        count = len(durations)
        total = sum(durations)
        # Durations are >= 0, so a total within the first bound puts all of them in the first bucket: for short
        # tasks the pass that sums them is the only one.
        if total <= bounds[0] or (high := max(durations)) <= bounds[0]:
            first, inside = 0, count
        else:
            first = bisect_left(bounds, min(durations))  # the bucket of the shortest (len(bounds): +Inf)
            if first == len(bounds) or high <= bounds[first]:  # alike durations: one bucket holds them
                inside = count
            else:  # counted in C; only the longer ones (a pause, a slow call) are sorted into their buckets
                inside = sum(map(le, durations, repeat(bounds[first])))
        self.buckets[first] += inside
        if inside < count:
            longer = sorted(filter(bounds[first].__lt__, durations))
            below = 0
            for i in range(first + 1, len(bounds)):
                upto = bisect_right(longer, bounds[i])  # le: a duration equal to the bound is in its bucket
                self.buckets[i] += upto - below
                below = upto
                if below == len(longer):
                    break
            self.buckets[-1] += len(longer) - below
        self.sum += total
        self.statuses[STATUS_SUCCESS] = self.statuses.get(STATUS_SUCCESS, 0) + count

    def add(self, status: str, duration: float, bounds: tuple[float, ...]) -> None:
        """Count one attempt."""
        self.buckets[bisect_left(bounds, duration)] += 1
        self.sum += duration
        self.statuses[status] = self.statuses.get(status, 0) + 1


class TaskSeries:
    """Counts task attempts; :meth:`collect` renders the three families for a registry.

    Attributes:
        on_task_timed: Engine-hook listener ``(task, context, duration, error=None)``: an attempt ended. It
            records what ``record_task_execution`` of the collector would, with the labels of
            :func:`~graflow.observability.metrics.task_label` and the context's ``workflow_name``; tasks in flight
            are read from the engine's running contexts at scrape time instead of being counted at every start.

    Args:
        buckets: Upper bounds of the duration histogram, ascending, without ``+Inf``.
    """

    on_task_timed: Callable[..., None]

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        # context.workflow_name -> function name -> buffer (TaskWrapper tasks only, see _buffer_for)
        self._cache: dict[str, dict[str, _Buffer]] = {}
        self._cached = 0
        # attempts started through started() (the string API) and not ended, per workflow label
        self._started: dict[str, int] = {}
        self.on_task_timed = self._timed_listener()

    # -- series -----------------------------------------------------------------------------------------------------
    def _series_for(self, workflow: str, task: str) -> _Series:
        series = self._series.get((workflow, task))
        if series is None:
            with self._lock:
                series = self._series.get((workflow, task))
                if series is None:
                    series = self._series[(workflow, task)] = _Series(workflow, task, len(self.buckets) + 1)
        return series

    def _buffer_for(self, task: Any, context: Any) -> _Buffer:
        """The buffer of ``task`` run by ``context`` (the cache missed), cached when the task is a TaskWrapper."""
        raw_workflow = getattr(context, "workflow_name", None)
        buffer = self._series_for(str(raw_workflow or UNKNOWN_LABEL), task_label(task)).buffer
        if type(task) is TaskWrapper and task.__name__ and isinstance(raw_workflow, str):
            with self._lock:
                if self._cached >= MAX_CACHED_NAMES:
                    self._cache.clear()  # in place: the listeners hold the dictionary
                    self._cached = 0
                self._cache.setdefault(raw_workflow, {})[task.__name__] = buffer
                self._cached += 1
        return buffer

    def _fold(self, buffer: _Buffer) -> None:
        """Move the durations of ``buffer`` into its series' counts (the caller holds the lock)."""
        durations = buffer[:]
        del buffer[: len(durations)]  # only what was copied: appends made since stay
        buffer.series.add_durations(durations, self.buckets)

    def _flush(self, buffer: _Buffer) -> None:
        with self._lock:
            self._fold(buffer)

    def _failed(self, buffer: _Buffer, error: BaseException, duration: float) -> None:
        with self._lock:
            buffer.series.add(task_status(error), duration, self.buckets)

    # -- engine task events (the hot path) --------------------------------------------------------------------------
    def _timed_listener(self) -> Callable[..., None]:
        """The listener, as a closure: its free variables read faster than attributes of ``self``."""
        cache = self._cache
        task_wrapper = TaskWrapper
        fold_every = FOLD_EVERY
        buffer_for = self._buffer_for
        flush = self._flush
        failed = self._failed

        def on_task_timed(task: Any, context: Any, duration: float, error: BaseException | None = None) -> None:
            # A TaskWrapper's label is its function name (see task_label); other kinds of task take the long way.
            if type(task) is task_wrapper:
                try:
                    buffer = cache[context.workflow_name][task.__name__]
                except (KeyError, AttributeError, TypeError):  # not cached yet, or not an engine context
                    buffer = buffer_for(task, context)
            else:
                buffer = buffer_for(task, context)
            if error is None:
                buffer.append(duration)
                if len(buffer) >= fold_every:
                    flush(buffer)
            else:
                failed(buffer, error, duration)

        return on_task_timed

    # -- collector API (record_task_started / record_task_execution) ------------------------------------------------
    def started(self, workflow: str) -> None:
        """A task attempt started."""
        with self._lock:
            self._started[workflow] = self._started.get(workflow, 0) + 1

    def ended(self, workflow: str, task: str, status: str, duration: float) -> None:
        """A task attempt that started (see :meth:`started`) ended."""
        self.observe(workflow, task, status, duration)
        with self._lock:
            self._started[workflow] = self._started.get(workflow, 0) - 1

    def observe(self, workflow: str, task: str, status: str, duration: float) -> None:
        """Count an attempt that ended, without touching the attempts in flight (it was not reported started)."""
        series = self._series_for(workflow, task)
        if status == STATUS_SUCCESS:
            series.buffer.append(duration)
            if len(series.buffer) >= FOLD_EVERY:
                self._flush(series.buffer)
        else:
            with self._lock:
                series.add(status, duration, self.buckets)

    # -- scrape side ------------------------------------------------------------------------------------------------
    def _snapshot(self) -> tuple[list[_Series], dict[str, int]]:
        with self._lock:
            all_series = list(self._series.values())
            for series in all_series:
                self._fold(series.buffer)
            # Copies of the series, so that rendering happens outside the lock.
            copies = []
            for series in all_series:
                copy = _Series(series.workflow, series.task, 0)
                copy.sum, copy.statuses, copy.buckets = series.sum, dict(series.statuses), list(series.buckets)
                copies.append(copy)
            in_flight = dict(self._started)
        for workflow in {s.workflow for s in copies}:
            in_flight.setdefault(workflow, 0)  # a workflow that ran tasks shows 0, not nothing, when idle
        listener = self.on_task_timed
        for context in running_contexts():  # runs going on now; only those that report to this series count
            if listener not in context.hooks.on_task_timed:
                continue
            running = context.running_task_count
            if running:
                workflow = str(context.workflow_name or UNKNOWN_LABEL)
                in_flight[workflow] = in_flight.get(workflow, 0) + running
        return copies, in_flight

    def describe(self) -> Iterator[Any]:
        """The families this collector produces (lets the registry detect name clashes)."""
        yield CounterMetricFamily(TASKS, "Task attempts that ended, by status", labels=["workflow", "task", "status"])
        yield HistogramMetricFamily(TASK_DURATION, "Task attempt duration", labels=["workflow", "task"])
        yield GaugeMetricFamily(IN_FLIGHT, "Task attempts running now", labels=["workflow"])

    def collect(self) -> Iterator[Any]:
        """The current values of the three families."""
        all_series, in_flight = self._snapshot()
        all_series.sort(key=lambda s: (s.workflow, s.task))
        counter = CounterMetricFamily(TASKS, "Task attempts that ended, by status",
                                      labels=["workflow", "task", "status"])
        for series in all_series:
            for status, count in sorted(series.statuses.items()):
                if count:
                    counter.add_metric([series.workflow, series.task, status], count)
        yield counter
        histogram = HistogramMetricFamily(TASK_DURATION, "Task attempt duration", labels=["workflow", "task"])
        bounds = [*(str(floatToGoString(b)) for b in self.buckets), "+Inf"]  # type: ignore[no-untyped-call]
        for series in all_series:
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for bound, in_bucket in zip(bounds, series.buckets, strict=True):
                running += in_bucket
                cumulative.append((bound, running))
            histogram.add_metric([series.workflow, series.task], cumulative, sum_value=series.sum)
        yield histogram
        gauge = GaugeMetricFamily(IN_FLIGHT, "Task attempts running now", labels=["workflow"])
        for workflow, count in sorted(in_flight.items()):
            gauge.add_metric([workflow], count)
        yield gauge


__all__ = ["FOLD_EVERY", "MAX_CACHED_NAMES", "TaskSeries"]
