"""Helpers the agent wrappers share to build an :class:`~graflow.llm.agents.types.AgentResult`."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from graflow.llm import events
from graflow.llm.agents.types import AgentStep

REQUEST = "request"
RESPONSE = "response"


def step(kind: str, content: Sequence[str] | None = None, *, is_partial: bool = False) -> AgentStep:
    """A non-final step of type ``kind`` (``request`` or ``response``)."""
    entry: AgentStep = {"type": kind, "is_final": False, "is_partial": is_partial}
    if content:
        entry["content"] = list(content)
    return entry


def mark_last_final(steps: list[AgentStep]) -> list[AgentStep]:
    """Mark the last step final and every other step not final. Returns ``steps``."""
    for entry in steps:
        entry["is_final"] = False
    if steps:
        steps[-1]["is_final"] = True
    return steps


def usage_dict(requests: int, input_tokens: int | None, output_tokens: int | None,
               total_tokens: int | None = None) -> dict[str, int]:
    """``metadata["usage"]``: ``requests``, ``input_tokens``, ``output_tokens``, ``total_tokens`` (0 when unknown)."""
    prompt, completion = input_tokens or 0, output_tokens or 0
    return {"requests": requests, "input_tokens": prompt, "output_tokens": completion,
            "total_tokens": total_tokens if total_tokens is not None else prompt + completion}


def render_arguments(arguments: Any) -> str:
    """Tool-call arguments as compact text."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    try:
        return json.dumps(arguments, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(arguments)


def report_run(*, model: str, started: float, source: str, agent_name: str, is_async: bool,
               usage: dict[str, int] | None = None, error: BaseException | None = None) -> None:
    """Emit one ``agent_run`` :class:`~graflow.llm.events.LLMCallEvent` (when anyone listens)."""
    if not events.has_listeners():
        return
    usage = usage or {}
    events.emit(events.LLMCallEvent(
        model=model, operation=events.OP_AGENT_RUN, duration=time.perf_counter() - started,
        prompt_tokens=usage.get("input_tokens"), completion_tokens=usage.get("output_tokens"),
        total_tokens=usage.get("total_tokens"), success=error is None,
        error_type=type(error).__name__ if error is not None else None, is_async=is_async,
        requests=usage.get("requests", 0), source=source,
        attributes={"agent": agent_name},
    ))


__all__ = ["REQUEST", "RESPONSE", "mark_last_final", "render_arguments", "report_run", "step", "usage_dict"]
