"""PrometheusMetrics: metrics recorded by hand land in Graflow's Prometheus series, with bounded task labels."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.observability import prometheus_metrics
from graflow.observability.metrics import MetricsCollector, MetricsHook
from graflow.observability.prometheus import PrometheusCollector
from graflow.observability.prometheus_metrics import OVERFLOW_TASK_LABEL, PrometheusMetrics


def _samples(registry: Any) -> list[Any]:
    text = generate_latest(registry).decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(registry: Any, name: str, **labels: str) -> float:
    matching = [s.value for s in _samples(registry) if s.name == name and s.labels == labels]
    assert len(matching) == 1, f"expected one sample {name}{labels}, got {matching}"
    return float(matching[0])


def _task_labels(registry: Any) -> set[str]:
    return {s.labels["task"] for s in _samples(registry) if s.name == "graflow_tasks_total"}


def test_prometheus_metrics_satisfies_the_collector_protocol() -> None:
    assert isinstance(PrometheusMetrics(CollectorRegistry()), MetricsCollector)


def test_prometheus_metrics_is_importable_from_the_metrics_and_package_modules() -> None:
    import graflow.observability as observability
    import graflow.observability.metrics as metrics

    assert metrics.PrometheusMetrics is PrometheusMetrics
    assert observability.PrometheusMetrics is PrometheusMetrics


def test_task_executions_are_counted_and_timed_by_task_and_status() -> None:
    # given metrics on a private registry
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    # when two successful attempts and a failed one are recorded
    metrics.record_task_execution("extract", 0.2, "success")
    metrics.record_task_execution("extract", 0.4, "success")
    metrics.record_task_execution("extract", 3.0, "failed")
    # then graflow_tasks_total counts them by status
    assert _value(registry, "graflow_tasks_total", workflow="", task="extract", status="success") == 2
    assert _value(registry, "graflow_tasks_total", workflow="", task="extract", status="failed") == 1
    # and graflow_task_duration_seconds holds every attempt, in its buckets
    assert _value(registry, "graflow_task_duration_seconds_count", workflow="", task="extract") == 3
    assert _value(registry, "graflow_task_duration_seconds_sum", workflow="", task="extract") == pytest.approx(3.6)
    assert _value(registry, "graflow_task_duration_seconds_bucket", workflow="", task="extract", le="0.25") == 1
    assert _value(registry, "graflow_task_duration_seconds_bucket", workflow="", task="extract", le="0.5") == 2
    assert _value(registry, "graflow_task_duration_seconds_bucket", workflow="", task="extract", le="+Inf") == 3


def test_workflow_keyword_sets_the_workflow_label() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry).record_task_execution("load", 0.1, "success", workflow="etl")
    assert _value(registry, "graflow_tasks_total", workflow="etl", task="load", status="success") == 1


def test_execution_without_a_start_leaves_tasks_in_flight_alone() -> None:
    # given metrics that see one started attempt and one recorded only when it ended
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.record_task_started("slow", workflow="w")
    assert _value(registry, "graflow_tasks_in_flight", workflow="w") == 1
    # when an attempt that was never started ends, then the started one is still in flight
    metrics.record_task_execution("quick", 0.01, "success", workflow="w")
    assert _value(registry, "graflow_tasks_in_flight", workflow="w") == 1
    # and when the started one ends, nothing is in flight, never a negative count
    metrics.record_task_execution("slow", 2.0, "success", workflow="w")
    metrics.record_task_execution("quick", 0.01, "success", workflow="w")
    assert _value(registry, "graflow_tasks_in_flight", workflow="w") == 0
    assert _value(registry, "graflow_tasks_total", workflow="w", task="quick", status="success") == 2


def test_cycle_iteration_ids_share_their_task_series() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    for task_id in ("optimize", "optimize_cycle_1_0a1b2c3d", "optimize_cycle_2_deadbeef"):
        metrics.record_task_execution(task_id, 0.1, "success")
    assert _task_labels(registry) == {"optimize"}
    assert _value(registry, "graflow_tasks_total", workflow="", task="optimize", status="success") == 3


def test_task_labels_past_the_limit_fold_into_the_overflow_label(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a registry that admits three task labels
    monkeypatch.setattr(prometheus_metrics, "MAX_TASK_LABELS", 3)
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    # when six distinct ids are recorded, and an admitted one again
    for index in range(6):
        metrics.record_task_execution(f"job_{index}", 0.1, "success")
    metrics.record_task_execution("job_0", 0.1, "success")
    # then the first three keep their series and the rest share one
    assert _task_labels(registry) == {"job_0", "job_1", "job_2", OVERFLOW_TASK_LABEL}
    assert _value(registry, "graflow_tasks_total", workflow="", task="job_0", status="success") == 2
    assert _value(registry, "graflow_tasks_total", workflow="", task=OVERFLOW_TASK_LABEL, status="success") == 3


def test_label_limit_is_shared_by_every_instance_on_a_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus_metrics, "MAX_TASK_LABELS", 2)
    registry = CollectorRegistry()
    PrometheusMetrics(registry).record_task_execution("a", 0.1, "success")
    PrometheusMetrics(registry).record_task_execution("b", 0.1, "success")
    PrometheusMetrics(registry).record_task_execution("c", 0.1, "success")
    assert _task_labels(registry) == {"a", "b", OVERFLOW_TASK_LABEL}


def test_free_text_status_is_cut_to_a_bounded_label() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry).record_task_execution("t", 0.1, "failed: connection reset by 10.0.0.7")
    assert _value(registry, "graflow_tasks_total", workflow="", task="t", status="failed") == 1


def test_workflow_queue_and_custom_counters_are_exported() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    metrics.record_workflow_execution("etl", 12.5, 4)
    metrics.record_queue_depth("graflow:tasks", 7)
    metrics.increment_counter("rows_loaded", 250, tags={"table": "orders"})
    assert _value(registry, "graflow_workflow_runs_total", workflow="etl", status="success") == 1
    assert _value(registry, "graflow_workflow_duration_seconds_sum", workflow="etl") == 12.5
    assert _value(registry, "graflow_workflow_tasks_sum", workflow="etl") == 4
    assert _value(registry, "graflow_queue_depth", queue="graflow:tasks") == 7
    assert _value(registry, "graflow_rows_loaded_total", table="orders") == 250


def test_instances_collectors_and_hooks_share_one_registry_without_duplicate_series() -> None:
    # given two PrometheusMetrics, a PrometheusCollector and a MetricsHook on one registry
    registry = CollectorRegistry()
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    PrometheusCollector(registry)
    with workflow("etl", hooks=[MetricsHook(registry=registry)]) as wf:

        @task
        def extract() -> int:
            return 1

        wf.execute()
    # when both instances record the task the hook also saw
    first.record_task_execution("extract", 0.1, "success", workflow="etl")
    second.record_task_execution("extract", 0.1, "success", workflow="etl")
    # then every attempt is in one series, and no series appears twice in the scrape
    assert _value(registry, "graflow_tasks_total", workflow="etl", task="extract", status="success") == 3
    keys = Counter((s.name, tuple(sorted(s.labels.items()))) for s in _samples(registry))
    assert [key for key, count in keys.items() if count > 1] == []
    families = [f.name for f in text_string_to_metric_families(generate_latest(registry).decode())]
    assert families.count("graflow_tasks") == 1
    assert families.count("graflow_task_duration_seconds") == 1


def test_prometheus_metrics_as_the_hooks_collector_records_the_run() -> None:
    registry = CollectorRegistry()
    with workflow("orders", hooks=[MetricsHook(collector=PrometheusMetrics(registry))]) as wf:

        @task
        def receive() -> int:
            return 1

        wf.execute()
    assert _value(registry, "graflow_tasks_total", workflow="orders", task="receive", status="success") == 1
    assert _value(registry, "graflow_tasks_in_flight", workflow="orders") == 0
    assert _value(registry, "graflow_workflow_runs_total", workflow="orders", status="success") == 1


def test_default_registry_is_the_process_wide_one_and_instances_do_not_clash() -> None:
    # given two instances without a registry (a third collector may already use the default one)
    first, second = PrometheusMetrics(), PrometheusMetrics()
    assert first.registry is prometheus_client.REGISTRY
    label = "default_registry_probe"
    before = sum(
        s.value
        for s in _samples(prometheus_client.REGISTRY)
        if s.name == "graflow_tasks_total" and s.labels.get("task") == label
    )
    # when each records an attempt
    first.record_task_execution(label, 0.1, "success")
    second.record_task_execution(label, 0.1, "success")
    # then both land in the default registry's single series
    assert (
        _value(prometheus_client.REGISTRY, "graflow_tasks_total", workflow="", task=label, status="success")
        == before + 2
    )


MULTIPROCESS_SCRIPT = textwrap.dedent(
    """
    import json

    from graflow.observability.prometheus import exposition_registry, multiprocess_enabled
    from graflow.observability.prometheus_metrics import PrometheusMetrics
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    metrics = PrometheusMetrics()
    metrics.record_task_execution("extract", 0.2, "success", workflow="w")
    metrics.record_task_started("load", workflow="w")
    metrics.record_task_execution("load", 0.3, "failed", workflow="w")
    metrics.record_task_execution("extract", 0.1, "success", workflow="w")
    values = {}
    for family in text_string_to_metric_families(generate_latest(exposition_registry()).decode()):
        for s in family.samples:
            values[s.name + json.dumps(dict(sorted(s.labels.items())))] = s.value
    print(json.dumps({"multiprocess": multiprocess_enabled(), "values": values}))
    """
)


def test_multiprocess_mode_counts_attempts_and_keeps_in_flight_at_zero(tmp_path: Path) -> None:
    # prometheus-client reads PROMETHEUS_MULTIPROC_DIR at import: the scenario runs in a fresh interpreter.
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    values = report["values"]
    assert report["multiprocess"] is True
    assert values['graflow_tasks_total{"status": "success", "task": "extract", "workflow": "w"}'] == 2
    assert values['graflow_tasks_total{"status": "failed", "task": "load", "workflow": "w"}'] == 1
    assert values['graflow_task_duration_seconds_count{"task": "extract", "workflow": "w"}'] == 2
    in_flight = [v for k, v in values.items() if k.startswith("graflow_tasks_in_flight")]
    assert in_flight and all(v == 0 for v in in_flight)


def test_the_documented_example_prints_what_the_docs_show(capsys: pytest.CaptureFixture[str]) -> None:
    # given the "Recording by hand" example of docs/observability.md
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    section = doc.split("### Recording by hand", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = [line.removeprefix("# ").removesuffix(" ...") for line in code.splitlines() if line.startswith("# ")]
    # when it runs
    exec(compile(code, "observability.md", "exec"), {})
    # then every output line it shows is printed
    printed = capsys.readouterr().out.splitlines()
    assert shown and all(line in printed for line in shown), (shown, printed)
