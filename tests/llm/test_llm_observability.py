"""Every model call of a run is traced and counted: an OpenTelemetry span and a Langfuse generation under the task
that made it, and the ``graflow_llm_*`` series of ``MetricsHook``. A real workflow's task calls an ``LLMClient``
pointed at the fake OpenAI-compatible server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("litellm")

from graflow import task, workflow
from graflow.core.workflow import WorkflowContext
from graflow.llm import LLMClient, make_message
from graflow.testing.fake_llm import FakeLLMServer, error_reply


def _article_workflow(name: str, client: LLMClient, **options: Any) -> WorkflowContext:
    """``write`` makes two model calls through the run's client: one answered, one refused by the server."""
    with workflow(name, **options) as wf:

        @task(inject_llm_client=True)
        def write(llm_client: LLMClient) -> str:
            text = llm_client.completion_text([make_message("user", "three short words")], generation_name="write")
            try:
                llm_client.completion_text([make_message("user", "again")])
            except Exception:  # the scripted refusal; the run goes on
                pass
            return text

    return wf


def _run(wf: WorkflowContext, client: LLMClient) -> Any:
    ctx = wf.create_context()
    ctx.services.llm_client = client
    return ctx.execute()


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> LLMClient:
    fake_llm.script("one two three four", error_reply(400, "refused"))
    return LLMClient("openai/test-model", enable_tracing=False, api_base=fake_llm.base_url, api_key="test",
                     num_retries=0)


# -- OpenTelemetry -------------------------------------------------------------------------------------------------

def test_otel_tracer_records_a_gen_ai_span_per_call_under_the_task_span(client: LLMClient) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    from graflow.trace.otel import OtelTracer

    # given a traced run whose task calls the model twice (the second call fails)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        assert _run(_article_workflow("otel_llm", client, tracer=OtelTracer(tracer_provider=provider)),
                    client) == "one two three four"
    finally:
        provider.shutdown()

    # then each call is a CLIENT span "chat <model>", a child of the task's span, with the GenAI attributes
    spans = exporter.get_finished_spans()
    task_span = next(s for s in spans if s.name == "graflow.task write")
    calls = [s for s in spans if s.name == "chat openai/test-model"]
    assert len(calls) == 2
    ok, failed = sorted(calls, key=lambda s: s.start_time or 0)
    for span in calls:
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None and task_span.context is not None
        assert span.parent.span_id == task_span.context.span_id
        assert span.attributes is not None
        assert span.attributes["gen_ai.system"] == "openai"
        assert span.attributes["gen_ai.request.model"] == "openai/test-model"
        assert span.attributes["gen_ai.operation.name"] == "chat"
    assert ok.attributes is not None and failed.attributes is not None
    assert (ok.attributes["gen_ai.usage.input_tokens"], ok.attributes["gen_ai.usage.output_tokens"]) == (3, 4)
    assert ok.attributes["graflow.llm.generation_name"] == "write"
    # the span lasts as long as the call, inside its task
    assert ok.start_time is not None and ok.end_time is not None and task_span.start_time is not None
    duration = (ok.end_time - ok.start_time) / 1e9
    assert duration == pytest.approx(ok.attributes["graflow.llm.duration_seconds"], abs=1e-6)
    assert ok.start_time >= task_span.start_time
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "BadRequestError"
    assert "gen_ai.usage.input_tokens" not in failed.attributes


# -- Langfuse ------------------------------------------------------------------------------------------------------

@pytest.fixture
def langfuse_exporter(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    """A real Langfuse client whose observations go to an in-memory span exporter (nothing leaves the process)."""
    pytest.importorskip("langfuse")
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.chdir(tmp_path)  # no .env of the working directory
    exporter = InMemorySpanExporter()
    key = uuid.uuid4().hex[:8]
    client = Langfuse(public_key=f"pk-lf-test-{key}", secret_key=f"sk-lf-test-{key}", host="http://127.0.0.1:9",
                      span_exporter=exporter, tracer_provider=TracerProvider())
    yield client, exporter
    client.shutdown()


def test_langfuse_tracer_records_a_generation_per_call_under_the_task(
    client: LLMClient, langfuse_exporter: tuple[Any, Any]
) -> None:
    from graflow.trace.langfuse import LangFuseTracer

    # given a Langfuse-traced run whose task calls the model twice (the second call fails)
    langfuse, exporter = langfuse_exporter
    assert _run(_article_workflow("langfuse_llm", client, tracer=LangFuseTracer(client=langfuse)),
                client) == "one two three four"
    langfuse.flush()

    # then each call is a generation under the task's observation, with model, usage, latency and error
    spans = exporter.get_finished_spans()
    task_span = next(s for s in spans if s.name == "write" and s.attributes.get("langfuse.observation.type") == "span")
    generations = sorted((s for s in spans if s.attributes.get("langfuse.observation.type") == "generation"),
                         key=lambda s: s.start_time)
    assert [g.name for g in generations] == ["write", "chat openai/test-model"]
    ok, failed = generations
    for generation in generations:
        assert generation.parent is not None and generation.parent.span_id == task_span.context.span_id
        assert generation.attributes["langfuse.observation.model.name"] == "openai/test-model"
    assert '"input": 3' in ok.attributes["langfuse.observation.usage_details"]
    assert '"output": 4' in ok.attributes["langfuse.observation.usage_details"]
    latency = (ok.end_time - ok.start_time) / 1e9
    assert latency == pytest.approx(float(ok.attributes["langfuse.observation.metadata.graflow.llm.duration_seconds"]),
                                    abs=1e-6)
    assert ok.start_time >= task_span.start_time and latency > 0
    assert "langfuse.observation.level" not in ok.attributes
    assert failed.attributes["langfuse.observation.level"] == "ERROR"
    assert failed.attributes["langfuse.observation.status_message"] == "BadRequestError"


# -- Prometheus metrics --------------------------------------------------------------------------------------------

def test_metrics_hook_counts_tokens_by_kind_and_latency_per_model(client: LLMClient) -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from graflow.llm.metrics import install_llm_metrics, uninstall_llm_metrics
    from graflow.observability.metrics import MetricsHook

    # given a run with MetricsHook, and the process-wide LLM recorder on the same registry
    registry = prometheus_client.CollectorRegistry()
    install_llm_metrics(registry)
    try:
        _run(_article_workflow("metrics_llm", client, hooks=[MetricsHook(registry=registry)]), client)
    finally:
        uninstall_llm_metrics(registry)

    # then the tokens and both calls are counted once each (failed calls have a latency, not tokens)
    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)  # type: ignore[no-any-return]

    model = "openai/test-model"
    assert value("graflow_llm_tokens_total", model=model, kind="prompt") == 3
    assert value("graflow_llm_tokens_total", model=model, kind="completion") == 4
    assert value("graflow_llm_request_duration_seconds_count", model=model) == 2
    assert (value("graflow_llm_request_duration_seconds_sum", model=model) or 0) > 0
