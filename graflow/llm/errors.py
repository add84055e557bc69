"""Errors raised by Graflow's LLM integration.

They derive from :class:`~graflow.exceptions.GraflowError` and also from the built-in class that Graflow 0.2 raised
in the same situation, so ``except RuntimeError`` / ``except TypeError`` / ``except ValueError`` written for 0.2 keeps
working. Errors of the model provider itself (rate limits, authentication, bad requests) are LiteLLM's, pydantic-ai's
or ADK's own exceptions and pass through unchanged, so retry policies can tell them apart.
"""

from __future__ import annotations

from graflow.exceptions import GraflowError


class LLMError(GraflowError):
    """Base of the errors raised by ``graflow.llm``."""


class LLMUnavailableError(LLMError, RuntimeError, ImportError):
    """An optional package the requested feature needs is not installed.

    Attributes:
        package: The missing distribution (``litellm``, ``pydantic-ai-slim``, ``google-adk`` ...).
        extra: The Graflow extra that installs it.
    """

    def __init__(self, package: str, extra: str, feature: str = "") -> None:
        self.package = package
        self.extra = extra
        what = f"{feature} needs" if feature else "This feature needs"
        super().__init__(f"{what} {package}, which is not installed: pip install 'graflow[{extra}]'")


class LLMAgentTypeError(LLMError, TypeError):
    """An agent wrapper was given an object of the wrong type.

    Attributes:
        expected: What the wrapper accepts.
        actual: The type name it got.
    """

    def __init__(self, expected: str, actual: object) -> None:
        self.expected = expected
        self.actual = type(actual).__name__
        super().__init__(f"Expected {expected}, got {self.actual}")


class LLMConfigError(LLMError, ValueError):
    """An agent or client option is missing or invalid."""


class AgentRunError(LLMError, RuntimeError):
    """An agent run ended without a usable answer.

    Attributes:
        agent_name: The agent that ran.
    """

    def __init__(self, agent_name: str, reason: str) -> None:
        self.agent_name = agent_name
        self.reason = reason
        super().__init__(f"Agent '{agent_name}' {reason}")


__all__ = ["AgentRunError", "LLMAgentTypeError", "LLMConfigError", "LLMError", "LLMUnavailableError"]
