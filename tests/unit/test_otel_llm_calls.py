"""OtelTracer records each model call of a task as a GenAI span (events made by hand: no model, no network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from graflow import task, workflow
from graflow.llm import events
from graflow.llm.events import LLMCallEvent
from graflow.trace.otel import OtelTracer


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[OtelTracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OtelTracer(tracer_provider=provider)
    provider.shutdown()


def _spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_an_agent_run_is_an_invoke_agent_span_named_after_the_agent(
    tracer: OtelTracer, exporter: InMemorySpanExporter
) -> None:
    with workflow("agents", tracer=tracer) as wf:

        @task
        def research() -> None:
            events.emit(LLMCallEvent(model="openai:gpt-4o-mini", operation=events.OP_AGENT_RUN, duration=1.5,
                                     prompt_tokens=40, completion_tokens=12, requests=3, source="pydantic-ai",
                                     attributes={"agent": "researcher"}))

    wf.execute()
    spans = _spans(exporter)
    span = spans["invoke_agent researcher"]
    assert span.kind is SpanKind.CLIENT and span.attributes is not None
    assert span.attributes["gen_ai.system"] == "openai"  # from the model's "provider:" prefix
    assert span.attributes["gen_ai.agent.name"] == "researcher"
    assert span.attributes["graflow.llm.requests"] == 3
    assert span.end_time is not None and span.start_time is not None
    assert (span.end_time - span.start_time) / 1e9 == pytest.approx(1.5, abs=1e-6)
    parent = spans["graflow.task research"]
    assert span.parent is not None and parent.context is not None and span.parent.span_id == parent.context.span_id


def test_a_failed_call_has_an_error_status_and_type(tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    with workflow("failing", tracer=tracer) as wf:

        @task
        def ask() -> None:
            events.emit(LLMCallEvent(model="gpt-5-mini", operation=events.OP_STREAM, duration=0.2, success=False,
                                     error_type="RateLimitError", provider="openai"))

    wf.execute()
    span = _spans(exporter)["chat gpt-5-mini"]
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "RateLimitError"
    assert span.attributes is not None and span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["gen_ai.system"] == "openai"
