"""``RunServices``: what tasks of a run may ask for besides data — LLM client, agents, prompts, feedback.

One object per run, shared by every parallel branch of it (D27), so members see the run's client, agents and prompt
manager. Services the engine does not know about register under their own name (``set`` / ``get``), so a new
feature plugs in without growing the execution context.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

from graflow.core import registry
from graflow.exceptions import GraflowRuntimeError

logger = logging.getLogger(__name__)


class RunServices:
    """Named services of one run.

    Args:
        llm_client: The run's LLM client; created from ``GRAFLOW_LLM_MODEL`` on first use when None.
        prompt_manager: The run's prompt manager, if any.
    """

    def __init__(self, llm_client: Any = None, prompt_manager: Any = None) -> None:
        self._llm_client = llm_client
        self._prompt_manager = prompt_manager
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

    # -- prompts --------------------------------------------------------------------------------------------------
    @property
    def prompt_manager(self) -> Any:
        """The run's prompt manager: the one given, else a ``YAMLPromptManager()`` made on first use (it reads
        ``GRAFLOW_PROMPTS_DIR``, else ``./prompts``; needs ``graflow[prompts]``)."""
        if self._prompt_manager is None:
            with self._lock:
                if self._prompt_manager is None:
                    self._prompt_manager = _default_prompt_manager()
        return self._prompt_manager

    @prompt_manager.setter
    def prompt_manager(self, manager: Any) -> None:
        self._prompt_manager = manager

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
        # A pickled run keeps what can be rebuilt elsewhere (a worker, a resumed checkpoint): the prompt manager and
        # an LLM client that pickles as its configuration (graflow.llm.LLMClient does). Agents and named services
        # hold live connections; they are registered again (workflow agent factories run per context).
        state: dict[str, Any] = {"prompt_manager": self._prompt_manager}
        client = self._llm_client
        if client is not None:
            try:
                pickle.dumps(client)
            except Exception:
                logger.debug("The run's LLM client %r cannot be pickled; a new default one is made on use", client)
            else:
                state["llm_client"] = client
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            llm_client=state.get("llm_client"), prompt_manager=state.get("prompt_manager"))


def _default_llm_client() -> Any:
    try:
        make = registry.resolve("llm_client", "default")
    except ImportError as exc:
        raise GraflowRuntimeError(
            "This task asks for an LLM client, but graflow.llm is not available in this installation "
            "(pip install 'graflow[llm]')"
        ) from exc
    return make()


def _default_prompt_manager() -> Any:
    try:
        make = registry.resolve("prompt_manager", "default")
        return make()
    except ImportError as exc:
        raise GraflowRuntimeError(
            "This run has no prompt manager and the default YAML one needs PyYAML and Jinja2 "
            "(pip install 'graflow[prompts]'), or pass prompt_manager= to workflow()"
        ) from exc


__all__ = ["RunServices"]
