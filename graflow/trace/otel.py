"""OpenTelemetry tracer (extra ``tracing``): one span per workflow run and per task attempt.

Spans are named ``graflow.workflow <workflow name>`` and ``graflow.task <task name>``. While a task runs its span
is the current OpenTelemetry span on that thread, so spans that instrumented libraries open inside the task (HTTP
clients, LLM SDKs) nest under it. Every model call a task makes through ``graflow.llm`` becomes a ``CLIENT`` span
``chat <model>`` (``invoke_agent <agent>`` for an agent run) under the task's span, with the GenAI attributes
``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` and ``gen_ai.usage.output_tokens``.

Across a queue hop the W3C trace context travels inside the task record: the producer side reads it with
:meth:`OtelTracer.inject_context` (or :meth:`OtelTracer.get_current_span_id`, which returns a ``traceparent``
string and so fits the record's ``parent_span_id`` field), and the worker calls
:meth:`OtelTracer.attach_to_trace` with it. The worker's spans are then children of the producer's span, and the
first span on the worker is a ``CONSUMER`` span with ``messaging.*`` attributes.

The tracer uses the global tracer provider unless given one; configure exporters (OTLP, console, in-memory) on the
provider as usual.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from graflow.trace import genai
from graflow.trace.base import Tracer

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("OtelTracer needs opentelemetry-api/sdk: pip install 'graflow[tracing]'") from exc

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from graflow.core.context import ExecutionContext

logger = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "graflow"
WORKFLOW_SPAN_PREFIX = "graflow.workflow "
TASK_SPAN_PREFIX = "graflow.task "
# The messaging system named on consumer spans: distributed queues are Redis Streams.
DEFAULT_MESSAGING_SYSTEM = "redis"
# Queue hops remembered for tasks not yet started on this tracer.
MAX_PENDING_HOPS = 10_000
_TRACEPARENT = "traceparent"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_CYCLE_SUFFIX = re.compile(r"_cycle_\d+_[0-9a-f]+$")
_PROPAGATOR = TraceContextTextMapPropagator()


def _task_name(task: Any) -> str:
    name = getattr(task, "name", None) or getattr(task, "task_id", "task")
    return _CYCLE_SUFFIX.sub("", str(name))


def _attr(value: Any) -> Any:
    # OpenTelemetry attributes take str/bool/int/float (or sequences of them); everything else becomes text.
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    return str(value)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("graflow")
    except Exception:  # not installed as a distribution (running from a source tree)
        return "0"


class OtelTracer(Tracer):
    """A :class:`~graflow.trace.base.Tracer` that emits OpenTelemetry spans.

    Args:
        enable_runtime_graph: Keep the runtime graph as every tracer does.
        tracer_provider: The provider to use (default: the global one).
        messaging_system: ``messaging.system`` of consumer spans on workers.

    Example:
        >>> provider = TracerProvider()  # doctest: +SKIP
        >>> provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # doctest: +SKIP
        >>> with workflow("etl", tracer=OtelTracer(tracer_provider=provider)) as wf:  # doctest: +SKIP
        ...     extract >> load
    """

    def __init__(
        self,
        enable_runtime_graph: bool = True,
        *,
        tracer_provider: Any = None,
        messaging_system: str = DEFAULT_MESSAGING_SYSTEM,
    ) -> None:
        super().__init__(enable_runtime_graph=enable_runtime_graph)
        self._provider = tracer_provider
        self._otel = otel_trace.get_tracer(INSTRUMENTATION_NAME, _version(), tracer_provider=tracer_provider)
        self.messaging_system = messaging_system
        self._otel_local = threading.local()
        # id(ExecutionContext) -> (workflow span, context token or None) for each running root run.
        self._runs: dict[int, tuple[Any, Any]] = {}
        # Parallel-group member id -> context of the group's span (members run on pool threads).
        self._group_parents: dict[str, Context] = {}
        # Task id -> messaging attributes of the queue hop it arrived by (from on_task_dequeued).
        self._hops: dict[str, dict[str, Any]] = {}
        self._remote: Context | None = None
        self._remote_queue: str | None = None
        self._runs_lock = threading.Lock()

    # -- per-thread stack of open task spans ------------------------------------------------------------------------
    def _open(self) -> list[tuple[str, Any, Any]]:
        stack: list[tuple[str, Any, Any]] | None = getattr(self._otel_local, "open", None)
        if stack is None:
            stack = self._otel_local.open = []
        return stack

    def _parent_for(self, task_id: str | None, context: Any) -> tuple[Context | None, bool]:
        """The parent context of a new span, and whether that parent is the remote producer (a queue hop)."""
        if task_id is None and self._remote is not None:
            return self._remote, True
        if task_id is not None:
            group_parent = self._group_parents.get(task_id)
            if group_parent is not None:
                return group_parent, False
        if otel_trace.get_current_span().get_span_context().is_valid:
            return otel_context.get_current(), False
        ctx = context
        while ctx is not None:
            run = self._runs.get(id(ctx))
            if run is not None:
                return otel_trace.set_span_in_context(run[0]), False
            ctx = getattr(ctx, "parent_context", None)
        if self._remote is not None:
            return self._remote, True
        return None, False

    def _hop_attributes(self, task_id: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "messaging.system": self.messaging_system,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
        }
        if self._remote_queue:
            attrs["messaging.destination.name"] = self._remote_queue
        if task_id is not None:
            attrs["messaging.message.id"] = task_id
        return attrs

    # -- workflow ---------------------------------------------------------------------------------------------------
    def on_workflow_start(self, workflow_name: str, context: ExecutionContext) -> None:
        """Open the run's span (a child of the producer's span when attached to a remote trace)."""
        parent, remote = self._parent_for(None, None)
        attrs: dict[str, Any] = {
            "graflow.workflow.name": workflow_name,
            "graflow.session_id": str(getattr(context, "session_id", "")),
            "graflow.trace_id": str(getattr(context, "trace_id", "")),
        }
        if remote:
            attrs.update(self._hop_attributes(None))
        span = self._otel.start_span(
            WORKFLOW_SPAN_PREFIX + workflow_name,
            context=parent,
            kind=SpanKind.CONSUMER if remote else SpanKind.INTERNAL,
            attributes=attrs,
        )
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        with self._runs_lock:
            self._runs[id(context)] = (span, token)
        super().on_workflow_start(workflow_name, context)

    def on_workflow_end(
        self, workflow_name: str, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Close the run's span, marking it failed when the run failed."""
        super().on_workflow_end(workflow_name, context, result)
        with self._runs_lock:
            run = self._runs.pop(id(context), None)
        if run is None:
            return
        span, token = run
        error = error if error is not None else getattr(context, "error", None)
        status = getattr(context, "status", None)
        if status is not None:
            span.set_attribute("graflow.workflow.status", str(status))
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
        self._detach(token)

    # -- tasks ------------------------------------------------------------------------------------------------------
    def on_task_start(self, task: Any, context: ExecutionContext) -> None:
        """Open the task's span and make it current on this thread."""
        task_id = str(task.task_id)
        parent, remote = self._parent_for(task_id, context)
        attrs: dict[str, Any] = {
            "graflow.task.id": task_id,
            "graflow.task.name": _task_name(task),
            "graflow.task.type": type(task).__name__,
            "graflow.task.handler": str(getattr(task, "handler_type", "direct")),
            "graflow.workflow.name": str(getattr(context, "workflow_name", "")),
            "graflow.session_id": str(getattr(context, "session_id", "")),
        }
        if remote:
            attrs.update(self._hop_attributes(task_id))
        hop = self._hops.pop(task_id, None)
        if hop:
            attrs.update(hop)
        span = self._otel.start_span(
            TASK_SPAN_PREFIX + attrs["graflow.task.name"],
            context=parent,
            kind=SpanKind.CONSUMER if remote else SpanKind.INTERNAL,
            attributes=attrs,
        )
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        self._open().append((task_id, span, token))
        metadata = {"task_type": attrs["graflow.task.type"], "handler_type": attrs["graflow.task.handler"]}
        # The runtime graph links span names; without an enclosing span pass the task itself as its parent, which
        # adds no edge, so that the base class does not ask get_current_span_id() (a traceparent here) instead.
        graph_parent = Tracer.get_current_span_id(self) or task_id
        self.span_start(task_id, parent_name=graph_parent, metadata=metadata)

    def on_task_end(
        self, task: Any, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """Close the task's span; a failed attempt records the exception and an error status."""
        task_id = str(task.task_id)
        self.span_end(task_id, output=result, metadata={"error": str(error)} if error is not None else None)
        stack = self._open()
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == task_id:
                _, span, token = stack.pop(index)
                break
        else:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
        self._detach(token)
        self._group_parents.pop(task_id, None)

    @staticmethod
    def _detach(token: Any) -> None:
        try:
            otel_context.detach(token)
        except Exception:  # ended on another thread than it started: the span is closed all the same
            logger.debug("OpenTelemetry context token detached out of order", exc_info=True)

    def on_task_retry(
        self, task: Any, context: ExecutionContext, attempt: int, delay: float, error: BaseException
    ) -> None:
        """Record the coming retry as an event on the current span."""
        self._output_event("task_retry", None, {"task_id": task.task_id, "attempt": attempt, "delay": delay,
                                                "error": f"{type(error).__name__}: {error}"})

    def on_parallel_group_start(
        self, group_id: str, member_ids: list[str], context: ExecutionContext
    ) -> None:
        """Make the members' spans children of the group's span, whatever thread they run on."""
        current = otel_context.get_current()
        if otel_trace.get_current_span(current).get_span_context().is_valid:
            for member_id in member_ids:
                self._group_parents[member_id] = current
        super().on_parallel_group_start(group_id, member_ids, context)

    def on_parallel_group_end(
        self, group_id: str, member_ids: list[str], context: ExecutionContext, results: dict[str, Any] | None = None
    ) -> None:
        """Forget the group's members."""
        for member_id in member_ids:
            self._group_parents.pop(member_id, None)
        super().on_parallel_group_end(group_id, member_ids, context, results)

    def on_task_dequeued(self, *, task_id: str, queue: str, wait_seconds: float, deliveries: int) -> None:
        """Remember the queue hop, to put it on the task's span."""
        if len(self._hops) >= MAX_PENDING_HOPS:  # dequeued elsewhere and never started here: do not grow forever
            self._hops.clear()
        self._hops[task_id] = {
            "messaging.destination.name": queue,
            "graflow.queue.wait_seconds": float(wait_seconds),
            "graflow.queue.deliveries": int(deliveries),
        }
        self._remote_queue = queue

    def on_llm_call(self, *, event: Any, context: ExecutionContext, task_id: str | None = None) -> None:
        """Record a model call as a ``CLIENT`` span ``chat <model>`` with ``gen_ai.*`` attributes, a child of the
        span of the task that made it; its start and end are those of the call, and a failed call has an error
        status."""
        parent: Context | None = None
        for open_id, span, _ in reversed(self._open()):
            if open_id == task_id:
                parent = otel_trace.set_span_in_context(span)
                break
        start, end = genai.call_window_ns(event)
        span = self._otel.start_span(genai.span_name(event), context=parent, kind=SpanKind.CLIENT,
                                     attributes=genai.attributes(event, task_id), start_time=start)
        if not getattr(event, "success", True):
            span.set_status(Status(StatusCode.ERROR, str(getattr(event, "error_type", None) or "model call failed")))
        span.end(end_time=end)

    # -- events -----------------------------------------------------------------------------------------------------
    def _output_event(self, name: str, parent_span: str | None, metadata: dict[str, Any] | None) -> None:
        span = otel_trace.get_current_span()
        if span.get_span_context().is_valid:
            span.add_event(name, {k: _attr(v) for k, v in (metadata or {}).items() if v is not None})

    # -- propagation ------------------------------------------------------------------------------------------------
    def _current_context(self) -> Context | None:
        if otel_trace.get_current_span().get_span_context().is_valid:
            return otel_context.get_current()
        with self._runs_lock:
            runs = list(self._runs.values())
        if runs:
            return otel_trace.set_span_in_context(runs[-1][0])
        return self._remote

    def inject_context(self, carrier: dict[str, str] | None = None) -> dict[str, str]:
        """The W3C trace context (``traceparent``, maybe ``tracestate``) of the current span, to put in a record.

        Returns an empty dict when no span is open.
        """
        carrier = {} if carrier is None else carrier
        ctx = self._current_context()
        if ctx is not None:
            _PROPAGATOR.inject(carrier, context=ctx)
        return carrier

    def get_current_span_id(self) -> str | None:
        """The ``traceparent`` of the current span (fits a task record's ``parent_span_id``), or None."""
        return self.inject_context().get(_TRACEPARENT)

    def attach_context(self, carrier: Mapping[str, str], queue: str | None = None) -> None:
        """Continue the trace whose W3C context is in ``carrier`` (as returned by :meth:`inject_context`)."""
        remote = _PROPAGATOR.extract(dict(carrier))
        if otel_trace.get_current_span(remote).get_span_context().is_valid:
            self._remote = remote
            self._remote_queue = queue or self._remote_queue
        else:
            logger.warning("No valid W3C trace context in %r; starting a new trace", dict(carrier))

    def attach_to_trace(self, trace_id: str, parent_span_id: str | None = None) -> None:
        """Continue a producer's trace on a worker.

        Args:
            trace_id: The run's trace id (32 hex digits).
            parent_span_id: A ``traceparent`` header (as :meth:`get_current_span_id` returns), or a 16-hex span id
                of the producer's span (combined with ``trace_id``), or None (then spans start a new OpenTelemetry
                trace and carry ``graflow.trace_id``).
        """
        traceparent: str | None = None
        if parent_span_id:
            if parent_span_id.startswith("00-"):
                traceparent = parent_span_id
            elif _HEX16.match(parent_span_id) and _HEX32.match(trace_id or ""):
                traceparent = f"00-{trace_id}-{parent_span_id}-01"
        if traceparent is not None:
            self.attach_context({_TRACEPARENT: traceparent})
        super().attach_to_trace(trace_id, parent_span_id)

    def clone(self, trace_id: str) -> OtelTracer:
        """Branches share this tracer: its span state is per thread."""
        return self

    def flush(self) -> None:
        """Export buffered spans now (``force_flush`` on the provider)."""
        provider = self._provider or otel_trace.get_tracer_provider()
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            force_flush()


__all__ = ["OtelTracer"]
