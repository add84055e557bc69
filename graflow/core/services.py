"""``RunServices``: what tasks of a run may ask for besides data — LLM client, agents, prompts, feedback.

One object per run, shared by every parallel branch of it (D27), so members see the run's client, agents and prompt
manager. Services the engine does not know about register under their own name (``set`` / ``get``), so a new
feature plugs in without growing the execution context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from graflow.core import registry


class RunServices:
    """Named services of one run.

    Args:
        llm_client: The run's LLM client; created from ``GRAFLOW_LLM_MODEL`` on first use when None.
        prompt_manager: The run's prompt manager, if any.
    """

    def __init__(self, llm_client: Any = None, prompt_manager: Any = None) -> None:
        self._llm_client = llm_client
        self.prompt_manager = prompt_manager
        self.llm_agents: dict[str, Any] = {}
        self._named: dict[str, Any] = {}
        self._factories: dict[str, Callable[[], Any]] = {}
        self._lock = threading.Lock()

    # -- LLM ----------------------------------------------------------------------------------------------------------
    @property
    def llm_client(self) -> Any:
        """The run's LLM client, created on first use from ``GRAFLOW_LLM_MODEL`` (needs ``graflow[llm]``)."""
        if self._llm_client is None:
            with self._lock:
                if self._llm_client is None:
                    self._llm_client = _default_llm_client()
        return self._llm_client

    @llm_client.setter
    def llm_client(self, client: Any) -> None:
        self._llm_client = client

    @property
    def has_llm_client(self) -> bool:
        """Whether a client was given or already created (without creating one)."""
        return self._llm_client is not None

    def register_llm_agent(self, name: str, agent: Any) -> None:
        """Register an LLM agent under ``name``."""
        self.llm_agents[name] = agent

    def get_llm_agent(self, name: str) -> Any:
        """The agent registered as ``name``. Raises KeyError naming the known agents."""
        try:
            return self.llm_agents[name]
        except KeyError:
            raise KeyError(f"LLM agent '{name}' is not registered (known: {sorted(self.llm_agents)})") from None

    # -- any other service ----------------------------------------------------------------------------------------
    def set(self, name: str, service: Any) -> None:
        """Make ``service`` the run's ``name`` service."""
        self._named[name] = service

    def set_factory(self, name: str, factory: Callable[[], Any]) -> None:
        """Create the ``name`` service with ``factory`` when it is first asked for."""
        self._factories[name] = factory

    def get(self, name: str, default: Any = None) -> Any:
        """The ``name`` service (created by its factory on first use), or ``default``."""
        if name in self._named:
            return self._named[name]
        factory = self._factories.get(name)
        if factory is None:
            return default
        with self._lock:
            if name not in self._named:
                self._named[name] = factory()
        return self._named[name]

    def __getstate__(self) -> dict[str, Any]:
        # Live clients and agents hold connections: a pickled run keeps only what can be rebuilt.
        return {"prompt_manager": self.prompt_manager}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(prompt_manager=state.get("prompt_manager"))  # type: ignore[misc]


def _default_llm_client() -> Any:
    from graflow.config import env
    from graflow.exceptions import GraflowRuntimeError

    try:
        client_class = registry.resolve("llm_client", "default")
    except ImportError as exc:
        raise GraflowRuntimeError(
            "This task asks for an LLM client, but graflow.llm is not available in this installation "
            "(pip install 'graflow[llm]')"
        ) from exc
    return client_class(model=env("GRAFLOW_LLM_MODEL", "gpt-5-mini"))


__all__ = ["RunServices"]
