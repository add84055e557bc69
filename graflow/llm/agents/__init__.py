"""Agent wrappers: the :class:`LLMAgent` interface and its pydantic-ai and Google ADK implementations.

``PydanticLLMAgent``, ``create_pydantic_ai_agent`` (and its 0.2 alias ``create_pydantic_ai_agent_with_litellm``) are
exported when pydantic-ai is installed (``graflow[agents]``), ``AdkLLMAgent`` when google-adk is (``graflow[adk]``),
as in Graflow 0.2. They are imported on first access, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

from graflow.llm.agents.base import LLMAgent
from graflow.llm.agents.types import AgentResult, AgentStep
from graflow.llm.settings import import_optional, is_installed

#: Optional export -> (module defining it, package it needs).
OPTIONAL_EXPORTS: dict[str, tuple[str, str]] = {
    "AdkLLMAgent": ("graflow.llm.agents.adk_agent", "google.adk"),
    "PydanticLLMAgent": ("graflow.llm.agents.pydantic_agent", "pydantic_ai"),
    "create_pydantic_ai_agent": ("graflow.llm.agents.pydantic_agent", "pydantic_ai"),
    "create_pydantic_ai_agent_with_litellm": ("graflow.llm.agents.pydantic_agent", "pydantic_ai"),
}


def __getattr__(name: str) -> Any:
    try:
        return import_optional(name, OPTIONAL_EXPORTS, globals())
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = ["AgentResult", "AgentStep", "LLMAgent"]
__all__ += [name for name, (_, package) in OPTIONAL_EXPORTS.items() if is_installed(package)]
