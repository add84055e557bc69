"""Call events reach listeners safely; the Prometheus series count tokens and latency with a bounded model label."""

from __future__ import annotations

import contextvars
import sys
import threading

import pytest

from graflow.llm import events, metrics
from graflow.llm.events import LLMCallEvent


def _event(model: str = "m", prompt: int | None = 3, completion: int | None = 2, duration: float = 0.2) -> LLMCallEvent:
    total = None if prompt is None or completion is None else prompt + completion
    return LLMCallEvent(model=model, operation="completion", duration=duration, prompt_tokens=prompt,
                        completion_tokens=completion, total_tokens=total)


def test_process_wide_listener_receives_events_until_removed() -> None:
    received: list[LLMCallEvent] = []
    remove = events.add_listener(received.append)
    events.add_listener(received.append)  # a second add is ignored
    events.emit(_event())
    remove()
    events.emit(_event())
    assert len(received) == 1 and not events.has_listeners()


def test_a_failing_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    received: list[LLMCallEvent] = []

    def broken(event: LLMCallEvent) -> None:
        raise ValueError("listener bug")

    events.add_listener(broken)
    events.add_listener(received.append)
    events.emit(_event())
    assert len(received) == 1 and "listener bug" in caplog.text


def test_scoped_listener_sees_only_calls_in_its_context() -> None:
    inside: list[LLMCallEvent] = []
    outside_done = threading.Event()

    with events.listening(inside.append):
        events.emit(_event("in-context"))
        # A thread started without a copy of this context is outside the scope ...
        worker = threading.Thread(target=lambda: (events.emit(_event("other-thread")), outside_done.set()))
        worker.start()
        worker.join()
        # ... and one run with a copy of it is inside.
        contextvars.copy_context().run(events.emit, _event("copied-context"))
    events.emit(_event("after"))
    assert outside_done.is_set()
    assert [e.model for e in inside] == ["in-context", "copied-context"]


@pytest.mark.parametrize("usage, expected", [
    (None, (None, None, None)),
    ({"prompt_tokens": 4, "completion_tokens": 6}, (4, 6, 10)),
    ({"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 11}, (4, 6, 11)),
    ({"prompt_tokens": True}, (None, None, None)),
])
def test_usage_counts_reads_mappings_and_fills_a_missing_total(usage: object, expected: tuple[object, ...]) -> None:
    assert events.usage_counts(usage) == expected


def test_bounded_label_keeps_the_first_values_and_maps_the_rest_to_other() -> None:
    label = metrics.BoundedLabel(limit=2)
    assert [label(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_metrics_count_tokens_by_kind_and_observe_latency_per_model() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    recorder = metrics.install_llm_metrics(registry, max_models=1)
    assert recorder.enabled and metrics.install_llm_metrics(registry) is recorder
    try:
        events.emit(_event("gpt", prompt=10, completion=4, duration=0.3))
        events.emit(_event("gpt", prompt=1, completion=None, duration=0.1))
        events.emit(_event("gemini", prompt=5, completion=5, duration=2.0))
    finally:
        metrics.uninstall_llm_metrics(registry)
    events.emit(_event("gpt", prompt=100))  # after uninstall: not counted

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("graflow_llm_tokens_total", model="gpt", kind="prompt") == 11
    assert value("graflow_llm_tokens_total", model="gpt", kind="completion") == 4
    assert value("graflow_llm_tokens_total", model="other", kind="prompt") == 5
    assert value("graflow_llm_request_duration_seconds_count", model="gpt") == 2
    assert value("graflow_llm_request_duration_seconds_sum", model="other") == pytest.approx(2.0)
    assert {m.name for m in registry.collect()} == {"graflow_llm_tokens", "graflow_llm_request_duration_seconds"}
    assert metrics.METRIC_NAMES == ("graflow_llm_tokens_total", "graflow_llm_request_duration_seconds")


def test_metrics_do_nothing_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    recorder = metrics.LLMMetrics()
    assert not recorder.enabled
    recorder.install()
    recorder(_event())
    assert not events.has_listeners()
