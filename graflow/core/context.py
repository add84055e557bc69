"""``ExecutionContext``: the state of one workflow run (spec section 2.7)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from graflow import defaults
from graflow.channels.base import Channel
from graflow.core import dynamic, hints
from graflow.core.ambient import set_active_execution_context
from graflow.core.context_compat import LegacyContextAPI
from graflow.core.cycle import CycleController
from graflow.core.graph import TaskGraph
from graflow.core.hooks import EngineHook, HookSet
from graflow.core.retry import RetryController
from graflow.core.scheduler import Scheduler, weak_graph_source
from graflow.core.start import _as_task_graph, resolve_start_node
from graflow.core.task import Executable, TaskWrapper
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowRuntimeError

logger = logging.getLogger(__name__)

_MISSING: Any = object()


def _default_tracer() -> Any:
    from graflow.trace.noop import NoopTracer

    return NoopTracer()


class ExecutionContext(LegacyContextAPI):
    """The state of one run: its graph, channel, queue, counters and hooks.

    Create one with :meth:`create` (or ``WorkflowContext.execute``) and run it with ``WorkflowEngine().execute``.
    """

    def __init__(
        self,
        graph: TaskGraph,
        start_node: str | None = None,
        max_steps: int = defaults.MAX_STEPS,
        default_max_cycles: int = defaults.DEFAULT_MAX_CYCLES,
        default_max_retries: int = defaults.DEFAULT_MAX_RETRIES,
        steps: int = 0,
        channel_backend: str = "memory",
        config: dict[str, Any] | None = None,
        parent_context: ExecutionContext | None = None,
        session_id: str | None = None,
        trace_id: str | None = None,
        tracer: Any = None,
        llm_client: Any = None,
        prompt_manager: Any = None,
        *,
        workflow_name: str | None = None,
        hooks: list[EngineHook] | None = None,
        handlers: dict[str, Any] | None = None,
        channel: Channel | None = None,
        checkpoint_every: Any = None,
        checkpoint_dir: str | None = None,
        checkpoint_snapshot_channel: bool = False,
    ) -> None:
        graph = _as_task_graph(graph)
        start_node = getattr(start_node, "task_id", start_node)
        if max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        self._graph = graph
        self._owns_graph = False
        self._graph_lock = threading.RLock()
        self.start_node = start_node
        self.max_steps = max_steps
        self.steps = steps
        self.parent_context = parent_context
        self.session_id = session_id or uuid.uuid4().hex
        self.trace_id: str = trace_id or (parent_context.trace_id if parent_context else self.session_id)
        self.workflow_name = workflow_name or f"workflow_{self.session_id[:8]}"
        self.graph_hash: str | None = None
        self.channel_backend = channel_backend
        self._config = dict(config or {})
        self._redis_client = self._config.pop("redis_client", None)
        if channel is None:
            from graflow.channels.factory import ChannelFactory

            channel_kwargs = dict(self._config)
            if self._redis_client is not None:
                channel_kwargs["redis_client"] = self._redis_client
            channel = ChannelFactory.create_channel(channel_backend, name=self.session_id, **channel_kwargs)
        self.channel: Channel = channel
        self.cycle_controller = CycleController(default_max_cycles)
        self.retry_controller = RetryController(default_max_retries)
        # Every completion in order, repeats included (loops, goto). ``completed_tasks`` is the de-duplicated view.
        self.execution_log: list[str] = []
        self.scheduler = Scheduler(weak_graph_source(self))
        self.handlers: dict[str, Any] = dict(handlers or {})
        self.tracer = tracer if tracer is not None else _default_tracer()
        self.hooks = HookSet([self.tracer, *(hooks or [])])
        self._task_stack: list[TaskExecutionContext] = []
        self._scheduled_in_run: set[str] = set()
        self._initial_graph = graph  # D1: "existing" means a node of the graph as the run started (copy on write)
        # Whether this context's runs emit workflow start/end events. A worker running one task of a producer's
        # run turns this off: the run is the producer's, not the task's.
        self.workflow_events = True
        self.group_id: str | None = None  # in a parallel member's branch: the group it belongs to
        self.status = "created"
        self.error: BaseException | None = None
        self.result: Any = None
        self.ctrl_message: str | None = None
        self.checkpoint_metadata: dict[str, Any] | None = None
        self.last_checkpoint_path: str | None = None
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_snapshot_channel = checkpoint_snapshot_channel
        self.checkpoint_policy = self._make_checkpoint_policy(checkpoint_every)
        self._llm_client = llm_client
        self._prompt_manager = prompt_manager
        self._llm_agents: dict[str, Any] = {}
        if start_node is not None:
            self.scheduler.push(start_node)

    # -- construction -----------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        graph: TaskGraph,
        start_node: str | None = None,
        max_steps: int = defaults.MAX_STEPS,
        default_max_cycles: int = defaults.DEFAULT_MAX_CYCLES,
        default_max_retries: int = defaults.DEFAULT_MAX_RETRIES,
        channel_backend: str = "memory",
        config: dict[str, Any] | None = None,
        tracer: Any = None,
        llm_client: Any = None,
        prompt_manager: Any = None,
        **options: Any,
    ) -> ExecutionContext:
        """A fresh context for ``graph``, starting at ``start_node``.

        With no ``start_node`` the single node without predecessors is picked (D4). A graph with none or several
        such nodes (an empty graph, one still being built) still gives a valid context, for running tasks by hand
        with ``executing_task`` or for checkpointing; the engine raises ``GraphCompilationError`` when such a run
        starts. ``graph`` may be a ``TaskGraph`` or the networkx ``DiGraph`` that ``build_graph`` returns.

        Extra keyword options: ``workflow_name``, ``hooks``, ``handlers``, ``checkpoint_every``, ``checkpoint_dir``,
        ``checkpoint_snapshot_channel``.
        """
        graph = _as_task_graph(graph)
        start_node = getattr(start_node, "task_id", start_node)  # a task object names its node
        if start_node is None:
            candidates = graph.get_start_nodes()
            if len(candidates) == 1:
                start_node = candidates[0]
        return cls(
            graph,
            start_node,
            max_steps=max_steps,
            default_max_cycles=default_max_cycles,
            default_max_retries=default_max_retries,
            channel_backend=channel_backend,
            config=config,
            tracer=tracer,
            llm_client=llm_client,
            prompt_manager=prompt_manager,
            **options,
        )

    @staticmethod
    def _make_checkpoint_policy(spec: Any) -> Any:
        if spec is None:
            return None
        from graflow.core.checkpoint import PeriodicCheckpointPolicy

        return PeriodicCheckpointPolicy.from_spec(spec)

    # -- graph (D2: the run works on its own copy, made on first change) -----------------------------------------
    @property
    def graph(self) -> TaskGraph:
        """The run's graph: the static definition plus the run's dynamic and iteration nodes."""
        return self._graph

    def _own_graph(self) -> TaskGraph:
        if not self._owns_graph:
            with self._graph_lock:
                if not self._owns_graph:
                    self._graph = self._graph.copy()
                    self._owns_graph = True
        return self._graph

    def get_next_group_name(self) -> str:
        """A fresh ``ParallelGroup_<n>`` name for a group built while this run is going."""
        n = sum(1 for node in self._graph.nodes if str(node).startswith("ParallelGroup_")) + 1
        while f"ParallelGroup_{n}" in self._graph:
            n += 1
        return f"ParallelGroup_{n}"

    def graph_content_hash(self) -> str:
        """sha256 of the run graph's structure (recorded in checkpoints)."""
        return self._graph.content_hash()

    # -- config -----------------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The config given at creation, without any ``redis_client``."""
        return dict(self._config)

    def get_redis_client(self) -> Any:
        """The Redis client given in ``config`` (None for local runs)."""
        return self._redis_client

    def register_handler(self, name: str, handler: Any) -> None:
        """Register a task handler under ``name`` for this run and its parallel branches (D15)."""
        self.handlers[name] = handler

    def add_hook(self, hook: EngineHook) -> None:
        """Receive this run's events."""
        self.hooks.add(hook)

    # -- queue ------------------------------------------------------------------------------------------------------
    @property
    def task_queue(self) -> Any:
        """A ``LocalTaskQueue`` view of this run's ready queue."""
        from graflow.queue.local import LocalTaskQueue

        return LocalTaskQueue(self)

    def add_to_queue(self, executable: Executable) -> None:
        """Queue ``executable`` (adding it to the run graph when new)."""
        task_id = self._ensure_node(executable)
        self.scheduler.push(task_id)
        self._scheduled_in_run.add(task_id)
        if self.hooks.on_task_queued:
            self.hooks.fire(self.hooks.on_task_queued, task=executable, context=self)

    def get_next_task(self) -> str | None:
        """Pop the next ready task id (None when nothing is ready)."""
        return self.scheduler.ready.popleft() if self.scheduler.ready else None

    def is_completed(self) -> bool:
        """Whether nothing is left to run."""
        return not self.scheduler.has_pending()

    def increment_step(self) -> None:
        """Count one completed step."""
        self.steps += 1

    @property
    def completed_tasks(self) -> list[str]:
        """Completed task ids in order of first completion, each once (a task that ran again is not repeated;
        ``execution_log`` keeps every completion)."""
        log = self.execution_log
        cached = self.__dict__.get("_completed_view")
        if cached is None or cached[0] != len(log):
            cached = (len(log), list(dict.fromkeys(log)))
            self._completed_view = cached
        return list(cached[1])

    @completed_tasks.setter
    def completed_tasks(self, value: list[str]) -> None:
        self.execution_log = list(value)
        self.__dict__.pop("_completed_view", None)

    def mark_task_completed(self, task_id: str) -> None:
        """Record that ``task_id`` completed."""
        self.execution_log.append(task_id)

    # -- results ----------------------------------------------------------------------------------------------------
    def set_result(self, task_id: str, result: Any) -> None:
        """Store a task's result under ``<task_id>.__result__``."""
        self.channel.set(task_id + ".__result__", result)

    def get_result(self, task_id: str, default: Any = None) -> Any:
        """A task's stored result."""
        return self.channel.get(task_id + ".__result__", default)

    def get_channel(self) -> Channel:
        """The run's channel."""
        return self.channel

    def resolve_keywords(
        self, task: TaskWrapper[Any, Any], params: tuple[tuple[str, bool], ...], tctx: TaskExecutionContext
    ) -> dict[str, Any]:
        """D11: fill parameters from ``<param>.__result__``, then ``<param>``, then the triggering result(s)."""
        channel = self.channel
        out: dict[str, Any] = {}
        trigger_results: list[Any] | None = None
        for name, _has_default in params:
            value = channel.get(name + ".__result__", _MISSING)
            if value is _MISSING:
                value = channel.get(name, _MISSING)
            if value is _MISSING:
                if trigger_results is None:
                    trigger_results = [
                        channel.get(t + ".__result__") for t in self.scheduler.triggers.get(tctx.task_id, ())
                    ]
                for result in trigger_results:
                    if isinstance(result, Mapping) and name in result:
                        value = result[name]
                        break
            if value is not _MISSING:
                out[name] = value
            elif _has_default and (tctx.task_id, name) not in self.__dict__.get("_defaults_noted", ()):
                hints.note_default_used(self, tctx.task_id, name)
        return out

    # -- running tasks ----------------------------------------------------------------------------------------------
    @property
    def current_task_context(self) -> TaskExecutionContext | None:
        """The context of the task running now, if any."""
        return self._task_stack[-1] if self._task_stack else None

    @property
    def running_task_count(self) -> int:
        """How many task attempts this context runs now."""
        return len(self._task_stack)

    @property
    def current_task_id(self) -> str | None:
        """The id of the task running now, if any."""
        return self._task_stack[-1].task_id if self._task_stack else None

    @contextlib.contextmanager
    def executing_task(self, task: Executable) -> Iterator[TaskExecutionContext]:
        """Push a task context for ``task`` for the duration of the block; this context is the running one on this
        thread meanwhile, so ``task.run()`` and ``next_task`` inside the block act on it."""
        tctx = TaskExecutionContext(task.task_id, self, task)
        self._task_stack.append(tctx)
        previous = set_active_execution_context(self)
        try:
            yield tctx
        finally:
            set_active_execution_context(previous)
            self._task_stack.pop()

    def max_retries_for(self, task: Any) -> int:
        """Retry budget: the task's policy, then its ``max_retries``, then the context default."""
        policy = getattr(task, "retry_policy", None)
        if policy is not None:
            return int(policy.max_retries)
        value = getattr(task, "max_retries", None)
        if value is not None:
            return int(value)
        return self.retry_controller.default_max_retries

    # -- dynamic control --------------------------------------------------------------------------------------------
    def _require_task(self, action: str = "next_task") -> TaskExecutionContext:
        tctx = self.current_task_context
        if tctx is None:
            raise GraflowRuntimeError(f"No task is running: {action}() can only be called from inside a task")
        return tctx

    # -- run-time additions (graflow.core.dynamic) ------------------------------------------------------------
    def _ensure_node(self, executable: Executable) -> str:
        return dynamic.ensure_node(self, executable)

    def _is_known(self, task_id: str) -> bool:
        return dynamic.is_known(self, task_id)

    def _schedule_dynamic(
        self, tctx: TaskExecutionContext, executable: Executable, *, goto: bool, is_iteration: bool = False
    ) -> str:
        return dynamic.schedule_dynamic(self, tctx, executable, goto=goto, is_iteration=is_iteration)

    def _schedule_iteration(self, tctx: TaskExecutionContext, data: Any) -> str:
        return dynamic.schedule_iteration(self, tctx, data)

    def next_task(self, executable: Executable, goto: bool = False) -> str:
        """Queue ``executable`` from the running task (see ``TaskExecutionContext.next_task``)."""
        return self._require_task().next_task(executable, goto=goto)

    def next_iteration(self, data: Any = None, task_id: str | None = None) -> str:
        """Queue another iteration of the running task (see ``TaskExecutionContext.next_iteration``)."""
        return self._require_task("next_iteration").next_iteration(data)

    def terminate_workflow(self, message: str = "") -> None:
        """Stop the run after the running task, successfully."""
        self._require_task("terminate_workflow").terminate_workflow(message)

    def cancel_workflow(self, message: str = "") -> None:
        """Stop the run after the running task with ``GraflowWorkflowCanceledError``."""
        self._require_task("cancel_workflow").cancel_workflow(message)

    def request_checkpoint(self, metadata: dict[str, Any] | None = None, *, path: str | None = None) -> None:
        """Ask for a deferred checkpoint after the running task."""
        self._require_task("request_checkpoint").checkpoint(metadata, path=path, deferred=True)

    # -- branches (parallel groups) ---------------------------------------------------------------------------------
    def create_branch_context(self, branch_id: str) -> ExecutionContext:
        """A context for one parallel member: shares the channel, graph, counters, handlers and hooks (D10).

        It has its own queue, so a member's successors and dynamic tasks run inside the branch. Retry counts are
        kept in the shared controller, keyed by task id (members have distinct ids).
        """
        self._own_graph()
        branch = ExecutionContext.__new__(ExecutionContext)
        branch.__dict__.update(self.__dict__)
        branch.parent_context = self
        branch.session_id = f"{self.session_id}_{branch_id}"
        branch.steps = 0
        branch.execution_log = []
        running_group = self.current_task_context
        branch.group_id = running_group.task_id if running_group is not None else None
        branch.__dict__.pop("_completed_view", None)
        branch.scheduler = Scheduler(weak_graph_source(branch))
        running = self.current_task_context
        if running is not None and running.task_id in self.scheduler.triggers:
            # D11: a member is fed by whatever triggered its group
            branch.scheduler.triggers[branch_id] = list(self.scheduler.triggers[running.task_id])
        branch._task_stack = []
        branch.status = "created"
        branch.error = None
        branch.result = None
        branch.checkpoint_policy = None
        if not getattr(self.tracer, "passive", False):
            clone = getattr(self.tracer, "clone", None)
            branch.tracer = clone(self.trace_id) if clone is not None else self.tracer
        return branch

    def _nx_graph_of_branch(self) -> Any:  # pragma: no cover - kept for pickles of older branches
        return self._graph.digraph

    def merge_results(self, sub_context: ExecutionContext) -> None:
        """Fold a finished branch back: its steps (the channel is shared already). As in Graflow 0.2, the members'
        completions are not added to this context's ``completed_tasks``: the group node stands for them."""
        self.steps += sub_context.steps
        self._scheduled_in_run.update(sub_context._scheduled_in_run)

    # -- LLM / prompts ----------------------------------------------------------------------------------------------
    @property
    def llm_client(self) -> Any:
        """The run's LLM client (created on first use; needs ``graflow[llm]``)."""
        if self._llm_client is None:
            try:
                from graflow.llm.client import LLMClient  # type: ignore[import-not-found]
            except ImportError as exc:
                raise GraflowRuntimeError(
                    "This task asks for an LLM client, but graflow.llm is not available in this installation"
                ) from exc
            from graflow.config import env

            self._llm_client = LLMClient(model=env("GRAFLOW_LLM_MODEL", "gpt-5-mini"))
        return self._llm_client

    @property
    def prompt_manager(self) -> Any:
        """The run's prompt manager, if one was given."""
        return self._prompt_manager

    def register_llm_agent(self, name: str, agent: Any) -> None:
        """Register an LLM agent under ``name``."""
        self._llm_agents[name] = agent

    def get_llm_agent(self, name: str) -> Any:
        """The agent registered as ``name``. Raises KeyError naming the known agents."""
        try:
            return self._llm_agents[name]
        except KeyError:
            raise KeyError(f"LLM agent '{name}' is not registered (known: {sorted(self._llm_agents)})") from None

    # -- running ----------------------------------------------------------------------------------------------------
    def execute(self) -> Any:
        """Run this context with a new engine; returns the last task's result."""
        from graflow.core.engine import WorkflowEngine

        return WorkflowEngine().execute(self)

    # -- persistence ------------------------------------------------------------------------------------------------
    def get_checkpoint_state(self) -> dict[str, Any]:
        """The ``.state.json`` fields of a checkpoint (spec section 9)."""
        pending = []
        retry_counts = self.retry_controller.retry_counts
        for task_id in self.scheduler.pending_ids():
            task = self._graph.nodes[task_id]["task"] if task_id in self._graph else None
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
            "start_node": self.start_node,
            "steps": self.steps,
            "completed_tasks": list(self.completed_tasks),
            "cycle_counts": dict(self.cycle_controller.cycle_counts),
            "backend": {"channel": self.channel_backend},
            "pending_tasks": pending,
            "resuming_task_id": None,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for transient in ("_graph_lock", "hooks", "tracer", "_task_stack", "_redis_client", "_llm_client",
                          "parent_context"):
            state.pop(transient, None)
        if self._redis_client is not None:
            # keep where the run's Redis is, not the client: the resumed run reconnects to the same server
            redis_utils = importlib.import_module("graflow.utils.redis_utils")  # the adapter, reached by name
            state["_config"] = redis_utils.ensure_redis_connection_params(
                {**self._config, "redis_client": self._redis_client}
            )
        initial = self._initial_graph
        if not isinstance(initial, frozenset):  # keep the ids, not a second copy of the graph
            state["_initial_graph"] = frozenset(initial.nodes)
        state["_scheduler_state"] = self.scheduler.get_state()
        state.pop("scheduler", None)
        channel = state.pop("channel")
        if self.channel_backend == "memory":
            state["_channel_data"] = channel
        state["_hook_count"] = len(self.hooks)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        scheduler_state = state.pop("_scheduler_state", {})
        state.pop("_completed_view", None)
        if "completed_tasks" in state:  # a context pickled before the log existed
            state.setdefault("execution_log", list(state.pop("completed_tasks")))
        channel = state.pop("_channel_data", None)
        state.pop("_hook_count", None)
        self.__dict__.update(state)
        self._graph_lock = threading.RLock()
        self._task_stack = []
        self._redis_client = None
        self._llm_client = None
        self.parent_context = None
        self.__dict__.setdefault("checkpoint_policy", None)
        self.tracer = _default_tracer()
        self.hooks = HookSet([self.tracer])
        self.scheduler = Scheduler(weak_graph_source(self))
        self.scheduler.set_state(scheduler_state)
        if channel is None:
            from graflow.channels.factory import ChannelFactory

            channel = ChannelFactory.create_channel(self.channel_backend, name=self.session_id, **self._config)
        self.channel = channel

    def save(self, path: str = "execution_context.pkl") -> None:
        """Pickle this context to ``path``."""
        from graflow.core.serialization import dump

        with open(path, "wb") as fp:
            dump(self, fp)

    @classmethod
    def load(cls, path: str = "execution_context.pkl") -> ExecutionContext:
        """Load a context saved with :meth:`save`. Only load files you trust."""
        from graflow.core.serialization import load

        with open(path, "rb") as fp:
            ctx = load(fp)
        if not isinstance(ctx, ExecutionContext):
            raise GraflowRuntimeError(f"{path} does not hold an ExecutionContext")
        return ctx

    def __repr__(self) -> str:
        return f"ExecutionContext(session_id={self.session_id!r}, steps={self.steps}, status={self.status!r})"


def create_execution_context(start_node: str = "ROOT", max_steps: int = 10, tracer: Any = None) -> ExecutionContext:
    """Legacy helper: a context over a graph holding one placeholder ``Task(start_node)``."""
    from graflow.core.task import Task

    graph = TaskGraph()
    graph.add_node(Task(start_node, register_to_context=False), start_node)
    return ExecutionContext.create(graph, start_node, max_steps=max_steps, tracer=tracer)


def execute_with_cycles(graph: TaskGraph, start_node: str, max_steps: int = 10) -> Any:
    """Legacy helper: run ``graph`` (a TaskGraph or networkx DiGraph) from ``start_node`` with a step budget."""
    from graflow.core.engine import WorkflowEngine

    return WorkflowEngine().execute_with_cycles(_as_task_graph(graph), start_node, max_steps)


__all__ = [
    "ExecutionContext",
    "TaskExecutionContext",
    "create_execution_context",
    "execute_with_cycles",
    "resolve_start_node",
]
