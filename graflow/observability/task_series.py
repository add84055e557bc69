"""Per-task Prometheus series kept in plain Python and rendered at scrape time (single-process mode).

``graflow_tasks_total``, ``graflow_task_duration_seconds`` and ``graflow_tasks_in_flight`` change on every task,
so they sit on the engine's hot path. prometheus-client's metric objects take a lock and walk every bucket per
observation; here each thread adds into its own dictionaries (no lock, no lost update between threads) and a
registry collector sums the threads' tables when Prometheus scrapes. Forked workers cannot share these tables, so
in multi-process mode :mod:`graflow.observability.prometheus` uses prometheus-client's file-backed metrics instead.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

TASKS = "graflow_tasks"
TASK_DURATION = "graflow_task_duration_seconds"
IN_FLIGHT = "graflow_tasks_in_flight"


# Statuses with a fixed slot in a row; any other status is counted in the row's overflow dictionary.
_STATUS_SLOTS = {"success": 0, "failed": 1, "cancelled": 2}


class _ThreadTable:
    """One thread's counts: only that thread writes them.

    ``rows[workflow][task]`` is a list: one count per duration bucket (the last is +Inf), the sum of durations, one
    count per fixed status, then a dict of other statuses. Nested dictionaries of strings avoid building a key
    tuple per task: fewer allocations, fewer garbage-collector passes on the engine's thread.
    """

    __slots__ = ("in_flight", "rows")

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[Any]]] = {}
        self.in_flight: dict[str, int] = {}


class TaskSeries:
    """Counts task attempts per thread; :meth:`collect` renders the three families for a registry.

    Args:
        buckets: Upper bounds of the duration histogram, ascending, without ``+Inf``.
    """

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = tuple(float(b) for b in buckets)
        self._slots = len(self.buckets) + 1  # + the +Inf bucket
        self._local = threading.local()
        self._tables: list[_ThreadTable] = []
        self._tables_lock = threading.Lock()

    def _table(self) -> _ThreadTable:
        try:
            table: _ThreadTable = self._local.table
        except AttributeError:
            table = self._local.table = _ThreadTable()
            with self._tables_lock:
                self._tables.append(table)
        return table

    def started(self, workflow: str) -> None:
        """A task attempt started on this thread."""
        in_flight = self._table().in_flight
        in_flight[workflow] = in_flight.get(workflow, 0) + 1

    def ended(self, workflow: str, task: str, status: str, duration: float) -> None:
        """A task attempt that started on this thread ended."""
        table = self._table()
        tasks = table.rows.get(workflow)
        if tasks is None:
            tasks = table.rows[workflow] = {}
        row = tasks.get(task)
        if row is None:
            row = tasks[task] = [0] * (self._slots + 1 + len(_STATUS_SLOTS)) + [{}]
        row[bisect_left(self.buckets, duration)] += 1
        row[self._slots] += duration
        slot = _STATUS_SLOTS.get(status)
        if slot is not None:
            row[self._slots + 1 + slot] += 1
        else:
            other = row[-1]
            other[status] = other.get(status, 0) + 1
        in_flight = table.in_flight
        in_flight[workflow] = in_flight.get(workflow, 0) - 1

    # -- scrape side ------------------------------------------------------------------------------------------------
    def _snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], list[float]], dict[str, int]]:
        tasks: dict[tuple[str, str, str], int] = {}
        durations: dict[tuple[str, str], list[float]] = {}
        in_flight: dict[str, int] = {}
        slots = self._slots
        with self._tables_lock:
            tables = list(self._tables)
        for table in tables:
            # list(dict.items()) copies in one C call, so a writer thread cannot resize the dict under us.
            for workflow, rows in list(table.rows.items()):
                for task, live_row in list(rows.items()):
                    row = list(live_row)
                    total = durations.setdefault((workflow, task), [0.0] * (slots + 1))
                    for i in range(slots + 1):
                        total[i] += row[i]
                    statuses = {s: row[slots + 1 + i] for s, i in _STATUS_SLOTS.items()}
                    for status, count in list(row[-1].items()):
                        statuses[status] = statuses.get(status, 0) + count
                    for status, count in statuses.items():
                        if count:
                            key = (workflow, task, status)
                            tasks[key] = tasks.get(key, 0) + count
            for workflow, count in list(table.in_flight.items()):
                in_flight[workflow] = in_flight.get(workflow, 0) + count
        return tasks, durations, in_flight

    def describe(self) -> Iterator[Any]:
        """The families this collector produces (lets the registry detect name clashes)."""
        yield CounterMetricFamily(TASKS, "Task attempts that ended, by status", labels=["workflow", "task", "status"])
        yield HistogramMetricFamily(TASK_DURATION, "Task attempt duration", labels=["workflow", "task"])
        yield GaugeMetricFamily(IN_FLIGHT, "Task attempts running now", labels=["workflow"])

    def collect(self) -> Iterator[Any]:
        """The current values of the three families."""
        tasks, durations, in_flight = self._snapshot()
        counter = CounterMetricFamily(TASKS, "Task attempts that ended, by status",
                                      labels=["workflow", "task", "status"])
        for (workflow, task, status), count in sorted(tasks.items()):
            counter.add_metric([workflow, task, status], count)
        yield counter
        histogram = HistogramMetricFamily(TASK_DURATION, "Task attempt duration", labels=["workflow", "task"])
        bounds = [*(str(floatToGoString(b)) for b in self.buckets), "+Inf"]  # type: ignore[no-untyped-call]
        for (workflow, task), row in sorted(durations.items()):
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for bound, in_bucket in zip(bounds, row[: self._slots], strict=True):
                running += in_bucket
                cumulative.append((bound, running))
            histogram.add_metric([workflow, task], cumulative, sum_value=row[self._slots])
        yield histogram
        gauge = GaugeMetricFamily(IN_FLIGHT, "Task attempts running now", labels=["workflow"])
        for workflow, count in sorted(in_flight.items()):
            gauge.add_metric([workflow], count)
        yield gauge


__all__ = ["TaskSeries"]
