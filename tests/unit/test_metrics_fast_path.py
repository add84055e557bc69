"""The Prometheus fast path for task events records what the generic MetricsCollector path records.

``MetricsHook`` on a ``PrometheusCollector`` (single-process mode) hands the engine's task events to
``TaskSeries`` directly; these tests run the same workflows through that path and through the in-memory
collector and compare the series, then check what only the fast path does (buffers, folding, in-flight entries).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graflow.core.decorators import task
from graflow.core.engine import running_contexts
from graflow.core.retry import RetryPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowError
from graflow.observability import task_series
from graflow.observability.metrics import InMemoryMetricsCollector, MetricsHook
from graflow.observability.prometheus import TASK_DURATION_BUCKETS, PrometheusCollector
from graflow.observability.task_series import FOLD_EVERY, TaskSeries


def _samples(registry: CollectorRegistry) -> list[Any]:
    text = generate_latest(registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _task_counts(registry: CollectorRegistry) -> Counter[tuple[str, str, str]]:
    return Counter({
        (s.labels["workflow"], s.labels["task"], s.labels["status"]): int(s.value)
        for s in _samples(registry) if s.name == "graflow_tasks_total" and s.value
    })


def _duration_counts(registry: CollectorRegistry) -> dict[tuple[str, str], int]:
    return {(s.labels["workflow"], s.labels["task"]): int(s.value)
            for s in _samples(registry) if s.name == "graflow_task_duration_seconds_count"}


def _in_flight(registry: CollectorRegistry) -> dict[str, int]:
    return {s.labels["workflow"]: int(s.value) for s in _samples(registry) if s.name == "graflow_tasks_in_flight"}


# -- scenarios: each builds and runs one workflow with the given hook ------------------------------------------------
def _chain_with_failure(hook: MetricsHook) -> None:
    with workflow("fragile", hooks=[hook]) as wf:

        @task
        def ok() -> None:
            return None

        @task
        def boom() -> None:
            raise ValueError("nope")

        ok >> boom
        with pytest.raises(GraflowError):
            wf.execute()


def _retries(hook: MetricsHook) -> None:
    attempts = iter([ValueError("1"), ValueError("2"), None])
    with workflow("retrying", hooks=[hook]) as wf:

        @task(retry_policy=RetryPolicy(max_retries=2, initial_interval=0.0))
        def flaky() -> str:
            error = next(attempts)
            if error is not None:
                raise error
            return "ok"

        wf.execute()


def _iterations(hook: MetricsHook) -> None:
    with workflow("loop", hooks=[hook]) as wf:

        @task(inject_context=True, max_cycles=10)
        def step(ctx: Any, data: Any = None) -> None:
            n = (data or 0) + 1
            if n < 4:
                ctx.next_iteration(n)

        wf.execute()


def _cancelled(hook: MetricsHook) -> None:
    with workflow("stopper", hooks=[hook]) as wf:

        @task(inject_context=True)
        def stop(ctx: Any) -> None:
            ctx.cancel_workflow("enough")

        with pytest.raises(GraflowError):
            wf.execute()


def _parallel(hook: MetricsHook) -> None:
    both_started = threading.Barrier(2, timeout=10)
    with workflow("fan", hooks=[hook]) as wf:

        @task
        def left() -> None:
            both_started.wait()

        @task
        def right() -> None:
            both_started.wait()

        @task
        def join() -> None:
            return None

        (left | right) >> join
        wf.execute()


def _nested(hook: MetricsHook) -> None:
    with workflow("inner", hooks=[hook]) as inner:

        @task
        def leaf() -> int:
            return 1

    with workflow("outer", hooks=[hook]) as outer:

        @task
        def parent() -> None:
            inner.execute()

        @task
        def after() -> None:
            return None

        parent >> after
        outer.execute()


def _same_function_in_two_workflows(hook: MetricsHook) -> None:
    def shared() -> None:
        return None

    for name in ("first", "second", "first"):
        with workflow(name, hooks=[hook]) as wf:
            task(shared)
            wf.execute()


SCENARIOS: dict[str, Callable[[MetricsHook], None]] = {
    "chain_with_failure": _chain_with_failure,
    "retries": _retries,
    "iterations": _iterations,
    "cancelled": _cancelled,
    "parallel": _parallel,
    "nested": _nested,
    "same_function_in_two_workflows": _same_function_in_two_workflows,
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_fast_path_records_what_the_collector_path_records(scenario: str) -> None:
    # given the same workflow run once through the generic path and once through the fast path
    memory = InMemoryMetricsCollector()
    SCENARIOS[scenario](MetricsHook(memory))
    registry = CollectorRegistry()
    fast = MetricsHook(registry=registry)
    assert fast.on_task_timed == fast.collector.task_events.on_task_timed  # type: ignore[attr-defined]
    assert fast.on_task_start is None and fast.on_task_end is None  # nothing runs at a task's start
    SCENARIOS[scenario](fast)

    # then the same attempts, statuses, histogram counts and runs are recorded, and nothing is left in flight
    assert _task_counts(registry) == +memory.tasks
    assert _duration_counts(registry) == {key: len(v) for key, v in memory.task_durations.items()}
    assert set(_in_flight(registry).values()) == {0}
    assert set(_in_flight(registry)) == {workflow for workflow, _, _ in memory.tasks}


def test_a_nested_run_is_in_flight_with_the_task_that_runs_it() -> None:
    # given a task that runs a nested workflow whose task scrapes the registry while both are running
    registry = CollectorRegistry()
    hook = MetricsHook(registry=registry)
    seen: dict[str, int] = {}
    with workflow("inner", hooks=[hook]) as inner:

        @task
        def probe() -> None:
            seen.update(_in_flight(registry))

    with workflow("outer", hooks=[hook]) as outer:

        @task
        def parent() -> None:
            inner.execute()

        outer.execute()

    # then both attempts were in flight, each under its own workflow, and neither is any more
    assert seen == {"outer": 1, "inner": 1}
    assert _in_flight(registry) == {"outer": 0, "inner": 0}
    durations = {s.labels["task"]: s.value for s in _samples(registry) if s.name == "graflow_task_duration_seconds_sum"}
    assert durations["parent"] >= durations["probe"]


def test_members_of_a_running_parallel_group_are_in_flight() -> None:
    # given a parallel group of three members on threads that hold until the test has scraped the registry
    registry = CollectorRegistry()
    arrived = threading.Barrier(4, timeout=30)
    release = threading.Event()
    with workflow("fanout", hooks=[MetricsHook(registry=registry)]) as wf:

        def member() -> None:
            arrived.wait()
            assert release.wait(30)

        (task("m1")(member) | task("m2")(member) | task("m3")(member)).with_execution(backend="threading")
        runner = threading.Thread(target=wf.execute)
        runner.start()
        arrived.wait()
        during = _in_flight(registry)
        release.set()
        runner.join(30)

    # then the three members and the group task that runs them were in flight, and nothing is afterwards
    assert during == {"fanout": 4}
    assert _in_flight(registry) == {"fanout": 0}
    assert _task_counts(registry)[("fanout", "member", "success")] == 3


class _Abort(BaseException):
    """Goes through the engine without an on_task_end, like a worker shutdown."""


def test_an_attempt_aborted_by_a_base_exception_stops_counting_in_flight() -> None:
    # given a run whose task is aborted by a BaseException (the engine reports no end for it)
    registry = CollectorRegistry()
    with workflow("aborted", hooks=[MetricsHook(registry=registry)]) as wf:

        @task
        def doomed() -> None:
            raise _Abort()

        with pytest.raises(_Abort):
            wf.execute()

    # then the next scrape shows nothing in flight and the engine no longer lists the run
    assert _in_flight(registry).get("aborted", 0) == 0
    assert all(ctx.workflow_name != "aborted" for ctx in running_contexts())


def test_durations_folded_across_many_buffers_match_prometheus_client() -> None:
    # given more successful durations than one buffer holds, spread over every bucket, and a few failures
    durations = [TASK_DURATION_BUCKETS[i % len(TASK_DURATION_BUCKETS)] * (0.5 + (i % 3) * 0.5) + (i % 2) * 1e-9
                 for i in range(2 * FOLD_EVERY + 37)]
    durations += [0.0, 7200.0]
    fast_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    series = TaskSeries(TASK_DURATION_BUCKETS)
    fast_registry.register(series)
    reference = Histogram("graflow_task_duration_seconds", "x", ["workflow", "task"],
                          buckets=TASK_DURATION_BUCKETS, registry=reference_registry)
    for i, d in enumerate(durations):
        series.started("w")
        series.ended("w", "t", "failed" if i % 101 == 0 else "success", d)
        reference.labels(workflow="w", task="t").observe(d)
        if i == FOLD_EVERY + 5:
            _samples(fast_registry)  # a scrape in the middle folds a partly filled buffer

    # then every bucket, the count and the sum agree with prometheus-client's own histogram
    def histogram(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {(s.name, s.labels.get("le", "")): s.value for s in _samples(registry)
                if s.name.startswith("graflow_task_duration_seconds") and not s.name.endswith("_created")}

    assert histogram(fast_registry) == pytest.approx(histogram(reference_registry))
    failed = sum(1 for i in range(len(durations)) if i % 101 == 0)
    assert _task_counts(fast_registry) == {("w", "t", "failed"): failed,
                                           ("w", "t", "success"): len(durations) - failed}


def test_counters_never_go_backwards_while_threads_record_and_scrapes_run() -> None:
    # given threads that each run attempts in their own context, and a scraper running meanwhile
    registry = CollectorRegistry()
    series = PrometheusCollector(registry).task_events
    assert series is not None
    threads, per_thread = 4, 3 * FOLD_EVERY
    start = threading.Barrier(threads + 1, timeout=30)

    class Ctx:
        workflow_name = "busy"

    def leaf() -> None:
        return None

    from graflow.core.task import TaskWrapper

    leaf_task = TaskWrapper("leaf", leaf, register_to_context=False)

    def work() -> None:
        context = Ctx()
        start.wait()
        for i in range(per_thread):
            series.on_task_timed(task=leaf_task, context=context, duration=1e-6 * (i % 50),
                                 error=None if i % 7 else ValueError("x"))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    seen: list[Counter[tuple[str, str, str]]] = []
    while any(w.is_alive() for w in workers):
        seen.append(_task_counts(registry))
    for w in workers:
        w.join()
    seen.append(_task_counts(registry))

    # then every scrape is at least the one before it, and the last one has every attempt
    for before, after in itertools.pairwise(seen):
        assert all(after[key] >= count for key, count in before.items()), (before, after)
    failed = threads * sum(1 for i in range(per_thread) if i % 7 == 0)
    assert seen[-1] == {("busy", "leaf", "success"): threads * per_thread - failed, ("busy", "leaf", "failed"): failed}
    assert _in_flight(registry) == {"busy": 0}


def test_the_name_cache_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a tiny cache and more distinct task names than it holds
    monkeypatch.setattr(task_series, "MAX_CACHED_NAMES", 2)
    registry = CollectorRegistry()
    hook = MetricsHook(registry=registry)
    with workflow("many", hooks=[hook]) as wf:
        made = []
        for i in range(5):
            def body() -> None:
                return None

            body.__name__ = f"step{i}"
            made.append(task(body))
        for a, b in itertools.pairwise(made):
            a >> b
        wf.execute()
        wf.execute()

    # then every name still has its own series with both runs in it
    series = PrometheusCollector(registry).task_events
    assert series is not None and series._cached <= 2
    assert _task_counts(registry) == {("many", f"step{i}", "success"): 2 for i in range(5)}


def test_tasks_that_are_not_function_wrappers_take_their_label_from_task_label() -> None:
    # given a task object of another kind, with an iteration suffix on its name
    registry = CollectorRegistry()
    series = PrometheusCollector(registry).task_events
    assert series is not None

    class Step:
        task_id = "step_cycle_2_ab12cd34"
        name = "step_cycle_2_ab12cd34"

    class Ctx:
        workflow_name = "odd"

    context = Ctx()
    for _ in range(2):
        series.on_task_timed(task=Step(), context=context, duration=0.001)

    assert _task_counts(registry) == {("odd", "step", "success"): 2}


def test_a_subclass_that_overrides_a_task_event_still_runs_its_own_code() -> None:
    # given a MetricsHook subclass that does something of its own on task start
    registry = CollectorRegistry()
    starts: list[str] = []

    class Counting(MetricsHook):
        def on_task_start(self, *, task: Any, context: Any) -> None:
            starts.append(task.task_id)
            super().on_task_start(task=task, context=context)

    with workflow("custom", hooks=[Counting(registry=registry)]) as wf:

        @task
        def only() -> None:
            return None

        wf.execute()

    # then its override ran and the metrics are recorded all the same
    assert starts == ["only"]
    assert _task_counts(registry) == {("custom", "only", "success"): 1}
    assert _in_flight(registry) == {"custom": 0}
