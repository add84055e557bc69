"""Task handlers travel with the run (D15): the producer publishes its registry, workers load it.

A producer whose context has handlers registered (``wf.register_handler``, ``ExecutionContext.register_handler``)
stores them, pickled and signed (D20), under ``{prefix}:handlers:{session_id}`` before it dispatches work. A worker
reads that key once per session and merges it over the handlers it was started with; the worker's own handlers are
used for sessions that publish none. Only graphs that name a non-direct handler make a worker look the key up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from graflow import defaults
from graflow.core import serialization
from graflow.security.signing import dumps_signed, loads_verified
from graflow.utils.redis_utils import binary_redis_client

#: Sessions whose handler registry a worker remembers.
HANDLER_CACHE_SIZE = 256


def handlers_key(key_prefix: str, session_id: str) -> str:
    """Redis key of a session's handler registry."""
    return f"{key_prefix}:handlers:{session_id}"


def publish_handlers(
    redis_client: Any,
    key_prefix: str,
    session_id: str,
    handlers: dict[str, Any],
    signer: Any,
    ttl: int = defaults.RESULT_TTL_SECONDS,
) -> None:
    """Store ``handlers`` for the workers of ``session_id`` (no-op when empty)."""
    if not handlers:
        return
    blob = dumps_signed(dict(handlers), signer, serialization.dumps)
    binary_redis_client(redis_client).set(handlers_key(key_prefix, session_id), blob, ex=ttl)


def graph_needs_handlers(graph: Any) -> bool:
    """Whether any node of ``graph`` names a handler other than ``direct``."""
    handler_types = getattr(graph, "handler_types", None)
    if handler_types is not None:
        return bool(handler_types() - {"direct"})  # cached by the graph until it changes
    return any(
        getattr(data.get("task"), "handler_type", "direct") != "direct" for _, data in graph.nx_graph().nodes(data=True)
    )


class HandlerRegistry:
    """A worker's handlers: its own plus those each session published.

    Args:
        own: Handlers the worker was started with.
        signer: Verifies published registries before they are unpickled.
    """

    def __init__(self, own: dict[str, Any] | None, signer: Any) -> None:
        self.own = dict(own or {})
        self.signer = signer
        self._sessions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._needs: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._needs_lock = threading.Lock()

    def for_session(
        self, redis_client: Any, key_prefix: str, session_id: str, graph_hash: str, graph: Any
    ) -> dict[str, Any]:
        """The handlers a task of ``session_id`` on ``graph`` (stored as ``graph_hash``) runs with.

        Raises:
            BadSignatureError: The published registry does not verify.
        """
        needs = self._needs.get(graph_hash)
        if needs is None:
            # Once per graph, not once per runner thread starting on it together (a walk over every node).
            with self._needs_lock:
                needs = self._needs.get(graph_hash)
                if needs is None:
                    if len(self._needs) >= HANDLER_CACHE_SIZE:
                        self._needs.clear()
                    needs = self._needs[graph_hash] = graph_needs_handlers(graph)
        if not needs:
            return self.own
        with self._lock:
            cached = self._sessions.get(session_id)
        if cached is not None:
            return cached
        blob: Any = binary_redis_client(redis_client).get(handlers_key(key_prefix, session_id))
        published = loads_verified(blob, self.signer) if blob is not None else {}
        merged = {**self.own, **published}
        with self._lock:
            self._sessions[session_id] = merged
            while len(self._sessions) > HANDLER_CACHE_SIZE:
                self._sessions.popitem(last=False)
        return merged


__all__ = ["HandlerRegistry", "graph_needs_handlers", "handlers_key", "publish_handlers"]
