"""``workflow(name)``: the context manager that collects tasks into a graph and runs it."""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

from graflow import config, defaults
from graflow.core import registry
from graflow.core.ambient import active_execution_context
from graflow.core.graph import TaskGraph

_current: contextvars.ContextVar[WorkflowContext | None] = contextvars.ContextVar("graflow_workflow", default=None)

#: Keyword arguments of ``execute()`` that configure the run instead of seeding the channel (D12).
RUN_OPTIONS = frozenset({"checkpoint_every", "checkpoint_dir", "checkpoint_snapshot_channel", "hooks",
                         "channel_backend", "config",
                         "default_max_retries", "default_max_cycles"})


class WorkflowContext:
    """A named workflow definition: its graph, handlers, hooks and LLM agents.

    Entering it (``with workflow("name") as wf:``) makes it the current workflow of this thread, so tasks
    created and connected inside the block land in its graph. Nesting restores the outer one on exit.

    ``run_store`` (a run store or its URL, e.g. ``"sqlite:///runs.db"``) records every run of the workflow there;
    without it, the environment variable ``GRAFLOW_RUN_STORE`` does, and when neither is set nothing is recorded.
    """

    def __init__(
        self,
        name: str,
        tracer: Any = None,
        prompt_manager: Any = None,
        hooks: list[Any] | None = None,
        run_store: Any = None,
    ) -> None:
        self.name = name
        self.run_store = run_store
        self.graph = TaskGraph()
        self._tracer = tracer
        self._prompt_manager = prompt_manager
        self._hooks = list(hooks or [])
        self._handlers: dict[str, Any] = {}
        self._llm_agents: dict[str, Any] = {}
        self._group_counter = 0
        self._redis_client: Any = None
        self._tokens: list[contextvars.Token[WorkflowContext | None]] = []
        # For each open ``with`` block: the execution context that was running when it was entered (D1).
        self._opened_in: list[Any] = []

    def __enter__(self) -> WorkflowContext:
        self._opened_in.append(active_execution_context())
        self._tokens.append(_current.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._tokens.pop())
        self._opened_in.pop()

    def opened_during(self, ctx: Any) -> bool:
        """Whether this workflow's innermost open ``with`` block was entered while ``ctx`` was running (D1): then
        it is a sub-workflow of that run, and tasks created in the block belong to it."""
        opened_in = self._opened_in
        return bool(opened_in) and opened_in[-1] is ctx

    # -- graph editing ----------------------------------------------------------------------------------------------
    def add_node(self, name: str, task: Any, skip_if_exists: bool = False) -> None:
        """Add ``task`` as node ``name``."""
        self.graph.add_node(task, name, skip_if_exists=skip_if_exists)

    def add_edge(self, from_node: str, to_node: str) -> None:
        """Add the edge ``from_node -> to_node``."""
        self.graph.add_edge(from_node, to_node)

    def rename_node(self, old_task_id: str, new_task_id: str) -> None:
        """Rename a node."""
        self.graph.rename_node(old_task_id, new_task_id)

    def clear(self) -> None:
        """Remove every node and edge."""
        self.graph.clear()

    def get_next_group_name(self) -> str:
        """``ParallelGroup_<n>``, counted per workflow (D5)."""
        self._group_counter += 1
        return f"ParallelGroup_{self._group_counter}"

    # -- registries -------------------------------------------------------------------------------------------------
    @property
    def handlers(self) -> dict[str, Any]:
        """The task handlers registered on this workflow, by name (a copy)."""
        return dict(self._handlers)

    def register_handler(self, name: str, handler: Any) -> None:
        """Run tasks declared with ``@task(handler=name)`` through ``handler`` (D15)."""
        self._handlers[name] = handler

    def add_hook(self, hook: Any) -> None:
        """Receive the events of every run of this workflow."""
        self._hooks.append(hook)

    def register_llm_agent(self, name: str, agent_or_factory: Any) -> None:
        """Register an LLM agent, or a factory ``(ExecutionContext) -> agent`` called at execute time."""
        self._llm_agents[name] = agent_or_factory

    def set_redis_client(self, redis_client: Any) -> None:
        """Remember a Redis client for distributed runs of this workflow."""
        self._redis_client = redis_client

    def get_redis_client(self) -> Any:
        """The Redis client set with :meth:`set_redis_client`."""
        return self._redis_client

    # -- running ----------------------------------------------------------------------------------------------------
    def create_context(
        self,
        start_node: str | None = None,
        max_steps: int = defaults.MAX_STEPS,
        initial_channel: dict[str, Any] | None = None,
        **channel_seed: Any,
    ) -> Any:
        """An :class:`ExecutionContext` for one run of this workflow, ready for ``WorkflowEngine().execute``."""
        from graflow.core.context import ExecutionContext

        options = {k: channel_seed.pop(k) for k in list(channel_seed) if k in RUN_OPTIONS}
        hooks = [*self._hooks, *options.pop("hooks", [])]
        run_store = self.run_store if self.run_store is not None else config.env("GRAFLOW_RUN_STORE")
        if run_store:  # one recorder per store and process, shared by its runs (graflow.runs)
            hooks.append(registry.resolve("run_store", "recorder")(run_store))
        ctx = ExecutionContext.create(
            self.graph,
            start_node,
            max_steps=max_steps,
            tracer=self._tracer,
            prompt_manager=self._prompt_manager,
            workflow_name=self.name,
            hooks=hooks,
            handlers=dict(self._handlers),
            **options,
        )
        for key, value in {**(initial_channel or {}), **channel_seed}.items():
            ctx.channel.set(key, value)
        for name, agent in self._llm_agents.items():
            ctx.register_llm_agent(name, agent(ctx) if callable(agent) and not hasattr(agent, "run") else agent)
        return ctx

    def execute(
        self,
        start_node: str | None = None,
        max_steps: int = defaults.MAX_STEPS,
        ret_context: bool = False,
        initial_channel: dict[str, Any] | None = None,
        **channel_seed: Any,
    ) -> Any:
        """Run the workflow once, on a fresh context (D2: the definition is never changed by running it).

        Args:
            start_node: Where to start; auto-detected per D4 when None.
            max_steps: Stop after this many steps (status ``max_steps_reached``, D6).
            ret_context: Return ``(result, ExecutionContext)`` instead of the result.
            initial_channel: Channel keys to set before the run.
            **channel_seed: More channel keys (D12). The names ``checkpoint_every``, ``checkpoint_dir``,
                ``hooks``, ``channel_backend``, ``config``, ``default_max_retries`` and ``default_max_cycles``
                configure the run instead.

        Returns:
            The last task's result (or the pair with ``ret_context=True``).
        """
        from graflow.core.engine import WorkflowEngine

        ctx = self.create_context(start_node, max_steps, initial_channel, **channel_seed)
        # D1: while it runs, this workflow is the current one, also when execute() is called outside its block
        # (a factory built it, a task of another workflow runs it as a sub-workflow).
        token = _current.set(self)
        try:
            result = WorkflowEngine().execute(ctx)
        finally:
            _current.reset(token)
        return (result, ctx) if ret_context else result

    # -- inspection -------------------------------------------------------------------------------------------------
    def show_info(self) -> None:
        """Print the graph as text and whether it has cycles."""
        print(f"=== Workflow '{self.name}' Information ===")
        print(str(self.graph))
        print(registry.resolve("render", "cycles_line")(self.graph.nx_graph()))

    def visualize_dependencies(self) -> None:
        """Print each node with its successors."""
        print(f"=== Workflow '{self.name}' Dependencies ===")
        for line in registry.resolve("render", "dependency_lines")(self.graph.nx_graph()):
            print(line)

    def __repr__(self) -> str:
        return f"WorkflowContext(name={self.name!r}, nodes={len(self.graph)})"


