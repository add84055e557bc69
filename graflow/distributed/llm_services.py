"""The run's LLM client and agents travel with the run as what rebuilds them, never as live connections.

A task that asks for the run's client (``@task(inject_llm_client=True)``, ``ctx.llm_client``) or for a registered
agent (``@task(inject_llm_agent="name")``) runs unchanged on a worker. What crosses Redis is the recipe, not the
object: a client holds HTTP connections and an agent holds a client, and neither may be pickled as they are.

- The producer stores, under ``{prefix}:llm:{session_id}``, pickled with cloudpickle and signed (D20) like the
  handler registry (D15): the run's client, which pickles as its model and default parameters
  (``graflow.llm.LLMClient`` does; a client that does not pickle is left out), and ``{name: factory}`` of the agents
  the workflow registered as factories (``wf.register_llm_agent(name, factory)``, ``factory(ExecutionContext)``).
  An agent registered as an object cannot travel: it is left out with a warning that says to register a factory.
- A worker reads that key once per session (remembered in an LRU, absent ones too) and, for each task of the
  session, gives the context the client and registers every agent by calling its factory with the worker's context.

``submit_workflow`` publishes both (the client given to it, the workflow's agent factories); a Redis-backed parallel
group publishes the client of the run it belongs to, if the run has made one, without replacing what was published
for the session already. A session that publishes nothing runs with the worker's default client
(``GRAFLOW_LLM_MODEL`` and ``GRAFLOW_LLM_API_BASE`` in the worker's environment).
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graflow import defaults
from graflow.core import serialization
from graflow.security.signing import dumps_signed, loads_verified
from graflow.utils.redis_utils import binary_redis_client

logger = logging.getLogger(__name__)

#: Sessions whose LLM services a worker remembers.
LLM_SERVICES_CACHE_SIZE = 256


def llm_services_key(key_prefix: str, session_id: str) -> str:
    """Redis key of a session's LLM services."""
    return f"{key_prefix}:llm:{session_id}"


def is_agent_factory(agent_or_factory: Any) -> bool:
    """Whether a registered agent is a factory: callable, and not an agent itself (agents have ``run``).

    This is the rule ``WorkflowContext.create_context`` applies when it calls factories for a local run.
    """
    return callable(agent_or_factory) and not hasattr(agent_or_factory, "run")


def agent_factories(agents: Mapping[str, Any]) -> dict[str, Callable[[Any], Any]]:
    """The factories among ``agents``; agent objects are left out with a warning (they hold live clients)."""
    factories: dict[str, Callable[[Any], Any]] = {}
    for name, agent in agents.items():
        if is_agent_factory(agent):
            factories[name] = agent
        else:
            logger.warning(
                "LLM agent %r is registered as an agent object, which does not travel to workers; tasks that ask "
                "for it there fail. Register a factory instead: wf.register_llm_agent(%r, lambda ctx: make_agent())",
                name, name,
            )
    return factories


def _travelling_client(client: Any) -> Any:
    """``client`` when it pickles (as its configuration), else None."""
    if client is None:
        return None
    try:
        pickle.dumps(client)
    except Exception:
        logger.warning("The run's LLM client %r cannot be pickled; workers use their default client", client)
        return None
    return client


def publish_llm_services(
    redis_client: Any,
    key_prefix: str,
    session_id: str,
    signer: Any,
    *,
    llm_client: Any = None,
    agents: Mapping[str, Any] | None = None,
    replace: bool = True,
    ttl: int = defaults.RESULT_TTL_SECONDS,
) -> bool:
    """Store the LLM client and agent factories of ``session_id`` for its workers.

    Args:
        redis_client: The workers' Redis.
        key_prefix: The workers' key prefix.
        session_id: The run's session.
        signer: Frames the blob (the queue's signer).
        llm_client: The run's client; it travels pickled as its model and default parameters.
        agents: Registered agents by name; only factories travel (see :func:`agent_factories`).
        replace: False keeps what the session published already.
        ttl: Lifetime of the key in seconds.

    Returns:
        Whether anything was written.
    """
    services: dict[str, Any] = {}
    client = _travelling_client(llm_client)
    if client is not None:
        services["llm_client"] = client
    factories = agent_factories(agents or {})
    if factories:
        services["agent_factories"] = factories
    if not services:
        return False
    blob = dumps_signed(services, signer, serialization.dumps)
    written = binary_redis_client(redis_client).set(llm_services_key(key_prefix, session_id), blob, ex=ttl,
                                                     nx=not replace)
    return bool(written)


@dataclass(frozen=True)
class PublishedLLMServices:
    """What a session published: its client (or None) and its agent factories."""

    llm_client: Any = None
    agent_factories: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def install(self, ctx: Any) -> None:
        """Give ``ctx`` (a worker's context for one task) the client and an agent from every factory.

        A factory that raises is logged and its agent left unregistered, so only the tasks that ask for it fail.
        """
        if self.llm_client is not None:
            ctx.services.llm_client = self.llm_client
        for name, factory in self.agent_factories.items():
            try:
                agent = factory(ctx)
            except Exception:
                logger.exception("The factory of LLM agent %r failed on this worker; tasks that ask for it fail", name)
                continue
            ctx.register_llm_agent(name, agent)


class LLMServiceRegistry:
    """A worker's view of the LLM services the sessions published, read once per session.

    Args:
        signer: Verifies published blobs before they are unpickled.
    """

    def __init__(self, signer: Any) -> None:
        self.signer = signer
        self._sessions: OrderedDict[str, PublishedLLMServices | None] = OrderedDict()
        self._lock = threading.Lock()

    def for_session(self, redis_client: Any, key_prefix: str, session_id: str) -> PublishedLLMServices | None:
        """The services ``session_id`` published, or None when it published none.

        Raises:
            BadSignatureError: The published blob does not verify.
        """
        with self._lock:
            if session_id in self._sessions:
                self._sessions.move_to_end(session_id)
                return self._sessions[session_id]
        blob: Any = binary_redis_client(redis_client).get(llm_services_key(key_prefix, session_id))
        published: PublishedLLMServices | None = None
        if blob is not None:
            services = loads_verified(blob, self.signer)
            published = PublishedLLMServices(services.get("llm_client"), dict(services.get("agent_factories") or {}))
        with self._lock:
            self._sessions[session_id] = published
            while len(self._sessions) > LLM_SERVICES_CACHE_SIZE:
                self._sessions.popitem(last=False)
        return published


__all__ = [
    "LLM_SERVICES_CACHE_SIZE",
    "LLMServiceRegistry",
    "PublishedLLMServices",
    "agent_factories",
    "is_agent_factory",
    "llm_services_key",
    "publish_llm_services",
]
