"""Langfuse tracer (extra ``tracing``): workflow runs and tasks as Langfuse observations.

Credentials come from the arguments or from ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and ``LANGFUSE_HOST``
(a ``.env`` file is read when python-dotenv is installed). Missing keys raise ``ValueError``; ``enabled=False``
makes the tracer a no-op that needs no keys. While a task runs, its observation is also the current
OpenTelemetry span, so LiteLLM (``langfuse_otel`` callback) and other OpenTelemetry-instrumented calls nest under it.
Every model call a task makes through ``graflow.llm`` becomes a generation under the task's observation (model,
token usage, latency, error), unless LiteLLM's Langfuse callback exports that call itself.
Failures to talk to Langfuse are logged and never break a run.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from graflow import config
from graflow.trace import genai
from graflow.trace.base import Tracer

try:
    import langfuse as _sdk
    from langfuse import Langfuse
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("LangFuseTracer needs the langfuse package: pip install 'graflow[tracing]'") from exc

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

logger = logging.getLogger(__name__)

_Generation: Any = getattr(_sdk, "LangfuseGeneration", None)
# Generations can start when the call started only if the SDK's generation wraps a span made here (SDK 3 and later).
_CAN_BACKDATE = _Generation is not None and {"otel_span", "langfuse_client", "model", "usage_details"} <= set(
    inspect.signature(_Generation.__init__).parameters)

#: ``LLMCallEvent.attributes`` key (``graflow.llm.events.ATTR_LANGFUSE_EXPORTED``) of calls that LiteLLM's Langfuse
#: callback exports itself.
LANGFUSE_EXPORTED = "langfuse_exported"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _load_dotenv() -> None:
    try:
        from dotenv import find_dotenv, load_dotenv
    except ImportError:  # python-dotenv is optional: the environment alone is enough
        return
    # The user's .env is next to where they run the program, not next to this module.
    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


class LangFuseTracer(Tracer):
    """Sends traces to Langfuse.

    Args:
        public_key: Langfuse public key (default ``LANGFUSE_PUBLIC_KEY``).
        secret_key: Langfuse secret key (default ``LANGFUSE_SECRET_KEY``).
        host: Langfuse URL (default ``LANGFUSE_HOST``, else the SDK's default).
        enable_runtime_graph: Keep the runtime graph as every tracer does.
        enabled: False makes the tracer a no-op (no keys needed, nothing sent).
        client: An already configured ``langfuse.Langfuse`` client to use instead of building one from the keys.

    Raises:
        ValueError: Enabled, no ``client``, and a key is missing.
    """

    def __init__(
        self,
        public_key: str | None = None,
        secret_key: str | None = None,
        host: str | None = None,
        enable_runtime_graph: bool = True,
        enabled: bool = True,
        *,
        client: Any = None,
    ) -> None:
        super().__init__(enable_runtime_graph=enable_runtime_graph)
        self.enabled = enabled
        self.client: Any = None
        self._root: Any = None
        # Langfuse trace context of a producer's span this tracer continues (set by attach_to_trace on workers).
        self._attached: dict[str, str] | None = None
        self._lf_local = threading.local()
        self._group_parents: dict[str, Any] = {}
        if not enabled:
            return
        if client is not None:
            self.client = client
            return
        _load_dotenv()
        public_key = public_key or config.env("LANGFUSE_PUBLIC_KEY")
        secret_key = secret_key or config.env("LANGFUSE_SECRET_KEY")
        host = host or config.env("LANGFUSE_HOST")
        if not public_key or not secret_key:
            given = (("LANGFUSE_PUBLIC_KEY", public_key), ("LANGFUSE_SECRET_KEY", secret_key))
            missing = [name for name, value in given if not value]
            raise ValueError(
                f"Langfuse credentials missing: {', '.join(missing)}. Pass public_key/secret_key, set the environment "
                "variables, or use LangFuseTracer(enabled=False)."
            )
        self.client = Langfuse(public_key=public_key, secret_key=secret_key, host=host)

    @property
    def _active(self) -> bool:
        return self.enabled and self.client is not None

    # -- per-thread stack of open observations ----------------------------------------------------------------------
    def _open(self) -> list[tuple[str, Any, Any]]:
        stack: list[tuple[str, Any, Any]] | None = getattr(self._lf_local, "open", None)
        if stack is None:
            stack = self._lf_local.open = []
        return stack

    def _current(self) -> Any:
        stack = self._open()
        return stack[-1][1] if stack else self._root

    # -- hooks that need more than the base gives -------------------------------------------------------------------
    def on_workflow_end(
        self, workflow_name: str, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """End the run's trace, marking it failed when the run failed."""
        error = error if error is not None else getattr(context, "error", None)
        self.trace_end(workflow_name, output=result, metadata={"error": str(error)} if error is not None else None)

    def on_task_start(self, task: Any, context: ExecutionContext) -> None:
        """Open an observation for the task (named by task id, as upstream)."""
        metadata = {"task_type": type(task).__name__, "handler_type": getattr(task, "handler_type", "direct")}
        # Without an enclosing span, pass the task itself as its parent (no graph edge), so that the base class does
        # not fall back to get_current_span_id(), which returns a Langfuse id here, not a span name.
        self.span_start(task.task_id, parent_name=Tracer.get_current_span_id(self) or task.task_id, metadata=metadata)

    def on_parallel_group_start(
        self, group_id: str, member_ids: list[str], context: ExecutionContext
    ) -> None:
        """Nest the members under the group's observation, whatever thread they run on."""
        current = self._current() if self._active else None
        if current is not None:
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

    def on_llm_call(self, *, event: Any, context: ExecutionContext, task_id: str | None = None) -> None:
        """Record a model call as a generation (model, token usage, latency, error) under the observation of the
        task that made it. Calls that LiteLLM's own Langfuse callback exports already are skipped."""
        if not self._active or (getattr(event, "attributes", None) or {}).get(LANGFUSE_EXPORTED):
            return
        parent = next((obs for name, obs, _ in reversed(self._open()) if name == task_id), None) or self._current()
        failed = not getattr(event, "success", True)
        usage = {key: int(value) for key, value in (("input", event.prompt_tokens), ("output", event.completion_tokens),
                                                    ("total", event.total_tokens)) if value is not None}
        fields: dict[str, Any] = {
            "model": event.model,
            "usage_details": usage or None,
            "metadata": {key: value for key, value in genai.attributes(event, task_id).items()
                         if not key.startswith("gen_ai.usage")},
            "level": "ERROR" if failed else None,
            "status_message": str(event.error_type or "model call failed") if failed else None,
        }
        name = getattr(event, "generation_name", None) or genai.span_name(event)
        start, end = genai.call_window_ns(event)
        try:
            generation = self._backdated_generation(parent, name, start, fields)
            if generation is None:  # the SDK's own API starts an observation now: the latency is in the metadata
                if parent is not None:
                    generation = parent.start_observation(name=name, as_type="generation", **fields)
                else:
                    generation = self.client.start_observation(name=name, as_type="generation",
                                                               trace_context=self._attached, **fields)
            generation.end(end_time=end)
        except Exception as exc:
            logger.warning("Langfuse: could not record generation %r: %s", name, exc)

    def _backdated_generation(self, parent: Any, name: str, start: int, fields: dict[str, Any]) -> Any:
        """A generation that starts when the call started (the public API can only start one now), or None when
        this SDK version does not offer the pieces for it."""
        tracer = getattr(self.client, "_otel_tracer", None)
        if tracer is None or not _CAN_BACKDATE:
            return None
        parent_context = None
        if parent is not None:
            span_context = SpanContext(trace_id=int(parent.trace_id, 16), span_id=int(parent.id, 16),
                                       is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            parent_context = otel_trace.set_span_in_context(NonRecordingSpan(span_context))
        elif self._attached is not None:
            return None  # a producer's trace context: leave it to the SDK
        otel_span = tracer.start_span(name=name, context=parent_context, start_time=start)
        return _Generation(otel_span=otel_span, langfuse_client=self.client, **fields)

    # -- output -----------------------------------------------------------------------------------------------------
    def _output_trace_start(self, name: str, trace_id: str | None, metadata: dict[str, Any] | None) -> None:
        if not self._active:
            return
        trace_context = self._attached
        if trace_context is None and trace_id and _HEX32.match(trace_id):
            trace_context = {"trace_id": trace_id}
        try:
            self._root = self.client.start_observation(name=name, trace_context=trace_context,
                                                       metadata=metadata or {})
        except Exception as exc:
            logger.warning("Langfuse: could not start trace %r: %s", name, exc)
            self._root = None

    def _output_trace_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        root, self._root = self._root, None
        if not self._active or root is None:
            return
        error = (metadata or {}).get("error")
        try:
            root.update(output=output, metadata=metadata or {}, level="ERROR" if error else None,
                        status_message=str(error) if error else None)
            root.end()
            self.client.flush()
        except Exception as exc:
            logger.warning("Langfuse: could not end trace %r: %s", name, exc)

    def _output_span_start(self, name: str, parent_name: str | None, metadata: dict[str, Any] | None) -> None:
        if not self._active:
            return
        try:
            parent = self._group_parents.get(name) or self._current()
            if parent is not None:
                span = parent.start_observation(name=name, metadata=metadata or {})
            else:  # no run on this tracer (a worker running one task): hang it under the producer's span
                span = self.client.start_observation(name=name, trace_context=self._attached, metadata=metadata or {})
        except Exception as exc:
            logger.warning("Langfuse: could not start span %r: %s", name, exc)
            return
        self._open().append((name, span, self._make_current(span)))

    @staticmethod
    def _make_current(span: Any) -> Any:
        # Expose the observation as the current OpenTelemetry span so that LiteLLM and ADK calls nest under it.
        try:
            span_context = SpanContext(trace_id=int(span.trace_id, 16), span_id=int(span.id, 16), is_remote=False,
                                       trace_flags=TraceFlags(TraceFlags.SAMPLED))
            return otel_context.attach(otel_trace.set_span_in_context(NonRecordingSpan(span_context)))
        except Exception as exc:
            logger.debug("Langfuse: could not set the OpenTelemetry context: %s", exc)
            return None

    def _output_span_end(self, name: str, output: Any, metadata: dict[str, Any] | None) -> None:
        if not self._active:
            return
        stack = self._open()
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                _, span, token = stack.pop(index)
                break
        else:
            return
        error = (metadata or {}).get("error")
        try:
            span.update(output=output, metadata=metadata or {}, level="ERROR" if error else None,
                        status_message=str(error) if error else None)
            span.end()
        except Exception as exc:
            logger.warning("Langfuse: could not end span %r: %s", name, exc)
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception:  # ended on another thread: nothing else to undo
                logger.debug("Langfuse: OpenTelemetry context detached out of order", exc_info=True)

    def _output_event(self, name: str, parent_span: str | None, metadata: dict[str, Any] | None) -> None:
        if not self._active:
            return
        parent = self._current()
        try:
            if parent is not None:
                parent.create_event(name=name, metadata=metadata or {})
            else:
                self.client.create_event(name=name, metadata=metadata or {})
        except Exception as exc:
            logger.warning("Langfuse: could not record event %r: %s", name, exc)

    def _output_attach_to_trace(self, trace_id: str, parent_span_id: str | None) -> None:
        # Nothing is sent yet: the next run or task observation is created inside the producer's trace.
        if not trace_id or not _HEX32.match(trace_id):
            logger.warning("Langfuse: trace id %r is not 32 hex digits; starting a new trace", trace_id)
            self._attached = None
            return
        self._attached = {"trace_id": trace_id}
        if parent_span_id and _HEX16.match(parent_span_id):
            self._attached["parent_span_id"] = parent_span_id

    # -- inspection, branches, lifecycle ----------------------------------------------------------------------------
    def get_current_span_id(self) -> str | None:
        """The Langfuse id of the innermost open observation (fits a task record's ``parent_span_id``)."""
        if not self._active:
            return None
        current = self._current()
        return getattr(current, "id", None) if current is not None else None

    def clone(self, trace_id: str) -> LangFuseTracer:
        """Branches share this tracer: open observations are kept per thread."""
        return self

    def flush(self) -> None:
        """Send buffered observations now."""
        if self._active:
            try:
                self.client.flush()
            except Exception as exc:
                logger.warning("Langfuse: flush failed: %s", exc)

    def shutdown(self) -> None:
        """Flush and drop the open trace."""
        self.flush()
        self._root = None


#: Alternative spelling.
LangfuseTracer = LangFuseTracer

__all__ = ["LangFuseTracer", "LangfuseTracer"]