def workflow(
    name: str,
    tracer: Any = None,
    prompt_manager: Any = None,
    hooks: list[Any] | None = None,
    run_store: Any = None,
) -> WorkflowContext:
    """A new workflow; use it as ``with workflow("name") as wf: ...``.

    ``run_store`` (a run store or a URL such as ``"sqlite:///runs.db"``) records each run; see ``docs/runs.md``.
    """
    return WorkflowContext(name, tracer=tracer, prompt_manager=prompt_manager, hooks=hooks, run_store=run_store)


def get_current_workflow_context(create_if_not_exist: bool = False) -> WorkflowContext | None:
    """The workflow of the enclosing ``with workflow(...)`` block on this thread, if any."""
    ctx = _current.get()
    if ctx is None and create_if_not_exist:
        ctx = WorkflowContext(uuid.uuid4().hex)
        _current.set(ctx)
    return ctx


def current_workflow_context() -> WorkflowContext:
    """The active workflow; creates and installs a global one with a uuid name when there is none."""
    ctx = get_current_workflow_context(create_if_not_exist=True)
    assert ctx is not None
    return ctx


def require_workflow_context() -> WorkflowContext:
    """The active workflow. Raises GraflowRuntimeError when there is none."""
    ctx = _current.get()
    if ctx is None:
        from graflow.exceptions import GraflowRuntimeError

        raise GraflowRuntimeError("No workflow context is active; use 'with workflow(name):'")
    return ctx


def set_current_workflow_context(ctx: WorkflowContext | None) -> None:
    """Install ``ctx`` as the current workflow of this thread."""
    _current.set(ctx)


def clear_workflow_context() -> None:
    """Forget the current workflow of this thread."""
    _current.set(None)


__all__ = [
    "WorkflowContext",
    "clear_workflow_context",
    "current_workflow_context",
    "get_current_workflow_context",
    "require_workflow_context",
    "set_current_workflow_context",
    "workflow",
]
