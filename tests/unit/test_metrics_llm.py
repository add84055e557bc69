"""MetricsHook counts the model calls of a run through its collector, once per call, with a bounded model label."""

from __future__ import annotations

from typing import Any

import pytest

from graflow import task, workflow
from graflow.llm import events
from graflow.llm.events import LLMCallEvent
from graflow.observability.metrics import InMemoryMetricsCollector, LLMCallRecorder, MetricsHook


def _event(model: str = "openai/m", prompt: int | None = 3, completion: int | None = 2, duration: float = 0.25,
           success: bool = True) -> LLMCallEvent:
    return LLMCallEvent(model=model, operation=events.OP_COMPLETION, duration=duration, prompt_tokens=prompt,
                        completion_tokens=completion, success=success,
                        error_type=None if success else "RateLimitError")


def _run_calls(hook: MetricsHook, *sent: LLMCallEvent) -> None:
    with workflow("llm_metrics", hooks=[hook]) as wf:

        @task
        def call_model() -> None:
            for event in sent:
                events.emit(event)

    wf.execute()


def test_in_memory_collector_counts_tokens_by_kind_and_every_call_latency() -> None:
    collector = InMemoryMetricsCollector()
    assert isinstance(collector, LLMCallRecorder)
    _run_calls(MetricsHook(collector), _event(), _event(prompt=5, completion=None, duration=0.5),
               _event(prompt=None, completion=None, success=False, duration=0.1))
    assert collector.llm_tokens == {("openai/m", "prompt"): 8, ("openai/m", "completion"): 2}
    assert collector.llm_durations["openai/m"] == [0.25, 0.5, 0.1]


def test_a_collector_without_llm_support_makes_the_hook_ignore_model_calls() -> None:
    class TasksOnly(InMemoryMetricsCollector):
        record_llm_call = None  # type: ignore[assignment]

    hook = MetricsHook(TasksOnly())
    assert hook.on_llm_call is None
    _run_calls(hook, _event())  # nothing to record, nothing breaks


def test_prometheus_series_are_shared_with_install_llm_metrics_and_count_a_call_once() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from graflow.llm.metrics import install_llm_metrics, uninstall_llm_metrics

    # given the process-wide recorder and a run's MetricsHook on one registry
    registry = prometheus_client.CollectorRegistry()
    install_llm_metrics(registry)
    try:
        _run_calls(MetricsHook(registry=registry), _event(prompt=7, completion=4, duration=0.3))
    finally:
        uninstall_llm_metrics(registry)

    # then the call is counted once in each series
    def value(name: str, **labels: str) -> Any:
        return registry.get_sample_value(name, labels)

    assert value("graflow_llm_tokens_total", model="openai/m", kind="prompt") == 7
    assert value("graflow_llm_tokens_total", model="openai/m", kind="completion") == 4
    assert value("graflow_llm_request_duration_seconds_count", model="openai/m") == 1
    assert value("graflow_llm_request_duration_seconds_sum", model="openai/m") == pytest.approx(0.3)


def test_prometheus_model_label_stays_bounded() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from graflow.llm.metrics import DEFAULT_MAX_MODELS, OTHER_MODEL

    registry = prometheus_client.CollectorRegistry()
    models = [f"model-{index}" for index in range(DEFAULT_MAX_MODELS + 5)]
    _run_calls(MetricsHook(registry=registry), *(_event(model=m) for m in models))
    labels = {sample.labels["model"] for metric in registry.collect() if metric.name == "graflow_llm_tokens"
              for sample in metric.samples}
    assert len(labels) == DEFAULT_MAX_MODELS + 1 and OTHER_MODEL in labels
    assert registry.get_sample_value("graflow_llm_request_duration_seconds_count", {"model": OTHER_MODEL}) == 5
