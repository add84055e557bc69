"""Per-task Prometheus series kept in plain Python and rendered at scrape time (single-process mode).

``graflow_tasks_total``, ``graflow_task_duration_seconds`` and ``graflow_tasks_in_flight`` change on every task,
so they sit on the engine's hot path. prometheus-client's metric objects take a lock and walk every bucket per
observation; here the engine's task events reach :attr:`TaskSeries.on_task_start` and :attr:`TaskSeries.on_task_end`
directly (the :class:`~graflow.observability.metrics.MetricsHook` hands them over) and do the least they can:

- An execution context runs one task at a time, so a start only stores the time under its context in a dictionary
  and the end pops it. Tasks in flight are the entries seen at scrape time.
- The end finds the buffer of the (workflow, task) series through a cache keyed by the workflow name and the task's
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
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

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
# ExecutionContext.status once its run is over: an attempt still recorded as running under such a context never
# ended (a BaseException, such as a worker shutdown, went through the engine).
_RUN_OVER = frozenset({"completed", "failed", "canceled", "cancelled", "terminated", "max_steps_reached"})


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
        last = bisect_left(bounds, max(durations))
        first = bisect_left(bounds, min(durations)) if last else 0
        if first == last:  # the common case (one task's durations are alike): no sort
            self.buckets[first] += len(durations)
        else:
            ordered = sorted(durations)
            below = 0
            for i in range(first, last):
                upto = bisect_right(ordered, bounds[i])  # le: a duration equal to the bound is in its bucket
                self.buckets[i] += upto - below
                below = upto
            self.buckets[last] += len(ordered) - below
        self.sum += sum(durations)
        self.statuses[STATUS_SUCCESS] = self.statuses.get(STATUS_SUCCESS, 0) + len(durations)

    def add(self, status: str, duration: float, bounds: tuple[float, ...]) -> None:
        """Count one attempt."""
        self.buckets[bisect_left(bounds, duration)] += 1
        self.sum += duration
        self.statuses[status] = self.statuses.get(status, 0) + 1


class TaskSeries:
    """Counts task attempts; :meth:`collect` renders the three families for a registry.

    Attributes:
        on_task_start: Engine-hook listener ``(*, task, context)``: an attempt starts.
        on_task_end: Engine-hook listener ``(*, task, context, result=None, error=None)``: it ended. Both record
            what ``record_task_started``/``record_task_execution`` of the collector would, with the labels of
            :func:`~graflow.observability.metrics.task_label` and the context's ``workflow_name``.

    Args:
        buckets: Upper bounds of the duration histogram, ascending, without ``+Inf``.
    """

    on_task_start: Callable[..., None]
    on_task_end: Callable[..., None]

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = tuple(float(b) for b in buckets)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        # context.workflow_name -> function name -> buffer (TaskWrapper tasks only, see _buffer_for)
        self._cache: dict[str, dict[str, _Buffer]] = {}
        self._cached = 0
        # execution context -> perf_counter() at the start of the attempt it runs now
        self._running: dict[Any, float] = {}
        # attempts started through started() (the string API) and not ended, per workflow label
        self._started: dict[str, int] = {}
        self.on_task_start, self.on_task_end = self._task_listeners()

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
    def _task_listeners(self) -> tuple[Callable[..., None], Callable[..., None]]:
        """The two listeners, as closures: their free variables read faster than attributes of ``self``."""
        running = self._running
        cache = self._cache
        perf_counter = time.perf_counter
        task_wrapper = TaskWrapper
        fold_every = FOLD_EVERY
        buffer_for = self._buffer_for
        flush = self._flush
        failed = self._failed

        def on_task_start(*, task: Any, context: Any) -> None:
            try:
                running[context] = perf_counter()
            except TypeError:  # an unhashable stand-in for a context: nothing to time the attempt by
                pass

        def on_task_end(
            *, task: Any, context: Any, result: Any = None, error: BaseException | None = None
        ) -> None:
            end = perf_counter()
            try:
                start = running.pop(context)
            except (KeyError, TypeError):
                return  # an end without a start (the hook was added while the task ran)
            # A TaskWrapper's label is its function name (see task_label); other kinds of task take the long way.
            if task.__class__ is task_wrapper:
                try:
                    buffer = cache[context.workflow_name][task.__name__]
                except (KeyError, AttributeError, TypeError):  # not cached yet, or not an engine context
                    buffer = buffer_for(task, context)
            else:
                buffer = buffer_for(task, context)
            if error is None:
                buffer.append(end - start)
                if len(buffer) >= fold_every:
                    flush(buffer)
            else:
                failed(buffer, error, end - start)

        return on_task_start, on_task_end

    # -- collector API (record_task_started / record_task_execution) ------------------------------------------------
    def started(self, workflow: str) -> None:
        """A task attempt started."""
        with self._lock:
            self._started[workflow] = self._started.get(workflow, 0) + 1

    def ended(self, workflow: str, task: str, status: str, duration: float) -> None:
        """A task attempt that started (see :meth:`started`) ended."""
        series = self._series_for(workflow, task)
        if status == STATUS_SUCCESS:
            series.buffer.append(duration)
            if len(series.buffer) >= FOLD_EVERY:
                self._flush(series.buffer)
        else:
            with self._lock:
                series.add(status, duration, self.buckets)
        with self._lock:
            self._started[workflow] = self._started.get(workflow, 0) - 1

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
        for context, start in list(self._running.items()):  # list(...) copies in one C call: safe against writers
            if getattr(context, "status", None) in _RUN_OVER:  # not in flight, and not worth keeping
                if self._running.get(context) is start:
                    self._running.pop(context, None)
                continue
            workflow = str(getattr(context, "workflow_name", None) or UNKNOWN_LABEL)
            in_flight[workflow] = in_flight.get(workflow, 0) + 1
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
