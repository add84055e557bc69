"""The result shape shared by every agent wrapper."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class AgentStep(TypedDict):
    """One message of an agent run.

    Keys:
        type: ``request`` (what went to the model: the prompt, tool results) or ``response`` (what the model
            answered: text, tool calls).
        is_final: True for the last step of the run only.
        is_partial: True for a streamed fragment that a later step completes.
        content: The message's parts rendered as text (tool calls as ``name(args)``).
    """

    type: str
    is_final: bool
    is_partial: bool
    content: NotRequired[list[str]]


class AgentResult(TypedDict):
    """What :meth:`LLMAgent.run <graflow.llm.agents.base.LLMAgent.run>` returns.

    Keys:
        output: The final answer: a string, or a pydantic model when the agent has a structured output type.
        steps: The run's messages, oldest first (see :class:`AgentStep`).
        metadata: ``agent_name`` and ``framework``; ``usage`` (``requests``, ``input_tokens``, ``output_tokens``,
            ``total_tokens``); ``messages``, the conversation so far in the framework's own form, to pass as the next
            turn's history; wrappers may add more (e.g. ``session_id`` for ADK).
    """

    output: Any
    steps: list[AgentStep]
    metadata: dict[str, Any]


__all__ = ["AgentResult", "AgentStep"]
