"""LLM integration: a LiteLLM client, agent wrappers, and call events for tracing and metrics.

- :class:`LLMClient` (``graflow[llm]``): chat completions, text, async and streaming on any LiteLLM model;
  :func:`default_llm_client` builds the run's default client from ``GRAFLOW_LLM_MODEL``.
- :class:`LLMAgent` and, when their packages are installed, ``PydanticLLMAgent`` / ``create_pydantic_ai_agent``
  (``graflow[agents]``) and ``AdkLLMAgent`` with ``agent_to_yaml`` / ``yaml_to_agent`` (``graflow[adk]``).
- :mod:`graflow.llm.events`: every call's model, tokens and latency, for listeners and for the engine hooks of
  the run that made the call (``on_llm_call``: tracers, ``MetricsHook``); :mod:`graflow.llm.metrics`
  turns them into Prometheus series.

In a task, ask for the run's client with ``@task(inject_llm_client=True)`` and for a registered agent with
``@task(inject_llm_agent="name")``. See ``docs/llm.md``.
"""

from __future__ import annotations

from typing import Any

from graflow.llm.agents import LLMAgent
from graflow.llm.agents.types import AgentResult, AgentStep
from graflow.llm.client import LLMClient, default_llm_client, extract_text, make_message
from graflow.llm.events import LLMCallEvent, add_listener, remove_listener
from graflow.llm.settings import import_optional as _import_optional
from graflow.llm.settings import is_installed as _is_installed
from graflow.llm.tracing import setup_langfuse_for_litellm

_OPTIONAL_EXPORTS: dict[str, tuple[str, str]] = {
    "AdkLLMAgent": ("graflow.llm.agents.adk_agent", "google.adk"),
    "PydanticLLMAgent": ("graflow.llm.agents.pydantic_agent", "pydantic_ai"),
    "create_pydantic_ai_agent": ("graflow.llm.agents.pydantic_agent", "pydantic_ai"),
    "agent_to_yaml": ("graflow.llm.serialization", "google.adk"),
    "yaml_to_agent": ("graflow.llm.serialization", "google.adk"),
}


def __getattr__(name: str) -> Any:
    try:
        return _import_optional(name, _OPTIONAL_EXPORTS, globals())
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = [
    "LLMClient",
    "LLMAgent",
    "AgentResult",
    "AgentStep",
    "LLMCallEvent",
    "add_listener",
    "remove_listener",
    "default_llm_client",
    "extract_text",
    "make_message",
    "setup_langfuse_for_litellm",
]
__all__ += [name for name, (_, package) in _OPTIONAL_EXPORTS.items() if _is_installed(package)]
