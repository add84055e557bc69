"""What tracers write about a model call: OpenTelemetry GenAI names and attributes of an LLM call event.

Tracers receive a ``graflow.llm.events.LLMCallEvent`` through the engine hook ``on_llm_call``; this module turns it
into a span name (``chat <model>``, ``invoke_agent <agent>``) and ``gen_ai.*`` attributes following the
OpenTelemetry semantic conventions for generative AI. The event is read by attribute only: tracing does not import
the LLM package.
"""

from __future__ import annotations

import time
from typing import Any

#: ``gen_ai.operation.name`` per event ``operation``.
OPERATION_NAMES = {"completion": "chat", "stream": "chat", "agent_run": "invoke_agent"}


def operation_name(event: Any) -> str:
    """``chat`` for a completion or a stream, ``invoke_agent`` for an agent run."""
    return OPERATION_NAMES.get(str(getattr(event, "operation", "")), "chat")


def agent_name(event: Any) -> str | None:
    """The agent's name of an agent run, else None."""
    name = (getattr(event, "attributes", None) or {}).get("agent")
    return str(name) if name else None


def system(event: Any) -> str:
    """The provider of the model: the event's ``provider``, else the prefix of ``provider/model`` or
    ``provider:model``, else who made the call (``litellm``, ``pydantic-ai`` ...)."""
    provider = getattr(event, "provider", None)
    if provider:
        return str(provider)
    model = str(getattr(event, "model", "") or "")
    for separator in ("/", ":"):
        head, found, _ = model.partition(separator)
        if found and head:
            return head
    return str(getattr(event, "source", None) or "unknown")


def span_name(event: Any) -> str:
    """``<operation> <model>``, or ``invoke_agent <agent name>`` for an agent run."""
    operation = operation_name(event)
    target = agent_name(event) if operation == "invoke_agent" else None
    return f"{operation} {target or getattr(event, 'model', '') or 'unknown'}"


def attributes(event: Any, task_id: str | None = None) -> dict[str, Any]:
    """The span attributes of ``event``: ``gen_ai.*`` plus ``graflow.*`` facts; missing values are left out."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(event),
        "gen_ai.system": system(event),
        "gen_ai.provider.name": system(event),
        "gen_ai.request.model": str(getattr(event, "model", "") or "unknown"),
        "graflow.llm.operation": str(getattr(event, "operation", "")),
        "graflow.llm.source": str(getattr(event, "source", "")),
        "graflow.llm.duration_seconds": float(getattr(event, "duration", 0.0)),
        "graflow.llm.requests": int(getattr(event, "requests", 1)),
        "graflow.llm.is_async": bool(getattr(event, "is_async", False)),
    }
    optional = {
        "gen_ai.usage.input_tokens": getattr(event, "prompt_tokens", None),
        "gen_ai.usage.output_tokens": getattr(event, "completion_tokens", None),
        "gen_ai.agent.name": agent_name(event),
        "graflow.llm.total_tokens": getattr(event, "total_tokens", None),
        "graflow.llm.generation_name": getattr(event, "generation_name", None),
        "graflow.task.id": task_id,
    }
    attrs.update({key: value for key, value in optional.items() if value is not None})
    tags = tuple(getattr(event, "tags", ()) or ())
    if tags:
        attrs["graflow.llm.tags"] = [str(tag) for tag in tags]
    if not getattr(event, "success", True):
        attrs["error.type"] = str(getattr(event, "error_type", None) or "error")
    return attrs


def call_window_ns(event: Any) -> tuple[int, int]:
    """``(start, end)`` of the call in epoch nanoseconds: it ended now and lasted ``event.duration`` seconds."""
    end = time.time_ns()
    return end - int(max(float(getattr(event, "duration", 0.0)), 0.0) * 1e9), end


__all__ = ["OPERATION_NAMES", "agent_name", "attributes", "call_window_ns", "operation_name", "span_name", "system"]
