"""LangFuseTracer without network: key validation, the no-op mode, and observations captured by the SDK's own
OpenTelemetry pipeline with an in-memory span exporter."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langfuse")

from langfuse import Langfuse
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.exceptions import GraflowError
from graflow.trace.base import Tracer
from graflow.trace.langfuse import LangFuseTracer, LangfuseTracer

KEYS = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST")


@pytest.fixture(autouse=True)
def no_langfuse_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No credentials from the environment or from a .env file in the working directory.
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def client(exporter: InMemorySpanExporter) -> Iterator[Langfuse]:
    # A real client whose spans go to an in-memory exporter: nothing leaves the process.
    key = uuid.uuid4().hex[:8]
    lf = Langfuse(
        public_key=f"pk-lf-test-{key}",
        secret_key=f"sk-lf-test-{key}",
        host="http://127.0.0.1:9",
        span_exporter=exporter,
        tracer_provider=TracerProvider(),
    )
    yield lf
    lf.shutdown()


def _spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    return {s.name: s for s in spans}


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_alias_and_base_class() -> None:
    assert LangfuseTracer is LangFuseTracer
    assert issubclass(LangFuseTracer, Tracer)


def test_missing_keys_raise_value_error_naming_them() -> None:
    with pytest.raises(ValueError, match="LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY"):
        LangFuseTracer()
    with pytest.raises(ValueError, match="LANGFUSE_SECRET_KEY"):
        LangFuseTracer(public_key="pk-lf-x")


def test_keys_from_the_environment_build_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    key = uuid.uuid4().hex[:8]
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-lf-env-{key}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", f"sk-lf-env-{key}")
    monkeypatch.setenv("LANGFUSE_HOST", "http://127.0.0.1:9")
    tracer = LangFuseTracer(enable_runtime_graph=False)
    assert isinstance(tracer.client, Langfuse)
    tracer.client.shutdown()


def test_keys_from_a_dotenv_file(tmp_path: Path) -> None:
    pytest.importorskip("dotenv")
    key = uuid.uuid4().hex[:8]
    (tmp_path / ".env").write_text(
        f"LANGFUSE_PUBLIC_KEY=pk-lf-dot-{key}\nLANGFUSE_SECRET_KEY=sk-lf-dot-{key}\nLANGFUSE_HOST=http://127.0.0.1:9\n"
    )
    try:
        tracer = LangFuseTracer()
        assert isinstance(tracer.client, Langfuse)
        tracer.client.shutdown()
    finally:
        import os

        for name in KEYS:
            os.environ.pop(name, None)


def test_disabled_tracer_needs_no_keys_and_still_records_the_runtime_graph() -> None:
    tracer = LangFuseTracer(enabled=False)
    assert tracer.client is None
    with workflow("offline", tracer=tracer) as wf:

        @task
        def a() -> int:
            return 1

        @task
        def b() -> int:
            return 2

        a >> b
        assert wf.execute() == 2
    assert tracer.get_execution_order() == ["offline", "a", "b"]  # the workflow is the root
    assert tracer.get_current_span_id() is None
    tracer.flush()
    tracer.shutdown()


def test_workflow_becomes_a_trace_with_task_observations(client: Langfuse, exporter: InMemorySpanExporter) -> None:
    # given a tracer on a client that exports into memory
    tracer = LangFuseTracer(client=client)
    with workflow("research", tracer=tracer) as wf:

        @task
        def search() -> str:
            return "found"

        @task
        def summarize() -> None:
            raise RuntimeError("model refused")

        search >> summarize
        # when the run fails in its second task
        with pytest.raises(GraflowError):
            wf.execute()

    # then the run is the root observation, both tasks hang under it, and the failure is marked
    graph = tracer.get_runtime_graph()
    assert graph is not None and set(graph.nodes) == {"research", "search", "summarize"}
    spans = _spans(exporter)
    root = spans["research"]
    assert _parent(spans["search"]) == _id(root)
    assert _parent(spans["summarize"]) == _id(root)
    attrs = spans["summarize"].attributes or {}
    assert attrs.get("langfuse.observation.level") == "ERROR"
    assert "model refused" in str(attrs.get("langfuse.observation.status_message"))
    assert (root.attributes or {}).get("langfuse.observation.level") == "ERROR"
    # the Langfuse trace id is the run's trace id
    assert root.context is not None


def test_trace_id_of_the_run_is_the_langfuse_trace_id(client: Langfuse, exporter: InMemorySpanExporter) -> None:
    tracer = LangFuseTracer(client=client)
    with workflow("ids", tracer=tracer) as wf:

        @task
        def only() -> int:
            return 1

        _, ctx = wf.execute(ret_context=True)
    root = _spans(exporter)["ids"]
    assert root.context is not None
    assert f"{root.context.trace_id:032x}" == ctx.trace_id


def test_task_observation_is_the_current_otel_span_inside_the_task(
    client: Langfuse, exporter: InMemorySpanExporter
) -> None:
    # LiteLLM's langfuse_otel callback nests under whatever OpenTelemetry says is current
    tracer = LangFuseTracer(client=client)
    seen: dict[str, Any] = {}
    with workflow("llm", tracer=tracer) as wf:

        @task
        def ask() -> None:
            seen["current"] = otel_trace.get_current_span().get_span_context()
            seen["id"] = tracer.get_current_span_id()

        wf.execute()
    span = _spans(exporter)["ask"]
    assert seen["current"].span_id == _id(span)
    assert seen["id"] == f"{_id(span):016x}"
    # and the context is restored after the task
    assert not otel_trace.get_current_span().get_span_context().is_valid


def test_parallel_members_nest_under_the_group(client: Langfuse, exporter: InMemorySpanExporter) -> None:
    tracer = LangFuseTracer(client=client)
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
    spans = _spans(exporter)
    group = next(s for name, s in spans.items() if name.startswith("ParallelGroup"))
    assert _parent(spans["left"]) == _id(group)
    assert _parent(spans["right"]) == _id(group)
    events = [s.name for s in exporter.get_finished_spans() if s.name.startswith("parallel_group")]
    assert events == ["parallel_group_start", "parallel_group_end"]


def test_attach_to_trace_puts_a_worker_task_under_the_producer_span(
    client: Langfuse, exporter: InMemorySpanExporter
) -> None:
    # given a worker tracer attached to a producer's trace and span (as a task record carries them)
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    worker_tracer = LangFuseTracer(client=client)
    worker_tracer.attach_to_trace(trace_id, parent)
    # when the worker runs one task outside any run
    worker_tracer.span_start("member")
    worker_tracer.span_end("member", output=3)
    worker_tracer.flush()
    # then the task's observation is a child of the producer's span, in the producer's trace
    member = _spans(exporter)["member"]
    assert member.context is not None and f"{member.context.trace_id:032x}" == trace_id
    assert _parent(member) == int(parent, 16)


def test_attached_run_hangs_under_the_producer_span(client: Langfuse, exporter: InMemorySpanExporter) -> None:
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    worker_tracer = LangFuseTracer(client=client)
    worker_tracer.attach_to_trace(trace_id, parent)
    with workflow("worker_side", tracer=worker_tracer) as wf:

        @task
        def step() -> int:
            return 1

        wf.execute()
    spans = _spans(exporter)
    root = spans["worker_side"]
    assert root.context is not None and f"{root.context.trace_id:032x}" == trace_id
    assert _parent(root) == int(parent, 16)
    assert _parent(spans["step"]) == _id(root)


def test_clone_shares_the_tracer(client: Langfuse) -> None:
    tracer = LangFuseTracer(client=client)
    assert tracer.clone("0" * 32) is tracer


def test_model_calls_become_generations_under_their_task_unless_litellm_exports_them(
    client: Langfuse, exporter: InMemorySpanExporter
) -> None:
    from graflow.llm import events
    from graflow.llm.events import ATTR_LANGFUSE_EXPORTED, LLMCallEvent

    # given a task that reports two model calls, the second one already exported by LiteLLM's Langfuse callback
    tracer = LangFuseTracer(client=client)
    with workflow("calls", tracer=tracer) as wf:

        @task
        def ask() -> None:
            events.emit(LLMCallEvent(model="openai/gpt-4o-mini", operation="completion", duration=0.75,
                                     prompt_tokens=9, completion_tokens=4, total_tokens=13, generation_name="answer"))
            events.emit(LLMCallEvent(model="openai/gpt-4o-mini", operation="completion", duration=0.5,
                                     attributes={ATTR_LANGFUSE_EXPORTED: True}))

        wf.execute()
    # then one generation, under the task, with its model, usage and the call's latency
    generations = [s for s in exporter.get_finished_spans()
                   if (s.attributes or {}).get("langfuse.observation.type") == "generation"]
    assert [g.name for g in generations] == ["answer"]
    generation = generations[0]
    attrs = generation.attributes or {}
    assert attrs["langfuse.observation.model.name"] == "openai/gpt-4o-mini"
    assert '"input": 9' in str(attrs["langfuse.observation.usage_details"])
    assert _parent(generation) == _id(_spans(exporter)["ask"])
    assert generation.end_time is not None and generation.start_time is not None
    assert (generation.end_time - generation.start_time) / 1e9 == pytest.approx(0.75, abs=1e-6)


def test_disabled_tracer_ignores_model_calls() -> None:
    from graflow.llm.events import LLMCallEvent

    tracer = LangFuseTracer(enabled=False)
    tracer.on_llm_call(event=LLMCallEvent(model="m", operation="completion", duration=0.1), context=None)
