"""The interface every agent wrapper implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from graflow.llm.agents.types import AgentResult


class LLMAgent(ABC):
    """An agent a task can run: a model that may call tools over several steps.

    Subclass it to wrap an agent framework (see ``PydanticLLMAgent`` and ``AdkLLMAgent``) or to write your own:
    implement :meth:`run` and :attr:`name`. Register an instance with ``wf.register_llm_agent(name, agent)`` and
    receive it in a task declared with ``@task(inject_llm_agent=name)``.
    """

    @abstractmethod
    def run(self, input_text: str, **kwargs: Any) -> AgentResult:
        """Run the agent to its final answer.

        Args:
            input_text: The user's request.
            **kwargs: Options of the concrete agent (history, session, user ...).

        Returns:
            ``{"output", "steps", "metadata"}``; see :class:`~graflow.llm.agents.types.AgentResult`.
        """

    async def arun(self, input_text: str, **kwargs: Any) -> AgentResult:
        """Awaitable :meth:`run`. The default runs :meth:`run` in a worker thread; wrappers override it natively."""
        return await asyncio.to_thread(self.run, input_text, **kwargs)

    async def run_async(self, input_text: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Stream the run's events as the framework produces them (``async for event in agent.run_async(...)``).

        Raises:
            NotImplementedError: The agent does not stream (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} does not stream; call run() or arun()")
        yield  # pragma: no cover - makes this an async generator

    @property
    @abstractmethod
    def name(self) -> str:
        """The agent's name."""

    @property
    def tools(self) -> list[Any]:
        """The tools the agent may call (the framework's own tool objects); none by default."""
        return []

    @property
    def metadata(self) -> dict[str, Any]:
        """Facts about the agent (model, framework, tool count ...); empty by default."""
        return {}


__all__ = ["LLMAgent"]
