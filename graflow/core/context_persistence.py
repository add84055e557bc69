"""How an ``ExecutionContext`` is saved: checkpoint state, pickling (old pickles included) and ``save``/``load``.

Live parts never travel: hooks, tracers, the task stack, Redis and LLM clients. A memory channel travels with the
context; any other channel is reconnected from the run's options, and a Redis client is kept as its connection
parameters so that the resumed run reaches the same server.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.core import registry
from graflow.core.cycle import CycleController
from graflow.core.hooks import HookSet
from graflow.core.options import RunOptions
from graflow.core.results import ResultStore
from graflow.core.retry import RetryController
from graflow.core.run_state import RunState
from graflow.core.services import RunServices
from graflow.exceptions import GraflowRuntimeError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

#: Version of the pickled layout; pickles without it are of the flat layout written before the context was split.
PICKLE_FORMAT = 2
_TRANSIENT = ("hooks", "tracer", "_task_stack", "_redis_client", "parent_context", "results", "channel")


class ContextPersistence:
    """Mixin of ``ExecutionContext``: checkpoint state, pickling and ``save``/``load``."""

    parent_context: ExecutionContext | None
    _task_stack: list[Any]

    def get_checkpoint_state(self: ExecutionContext) -> dict[str, Any]:  # type: ignore[misc]
        """The ``.state.json`` fields of a checkpoint (spec section 9)."""
        run = self.run
        pending = []
        retry_counts = run.retry_controller.retry_counts
        graph = run.graph
        for task_id in run.scheduler.pending_ids():
            task = graph.nodes[task_id]["task"] if task_id in graph else None
            pending.append({
                "task_id": task_id,
                "status": "ready",
                "created_at": None,
                "retry_count": retry_counts.get(task_id, 0),
                "max_retries": self.max_retries_for(task),
                "last_error": None,
            })
        return {
            "schema_version": "1.0",
            "session_id": self.session_id,
            "trace_id": self.trace_id,
            "start_node": run.start_node,
            "steps": run.steps,
            "completed_tasks": list(run.completed_tasks),
            "cycle_counts": dict(run.cycle_controller.cycle_counts),
            "backend": {"channel": self.channel_backend},
            "pending_tasks": pending,
            "resuming_task_id": None,
        }

    def __getstate__(self: ExecutionContext) -> dict[str, Any]:  # type: ignore[misc]
        state = dict(self.__dict__)
        for transient in _TRANSIENT:
            state.pop(transient, None)
        if self._redis_client is not None:
            # keep where the run's Redis is, not the client: the resumed run reconnects to the same server
            ensure = registry.resolve("redis_params", "ensure")
            params = ensure({**self.options.config, "redis_client": self._redis_client})
            state["options"] = dataclasses.replace(self.options, config=params)
        if self.channel_backend == "memory":
            state["_channel_data"] = self.channel
        state["_format"] = PICKLE_FORMAT
        state["_hook_count"] = len(self.hooks)
        return state

    def __setstate__(self: ExecutionContext, state: dict[str, Any]) -> None:  # type: ignore[misc]
        if state.get("_format") != PICKLE_FORMAT:
            state = _from_flat_layout(state)
        state = dict(state)
        channel = state.pop("_channel_data", None)
        for key in ("_format", "_hook_count"):
            state.pop(key, None)
        self.__dict__.update(state)
        self._task_stack = []
        self._redis_client = None
        self.parent_context = None
        self.__dict__.setdefault("checkpoint_policy", None)
        self.__dict__.setdefault("services", RunServices())
        self.__dict__.setdefault("feedback_ids", {})
        self.tracer = registry.resolve("tracer", "noop")()
        self.hooks = HookSet([self.tracer])
        if channel is None:
            factory = registry.resolve("channel_factory", "default")
            channel = factory.create_channel(self.channel_backend, name=self.session_id, **dict(self.options.config))
        self.channel = channel
        self.results = ResultStore(channel)

    def save(self: ExecutionContext, path: str = "execution_context.pkl") -> None:  # type: ignore[misc]
        """Pickle this context to ``path``."""
        from graflow.core.serialization import dump

        with open(path, "wb") as fp:
            dump(self, fp)

    @classmethod
    def load(cls, path: str = "execution_context.pkl") -> ExecutionContext:
        """Load a context saved with :meth:`save`. Only load files you trust."""
        from graflow.core.context import ExecutionContext
        from graflow.core.serialization import load

        with open(path, "rb") as fp:
            ctx = load(fp)
        if not isinstance(ctx, ExecutionContext):
            raise GraflowRuntimeError(f"{path} does not hold an ExecutionContext")
        return ctx


def _from_flat_layout(old: dict[str, Any]) -> dict[str, Any]:
    """The state of a context pickled before it was split (every attribute on the context itself)."""
    old = dict(old)
    if "completed_tasks" in old:  # a context pickled before the log existed
        old.setdefault("execution_log", list(old.pop("completed_tasks")))
    cycles: CycleController = old.pop("cycle_controller", None) or CycleController()
    retries: RetryController = old.pop("retry_controller", None) or RetryController()
    options = RunOptions(
        max_steps=old.pop("max_steps", defaults.MAX_STEPS),
        default_max_cycles=getattr(cycles, "default_max_cycles", defaults.DEFAULT_MAX_CYCLES),
        default_max_retries=retries.default_max_retries,
        channel_backend=old.get("channel_backend", "memory"),
        config=old.pop("_config", None) or {},
        workflow_name=old.get("workflow_name"),
        checkpoint_dir=old.get("checkpoint_dir"),
        checkpoint_snapshot_channel=bool(old.get("checkpoint_snapshot_channel", False)),
    )
    run = RunState.__new__(RunState)
    run.__setstate__({
        "graph": old.pop("_graph"),
        "owns_graph": old.pop("_owns_graph", False),
        "initial_graph": old.pop("_initial_graph", frozenset()),
        "scheduled_in_run": old.pop("_scheduled_in_run", set()),
        "start_node": old.pop("start_node", None),
        "max_steps": options.max_steps,
        "steps": old.pop("steps", 0),
        "execution_log": old.pop("execution_log", []),
        "cycle_controller": cycles,
        "retry_controller": retries,
        "status": old.pop("status", "created"),
        "error": old.pop("error", None),
        "result": old.pop("result", None),
        "ctrl_message": old.pop("ctrl_message", None),
        "scheduler": old.pop("_scheduler_state", {}),
    })
    services = RunServices(prompt_manager=old.pop("_prompt_manager", None))
    for name, agent in (old.pop("_llm_agents", None) or {}).items():
        services.register_llm_agent(name, agent)
    old.pop("_llm_client", None)
    old.pop("_completed_view", None)
    return {**old, "options": options, "run": run, "services": services, "_format": PICKLE_FORMAT}


__all__ = ["PICKLE_FORMAT", "ContextPersistence"]
