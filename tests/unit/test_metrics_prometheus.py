"""PrometheusCollector: every metric family is exported under its documented name, with bounded labels."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.exceptions import ConfigError, GraflowError
from graflow.observability.metrics import MetricsCollector, MetricsHook
from graflow.observability.prometheus import METRIC_NAMES, PrometheusCollector, graflow_version


def _samples(registry: CollectorRegistry) -> dict[str, list[Any]]:
    text = generate_latest(registry).decode()
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    matching = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"no sample {name}{labels}; have {sorted(samples)}"
    return float(sum(matching))


def _family_names(registry: CollectorRegistry) -> set[str]:
    return {f.name for f in text_string_to_metric_families(generate_latest(registry).decode())}


def test_collector_satisfies_the_protocol() -> None:
    assert isinstance(PrometheusCollector(CollectorRegistry()), MetricsCollector)


def test_workflow_run_produces_task_and_workflow_series() -> None:
    # given a hook on a private registry and a workflow whose second task fails
    registry = CollectorRegistry()
    with workflow("orders", hooks=[MetricsHook(registry=registry)]) as wf:

        @task
        def receive() -> int:
            return 1

        @task
        def charge() -> None:
            raise RuntimeError("card declined")

        receive >> charge
        # when it runs
        with pytest.raises(GraflowError):
            wf.execute()

    # then
    samples = _samples(registry)
    assert _value(samples, "graflow_tasks_total", workflow="orders", task="receive", status="success") == 1
    assert _value(samples, "graflow_tasks_total", workflow="orders", task="charge", status="failed") == 1
    assert _value(samples, "graflow_task_duration_seconds_count", workflow="orders", task="receive") == 1
    assert _value(samples, "graflow_workflow_runs_total", workflow="orders", status="failed") == 1
    assert _value(samples, "graflow_workflow_duration_seconds_count", workflow="orders") == 1
    assert _value(samples, "graflow_tasks_in_flight", workflow="orders") == 0
    assert _value(samples, "graflow_build_info", version=graflow_version()) == 1


def test_every_documented_family_is_exported() -> None:
    # given a collector that saw one of every event
    registry = CollectorRegistry()
    hook = MetricsHook(registry=registry)
    with workflow("all", hooks=[hook]) as wf:

        @task
        def one() -> int:
            return 1

        wf.execute()

    class Ctx:
        workflow_name = "all"

    class Task:
        task_id = "one"
        name = "one"

    hook.on_task_retry(task=Task(), context=Ctx(), attempt=1, delay=0.0, error=ValueError())  # type: ignore[arg-type]
    hook.on_checkpoint(context=Ctx(), path="x", duration=0.01)  # type: ignore[arg-type]
    hook.on_task_dequeued(task_id="one", queue="q", wait_seconds=0.5, deliveries=1)
    hook.on_task_redelivered(task_id="one", queue="q", deliveries=2)
    hook.on_task_dead_lettered(task_id="one", queue="q", reason="max_deliveries")
    hook.on_payload_rejected(queue="q", reason="bad_signature")
    hook.on_queue_depth(queue="q", depth=7)

    # then every documented family is present (parser names counters without _total)
    exported = _family_names(registry)
    for name in METRIC_NAMES:
        family = name.removesuffix("_total")
        assert family in exported, f"{name} missing from {sorted(exported)}"
    samples = _samples(registry)
    assert _value(samples, "graflow_queue_depth", queue="q") == 7
    assert _value(samples, "graflow_task_queue_wait_seconds_sum", queue="q") == pytest.approx(0.5)
    assert _value(samples, "graflow_tasks_dead_lettered_total", queue="q", reason="max_deliveries") == 1
    assert _value(samples, "graflow_payload_rejected_total", queue="q", reason="bad_signature") == 1
    assert _value(samples, "graflow_task_redeliveries_total", queue="q") == 1
    assert _value(samples, "graflow_task_retries_total", workflow="all", task="one") == 1
    assert _value(samples, "graflow_checkpoint_write_seconds_count", workflow="all") == 1


def test_two_collectors_share_one_registry_without_duplicates() -> None:
    registry = CollectorRegistry()
    first = PrometheusCollector(registry)
    second = PrometheusCollector(registry)
    first.record_task_started("t", workflow="w")
    first.record_task_execution("t", 0.1, "success", workflow="w")
    second.record_task_started("t", workflow="w")
    second.record_task_execution("t", 0.1, "success", workflow="w")
    assert _value(_samples(registry), "graflow_tasks_total", workflow="w", task="t", status="success") == 2


def test_custom_counter_is_prefixed_and_keeps_its_labels() -> None:
    registry = CollectorRegistry()
    collector = PrometheusCollector(registry)
    collector.increment_counter("cache_hits", 2, {"cache": "prompts"})
    collector.increment_counter("graflow_cache_hits_total", 1, {"cache": "prompts"})
    collector.increment_counter("plain")
    samples = _samples(registry)
    assert _value(samples, "graflow_cache_hits_total", cache="prompts") == 3
    assert _value(samples, "graflow_plain_total") == 1
    with pytest.raises(ConfigError, match="cache_hits"):
        collector.increment_counter("cache_hits", 1, {"other": "x"})


def test_task_series_histogram_matches_prometheus_client() -> None:
    # given the same observations in the fast per-thread series and in a prometheus-client histogram
    from prometheus_client import Histogram

    from graflow.observability.prometheus import TASK_DURATION_BUCKETS
    from graflow.observability.task_series import TaskSeries

    durations = [0.0, 0.0005, 0.0007, 0.001, 0.3, 2.5, 59.9, 3600.0, 7200.0]
    fast_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    series = TaskSeries(TASK_DURATION_BUCKETS)
    fast_registry.register(series)
    reference = Histogram("graflow_task_duration_seconds", "x", ["workflow", "task"],
                          buckets=TASK_DURATION_BUCKETS, registry=reference_registry)
    for d in durations:
        series.started("w")
        series.ended("w", "t", "success", d)
        reference.labels(workflow="w", task="t").observe(d)

    # then bucket, count and sum samples are identical (boundaries are inclusive: le means <=)
    def histogram_samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels.get("le", "")): s.value
            for s in _samples(registry).get("graflow_task_duration_seconds_bucket", [])
            + _samples(registry).get("graflow_task_duration_seconds_count", [])
            + _samples(registry).get("graflow_task_duration_seconds_sum", [])
        }

    assert histogram_samples(fast_registry) == pytest.approx(histogram_samples(reference_registry))
    assert _value(_samples(fast_registry), "graflow_tasks_in_flight", workflow="w") == 0


def test_task_series_loses_no_update_across_threads() -> None:
    import threading

    registry = CollectorRegistry()
    collector = PrometheusCollector(registry)
    per_thread, threads = 5000, 4
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            collector.record_task_started("t", workflow="w")
            collector.record_task_execution("t", 0.001, "success", workflow="w")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    samples = _samples(registry)
    assert _value(samples, "graflow_tasks_total", workflow="w", task="t", status="success") == per_thread * threads
    assert _value(samples, "graflow_task_duration_seconds_count", workflow="w", task="t") == per_thread * threads
    assert _value(samples, "graflow_tasks_in_flight", workflow="w") == 0


def test_in_flight_counts_a_running_task_at_scrape_time() -> None:
    registry = CollectorRegistry()
    collector = PrometheusCollector(registry)
    collector.record_task_started("slow", workflow="w")
    assert _value(_samples(registry), "graflow_tasks_in_flight", workflow="w") == 1
    collector.record_task_execution("slow", 1.0, "success", workflow="w")
    assert _value(_samples(registry), "graflow_tasks_in_flight", workflow="w") == 0


def test_statuses_outside_the_fixed_set_are_still_counted() -> None:
    registry = CollectorRegistry()
    collector = PrometheusCollector(registry)
    for status in ("success", "skipped", "skipped"):
        collector.record_task_started("t", workflow="w")
        collector.record_task_execution("t", 0.01, status, workflow="w")
    samples = _samples(registry)
    assert _value(samples, "graflow_tasks_total", workflow="w", task="t", status="skipped") == 2
    assert _value(samples, "graflow_tasks_total", workflow="w", task="t", status="success") == 1
    assert not [s for s in samples["graflow_tasks_total"] if s.labels["status"] == "failed"]
