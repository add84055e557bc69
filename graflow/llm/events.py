"""LLM call events: one record per model call, fanned out to listeners.

Every :class:`~graflow.llm.client.LLMClient` call and every agent run reports an :class:`LLMCallEvent` (model, token
usage, latency, outcome) to the listeners registered here. Tracing and metrics subscribe with :func:`add_listener`
(process-wide) or :func:`listening` (the current context only, e.g. one run):

    from graflow.llm import events

    def on_llm_call(event: events.LLMCallEvent) -> None:
        print(event.model, event.total_tokens, f"{event.duration:.3f}s")

    events.add_listener(on_llm_call)

Listeners are called synchronously, in the thread and ``contextvars`` context that made the call, after the call
ended (for a stream: when it is exhausted or closed), so a listener can read context variables such as the task
being run. A listener that raises is logged and never breaks the call.

A call made while a workflow runs in this thread (or asyncio task) is also handed to that run's engine hooks, as
``on_llm_call(event=..., context=..., task_id=...)``: this is how tracers and ``MetricsHook`` see model calls.
That bridge is part of :func:`emit`, not a listener, so :func:`clear_listeners` leaves it in place; calls outside a
run, or in a run whose hooks do not listen, reach no hook. With no listener and no listening run, reporting costs a
few truth tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from graflow.core import registry
from graflow.core.ambient import active_execution_context

logger = logging.getLogger(__name__)

#: ``operation`` values.
OP_COMPLETION = "completion"
OP_STREAM = "stream"
OP_AGENT_RUN = "agent_run"

#: ``attributes`` key set to True on calls that LiteLLM's Langfuse callback exports already, so that a Langfuse
#: tracer does not record them a second time.
ATTR_LANGFUSE_EXPORTED = "langfuse_exported"


@dataclass(frozen=True)
class LLMCallEvent:
    """What one model call (or one agent run) cost and how it ended.

    Attributes:
        model: The model string the call used (``openai/gpt-4o-mini``, ``test``, ``gemini-2.5-flash`` ...).
        operation: ``completion``, ``stream`` or ``agent_run``.
        duration: Wall-clock seconds from the request to the end of the answer (for a stream, its last chunk).
        prompt_tokens: Input tokens, when the provider reported them.
        completion_tokens: Output tokens, when reported.
        total_tokens: Their sum, when reported.
        success: False when the call raised.
        error_type: The exception class name when it raised.
        is_async: Whether the call was awaited.
        requests: Model requests behind this event (an agent run may make several).
        source: Who made the call: ``litellm``, ``pydantic-ai`` or ``google-adk``.
        provider: The provider serving the model (``openai``, ``anthropic``, ``gemini``, ``ollama`` ...), when known.
        generation_name: The ``generation_name`` given to the client call, if any.
        tags: The ``tags`` given to the client call.
        attributes: Extra facts, e.g. ``{"agent": "<name>"}`` for agent runs.
    """

    model: str
    operation: str
    duration: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    success: bool = True
    error_type: str | None = None
    is_async: bool = False
    requests: int = 1
    source: str = "litellm"
    provider: str | None = None
    generation_name: str | None = None
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


class LLMCallListener(Protocol):
    """Anything called with one :class:`LLMCallEvent` per model call."""

    def __call__(self, event: LLMCallEvent, /) -> None: ...


_lock = threading.Lock()
_listeners: tuple[LLMCallListener, ...] = ()
_scoped: ContextVar[tuple[LLMCallListener, ...]] = ContextVar("graflow_llm_listeners", default=())


def add_listener(listener: LLMCallListener) -> Callable[[], None]:
    """Call ``listener`` for every LLM call in this process.

    Adding the same listener twice has no further effect.

    Returns:
        A function that removes the listener again.
    """
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)
    return lambda: remove_listener(listener)


def remove_listener(listener: LLMCallListener) -> None:
    """Stop calling ``listener``; unknown listeners are ignored."""
    global _listeners
    with _lock:
        _listeners = tuple(known for known in _listeners if known != listener)


def clear_listeners() -> None:
    """Remove every process-wide listener (context-scoped ones end with their ``with`` block)."""
    global _listeners
    with _lock:
        _listeners = ()


@contextmanager
def listening(listener: LLMCallListener) -> Iterator[LLMCallListener]:
    """Call ``listener`` for the LLM calls made in the current context until the block ends.

    The scope follows ``contextvars``: calls in tasks or threads started with a copy of this context are included,
    calls elsewhere in the process are not.
    """
    token = _scoped.set((*_scoped.get(), listener))
    try:
        yield listener
    finally:
        _scoped.reset(token)


def has_listeners() -> bool:
    """Whether any listener, or the hooks of the run going on here, would receive an event emitted now (callers
    skip building events otherwise)."""
    return bool(_listeners) or bool(_scoped.get()) or _run_listens()


def emit(event: LLMCallEvent) -> None:
    """Hand ``event`` to every listener, then to the hooks of the run going on here; failures are logged and
    skipped."""
    for listener in (*_listeners, *_scoped.get()):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - an observer must never break the call it observes
            logger.exception("LLM call listener %r failed", listener)
    _forward_to_run(event)


# -- the bridge to engine hooks ------------------------------------------------------------------------------------
def _run_listens() -> bool:
    ctx = active_execution_context()
    return ctx is not None and bool(getattr(ctx.hooks, "on_llm_call", ()))


def _forward_to_run(event: LLMCallEvent) -> None:
    """Fire ``on_llm_call`` on the hooks of the execution context running in this thread or asyncio task."""
    ctx = active_execution_context()
    if ctx is None:
        return
    hooks = ctx.hooks
    listeners = getattr(hooks, "on_llm_call", ())
    if listeners:
        hooks.fire(listeners, event=event, context=ctx, task_id=ctx.current_task_id)


# The metrics hook (graflow.observability) finds the LLM series by this name: adapters do not import each other.
if not registry.known("llm_metrics", "prometheus"):
    registry.register("llm_metrics", "prometheus", "graflow.llm.metrics:recorder_for")


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def usage_counts(usage: Any) -> tuple[int | None, int | None, int | None]:
    """``(prompt, completion, total)`` tokens from an OpenAI/LiteLLM usage object or mapping.

    Missing counts are None; a missing total is the sum of the other two when both are known.
    """
    if usage is None:
        return None, None, None

    def get(name: str) -> Any:
        return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)

    prompt = _as_int(get("prompt_tokens"))
    completion = _as_int(get("completion_tokens"))
    total = _as_int(get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return prompt, completion, total


__all__ = [
    "ATTR_LANGFUSE_EXPORTED",
    "OP_AGENT_RUN",
    "OP_COMPLETION",
    "OP_STREAM",
    "LLMCallEvent",
    "LLMCallListener",
    "add_listener",
    "clear_listeners",
    "emit",
    "has_listeners",
    "listening",
    "remove_listener",
    "usage_counts",
]
