"""OtelTracer: workflow and task spans, errors, nesting, and W3C context propagation (SDK in-memory exporter)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from graflow.core.decorators import task
from graflow.core.retry import RetryPolicy
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowError
from graflow.trace.base import Tracer
from graflow.trace.otel import OtelTracer


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider) -> OtelTracer:
    return OtelTracer(tracer_provider=provider)


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans), f"duplicate span names: {[s.name for s in spans]}"
    return by_name


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def _trace(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def test_it_is_a_graflow_tracer(tracer: OtelTracer) -> None:
    assert isinstance(tracer, Tracer)
    assert tracer.clone("abc") is tracer


def test_chain_makes_task_spans_under_the_workflow_span(tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    # given a two-task chain traced with OpenTelemetry
    with workflow("pipeline", tracer=tracer) as wf:

        @task
        def extract() -> int:
            return 1

        @task
        def load() -> int:
            return 2

        extract >> load
        _, ctx = wf.execute(ret_context=True)

    # then there is one workflow span and one span per task, all in one trace
    spans = _by_name(exporter)
    assert set(spans) == {"graflow.workflow pipeline", "graflow.task extract", "graflow.task load"}
    root = spans["graflow.workflow pipeline"]
    assert root.parent is None
    assert root.kind is SpanKind.INTERNAL
    for name in ("graflow.task extract", "graflow.task load"):
        assert _parent_id(spans[name]) == _id(root)
        assert _trace(spans[name]) == _trace(root)
    attrs = spans["graflow.task extract"].attributes or {}
    assert attrs["graflow.task.id"] == "extract"
    assert attrs["graflow.task.name"] == "extract"
    assert attrs["graflow.workflow.name"] == "pipeline"
    assert attrs["graflow.session_id"] == ctx.session_id
    assert (root.attributes or {})["graflow.trace_id"] == ctx.trace_id
    # and the runtime graph is still recorded, with task ids only (no trace-context strings as node names)
    assert tracer.get_execution_order() == ["pipeline", "extract", "load"]  # the workflow is the root
    graph = tracer.get_runtime_graph()
    assert graph is not None and set(graph.nodes) == {"pipeline", "extract", "load"}


def test_failed_task_and_run_carry_error_status_and_exception(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    with workflow("broken", tracer=tracer) as wf:

        @task
        def boom() -> None:
            raise KeyError("missing-thing")

        with pytest.raises(GraflowError):
            wf.execute()

    spans = _by_name(exporter)
    failed = spans["graflow.task boom"]
    assert failed.status.status_code is StatusCode.ERROR
    assert "missing-thing" in (failed.status.description or "")
    assert [e.name for e in failed.events] == ["exception"]
    assert spans["graflow.workflow broken"].status.status_code is StatusCode.ERROR


def test_retried_task_has_one_span_per_attempt_and_a_retry_event(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    outcomes = iter([RuntimeError("first"), None])
    with workflow("again", tracer=tracer) as wf:

        @task(retry_policy=RetryPolicy(max_retries=1, initial_interval=0.0))
        def flaky() -> str:
            error = next(outcomes)
            if error:
                raise error
            return "ok"

        wf.execute()

    attempts = [s for s in exporter.get_finished_spans() if s.name == "graflow.task flaky"]
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR, StatusCode.UNSET]
    events = [e for s in exporter.get_finished_spans() for e in s.events if e.name == "task_retry"]
    assert len(events) == 1 and (events[0].attributes or {})["attempt"] == 1


def test_parallel_members_are_children_of_the_group_span(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    both = threading.Barrier(2, timeout=10)
    with workflow("fan", tracer=tracer) as wf:

        @task
        def left() -> None:
            both.wait()

        @task
        def right() -> None:
            both.wait()

        left | right
        wf.execute()

    spans = _by_name(exporter)
    group = next(s for name, s in spans.items() if name.startswith("graflow.task ParallelGroup"))
    assert _parent_id(spans["graflow.task left"]) == _id(group)
    assert _parent_id(spans["graflow.task right"]) == _id(group)
    assert _parent_id(group) == _id(spans["graflow.workflow fan"])


def test_spans_opened_inside_a_task_nest_under_its_span(
    tracer: OtelTracer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # given a task that calls an instrumented library (here: a span from another tracer of the same provider)
    library = provider.get_tracer("some.http.client")
    with workflow("nesting", tracer=tracer) as wf:

        @task
        def call_api() -> None:
            with library.start_as_current_span("HTTP GET"):
                pass

        wf.execute()

    spans = _by_name(exporter)
    assert _parent_id(spans["HTTP GET"]) == _id(spans["graflow.task call_api"])


def test_inject_context_gives_the_running_task_span(tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    seen: dict[str, Any] = {}
    with workflow("producer", tracer=tracer) as wf:

        @task
        def produce() -> None:
            seen["carrier"] = tracer.inject_context()
            seen["parent_span_id"] = tracer.get_current_span_id()

        wf.execute()

    span = _by_name(exporter)["graflow.task produce"]
    version, trace_hex, span_hex, flags = seen["carrier"]["traceparent"].split("-")
    assert (version, trace_hex, span_hex) == ("00", f"{_trace(span):032x}", f"{_id(span):016x}")
    assert int(flags, 16) & 0x01, "sampled flag"
    assert seen["parent_span_id"] == seen["carrier"]["traceparent"]


def test_no_open_span_injects_nothing(tracer: OtelTracer) -> None:
    assert tracer.inject_context() == {}
    assert tracer.get_current_span_id() is None


def _consumer_run(provider: TracerProvider, attach: Any, queue_event: bool = False) -> OtelTracer:
    consumer = OtelTracer(tracer_provider=provider)
    attach(consumer)
    if queue_event:
        consumer.on_task_dequeued(task_id="work", queue="graflow:tasks", wait_seconds=0.5, deliveries=2)
    with workflow("consumer", tracer=consumer) as wf:

        @task
        def work() -> int:
            return 1

        wf.execute()
    return consumer


def test_attach_to_trace_with_traceparent_makes_a_consumer_child(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # given a producer span's traceparent carried by a task record
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = f"00-{trace_id}-{span_id}-01"
    # when a worker attaches to it and runs the task
    _consumer_run(provider, lambda t: t.attach_to_trace(trace_id, traceparent), queue_event=True)
    # then the worker's first span is a CONSUMER child of the producer span, with messaging attributes
    spans = _by_name(exporter)
    root = spans["graflow.workflow consumer"]
    assert f"{_trace(root):032x}" == trace_id
    assert f"{_parent_id(root):016x}" == span_id
    assert root.kind is SpanKind.CONSUMER
    attrs = root.attributes or {}
    assert attrs["messaging.system"] == "redis"
    assert attrs["messaging.operation.type"] == "process"
    task_span = spans["graflow.task work"]
    assert _parent_id(task_span) == _id(root)
    task_attrs = task_span.attributes or {}
    assert task_attrs["messaging.destination.name"] == "graflow:tasks"
    assert task_attrs["graflow.queue.deliveries"] == 2


def test_attach_to_trace_accepts_a_bare_span_id(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    _consumer_run(provider, lambda t: t.attach_to_trace(trace_id, span_id))
    root = _by_name(exporter)["graflow.workflow consumer"]
    assert f"{_trace(root):032x}" == trace_id
    assert f"{_parent_id(root):016x}" == span_id


def test_attach_context_uses_a_record_carrier(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "vendor=x"}
    _consumer_run(provider, lambda t: t.attach_context(carrier, queue="jobs"))
    root = _by_name(exporter)["graflow.workflow consumer"]
    assert f"{_parent_id(root):016x}" == "b7ad6b7169203331"
    assert (root.attributes or {})["messaging.destination.name"] == "jobs"
    assert root.context is not None and root.context.trace_state.get("vendor") == "x"


def test_attach_without_a_parent_starts_a_new_trace(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    _consumer_run(provider, lambda t: t.attach_to_trace("not-hex", None))
    root = _by_name(exporter)["graflow.workflow consumer"]
    assert root.parent is None
    assert root.kind is SpanKind.INTERNAL


def test_end_to_end_hop_links_producer_and_consumer(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    # given a producer task that hands its context to a "record"
    record: dict[str, Any] = {}
    producer = OtelTracer(tracer_provider=provider)
    with workflow("producer", tracer=producer) as wf:

        @task(inject_context=True)
        def dispatch(ctx: Any) -> None:
            record.update(trace_id=ctx.execution_context.trace_id, parent_span_id=producer.get_current_span_id())

        wf.execute()
    # when a consumer continues from the record
    _consumer_run(provider, lambda t: t.attach_to_trace(record["trace_id"], record["parent_span_id"]))
    # then the consumer run hangs under the producer's task span
    spans = _by_name(exporter)
    assert _parent_id(spans["graflow.workflow consumer"]) == _id(spans["graflow.task dispatch"])
    assert _trace(spans["graflow.task work"]) == _trace(spans["graflow.workflow producer"])


def test_flush_forces_the_provider_to_export(provider: TracerProvider) -> None:
    calls: list[int] = []
    original = provider.force_flush

    def counting(timeout_millis: int = 30000) -> bool:
        calls.append(timeout_millis)
        return original(timeout_millis)

    provider.force_flush = counting  # type: ignore[method-assign]
    OtelTracer(tracer_provider=provider).flush()
    assert calls
