"""OpenTelemetry across a real worker process: a group member run by ``python -m graflow.worker.main --tracer otel``
is a child of the producer's span, in the producer's trace, with messaging attributes on the hop.

The worker configures its SDK provider through ``--import`` (as a deployment would) and writes finished spans as JSON
lines with the SDK's console exporter; the producer keeps its spans in the SDK's in-memory exporter. Needs Redis.
"""

from __future__ import annotations

import json
import signal
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.context import ExecutionContext
from graflow.core.decorators import task
from graflow.core.workflow import workflow
from graflow.trace.otel import OtelTracer
from graflow.worker.inprocess import spawn_worker

WORKER_SETUP = textwrap.dedent(
    """
    import os

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    _out = open(os.environ["GRAFLOW_TEST_SPAN_FILE"], "a", buffering=1)
    _provider = TracerProvider()
    _provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=_out, formatter=lambda s: s.to_json(indent=None) + "\\n"))
    )
    trace.set_tracer_provider(_provider)
    """
)
STOP_TIMEOUT = 30


def _hex(value: str | None) -> str | None:
    return value[2:] if value and value.startswith("0x") else value


def test_member_on_a_worker_is_a_child_of_the_producer_span(
    redis_client: Any, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # given a worker process that traces with OpenTelemetry into a file
    module = f"graflow_otel_setup_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(WORKER_SETUP)
    span_file = tmp_path / "worker-spans.jsonl"
    proc = spawn_worker(
        redis_url,
        key_prefix,
        extra_args=["--tracer", "otel", "--import", module, "--concurrency", "2"],
        env={"PYTHONPATH": str(tmp_path), "GRAFLOW_TEST_SPAN_FILE": str(span_file)},
    )
    # and a producer whose parallel group runs on the workers
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OtelTracer(tracer_provider=provider)
    try:
        with workflow("traced_remote") as wf:

            @task
            def prepare() -> int:
                return 1

            @task
            def remote_a() -> str:
                return "a"

            @task
            def remote_b() -> str:
                return "b"

            prepare >> (remote_a | remote_b).with_execution(backend=CoordinationBackend.REDIS)
        ctx = ExecutionContext.create(
            wf.graph, "prepare", channel_backend="redis", tracer=tracer, workflow_name="traced_remote",
            config={"redis_client": redis_client, "key_prefix": key_prefix},
        )
        # when the run completes (the barrier waits for both members)
        ctx.execute()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
    provider.shutdown()

    # then the producer has its workflow, task and group spans
    producer = {s.name: s for s in exporter.get_finished_spans()}
    group = next(s for name, s in producer.items() if name.startswith("graflow.task ParallelGroup"))
    assert group.context is not None
    trace_hex = f"{group.context.trace_id:032x}"
    group_hex = f"{group.context.span_id:016x}"

    # and every span the worker made is in the producer's trace
    worker = [json.loads(line) for line in span_file.read_text().splitlines() if line.strip()]
    by_id = {_hex(s["context"]["span_id"]): s for s in worker}
    member_spans = [s for s in worker if s["name"] in ("graflow.task remote_a", "graflow.task remote_b")]
    assert sorted(s["name"] for s in member_spans) == ["graflow.task remote_a", "graflow.task remote_b"]
    assert {_hex(s["context"]["trace_id"]) for s in worker} == {trace_hex}
    for span in member_spans:
        # walk up inside the worker's spans: the topmost one hangs under the producer's group span
        top = span
        while _hex(top.get("parent_id")) in by_id:
            top = by_id[_hex(top["parent_id"])]
        assert _hex(top["parent_id"]) == group_hex, f"{span['name']} is not under the group span"
        assert top["kind"] == "SpanKind.CONSUMER"
        assert top["attributes"]["messaging.system"] == "redis"
        assert top["attributes"]["messaging.operation.type"] == "process"
    # and the members carry their task identity
    assert {s["attributes"]["graflow.task.id"] for s in member_spans} == {"remote_a", "remote_b"}
