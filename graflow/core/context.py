"""``ExecutionContext``: the public face of one workflow run (spec section 2.7).

The run's parts live in objects of their own, each with one responsibility:

- :class:`~graflow.core.options.RunOptions`: how the run is configured (frozen);
- :class:`~graflow.core.run_state.RunState`: its graph (copy on write), queue, counters and status, and the dynamic
  operations that change them;
- :class:`~graflow.core.results.ResultStore`: where results live in the channel and keyword resolution;
- :class:`~graflow.core.services.RunServices`: the LLM client, agents, prompt and feedback managers tasks may use.

``ExecutionContext`` ties them together and keeps every name of Graflow 0.2's context.
"""

from __future__ import annotations

import contextlib
import operator
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from graflow import defaults
from graflow.core import hints, registry
from graflow.core.ambient import set_active_execution_context
from graflow.core.context_compat import LegacyContextAPI
from graflow.core.context_persistence import ContextPersistence
from graflow.core.cycle import CycleController
from graflow.core.hooks import EngineHook, HookSet
from graflow.core.options import RunOptions
from graflow.core.results import ResultStore
from graflow.core.retry import RetryController
from graflow.core.run_state import RunState
from graflow.core.services import RunServices
from graflow.core.start import _as_task_graph, resolve_start_node
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowRuntimeError

if TYPE_CHECKING:
    from graflow.channels.base import Channel
    from graflow.core.graph import TaskGraph
    from graflow.core.scheduler import Scheduler
    from graflow.core.task import Executable, TaskWrapper


def _on_run(name: str, doc: str) -> property:
    """A read-write attribute of the context that lives on its :class:`RunState` (read through a C-level getter:
    tasks read these on every call)."""

    def set_(self: ExecutionContext, value: Any) -> None:
        setattr(self.run, name, value)

    return property(operator.attrgetter(f"run.{name}"), set_, doc=doc)


class ExecutionContext(ContextPersistence, LegacyContextAPI):
    """The state of one run: its graph, channel, queue, counters, hooks and services.

    Create one with :meth:`create` (or ``WorkflowContext.execute``) and run it with ``WorkflowEngine().execute``.
    The constructor keeps Graflow 0.2's parameters; :meth:`from_options` takes a :class:`RunOptions` instead.
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
        config = dict(config or {})
        redis_client = config.pop("redis_client", None)
        options = RunOptions(
            max_steps=max_steps, default_max_cycles=default_max_cycles, default_max_retries=default_max_retries,
            channel_backend=channel_backend, config=config, workflow_name=workflow_name,
            checkpoint_every=checkpoint_every, checkpoint_dir=checkpoint_dir,
            checkpoint_snapshot_channel=checkpoint_snapshot_channel,
        )
        self._setup(
            _as_task_graph(graph), getattr(start_node, "task_id", start_node), options, steps=steps,
            parent_context=parent_context, session_id=session_id, trace_id=trace_id, tracer=tracer, hooks=hooks,
            handlers=handlers, channel=channel, redis_client=redis_client,
            services=RunServices(llm_client=llm_client, prompt_manager=prompt_manager),
        )

    def _setup(
        self,
        graph: TaskGraph,
        start_node: str | None,
        options: RunOptions,
        *,
        steps: int = 0,
        parent_context: ExecutionContext | None = None,
        session_id: str | None = None,
        trace_id: str | None = None,
        tracer: Any = None,
        hooks: list[EngineHook] | None = None,
        handlers: dict[str, Any] | None = None,
        channel: Channel | None = None,
        redis_client: Any = None,
        services: RunServices | None = None,
    ) -> None:
        self.options = options
        self.run = RunState(
            graph, start_node, options.max_steps, CycleController(options.default_max_cycles),
            RetryController(options.default_max_retries), steps=steps,
        )
        self.parent_context = parent_context
        self.session_id = session_id or uuid.uuid4().hex
        self.trace_id: str = trace_id or (parent_context.trace_id if parent_context else self.session_id)
        self.workflow_name = options.workflow_name or f"workflow_{self.session_id[:8]}"
        self.graph_hash: str | None = None
        self.channel_backend = options.channel_backend
        self._redis_client = redis_client
        if channel is None:
            channel_kwargs = dict(options.config)
            if redis_client is not None:
                channel_kwargs["redis_client"] = redis_client
            factory = registry.resolve("channel_factory", "default")
            channel = factory.create_channel(options.channel_backend, name=self.session_id, **channel_kwargs)
        self.channel: Channel = channel
        self.results = ResultStore(channel)
        self.services = services if services is not None else RunServices()
        self.handlers: dict[str, Any] = dict(handlers or {})
        self.tracer = tracer if tracer is not None else registry.resolve("tracer", "noop")()
        self.hooks = HookSet([self.tracer, *(hooks or [])])
        self._task_stack: list[TaskExecutionContext] = []
        # Whether this context's runs emit workflow start/end events. A worker running one task of a producer's
        # run turns this off: the run is the producer's, not the task's.
        self.workflow_events = True
        self.group_id: str | None = None  # in a parallel member's branch: the group it belongs to
        self.checkpoint_metadata: dict[str, Any] | None = None
        self.last_checkpoint_path: str | None = None
        self.checkpoint_dir = options.checkpoint_dir
        self.checkpoint_snapshot_channel = options.checkpoint_snapshot_channel
        self.checkpoint_policy = self._make_checkpoint_policy(options.checkpoint_every)
        # Feedback ids by (task id, position) of requests not finished with: checkpoints carry them, so a resumed
        # task gets the answers given meanwhile (HITL).
        self.feedback_ids: dict[tuple[str, int], str] = {}

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

    @classmethod
    def from_options(
        cls,
        graph: TaskGraph,
        options: RunOptions,
        start_node: str | None = None,
        *,
        services: RunServices | None = None,
        **parts: Any,
    ) -> ExecutionContext:
        """A fresh context configured by ``options``.

        Args:
            graph: The workflow's graph (a TaskGraph or a networkx DiGraph whose nodes carry ``task``).
            options: The run's settings.
            start_node: The first task; the single candidate of D4 when None.
            services: The run's services (a new empty set when None).
            **parts: ``channel``, ``tracer``, ``hooks``, ``handlers``, ``session_id``, ``trace_id``,
                ``redis_client``.
        """
        graph = _as_task_graph(graph)
        if start_node is None:
            candidates = graph.get_start_nodes()
            start_node = candidates[0] if len(candidates) == 1 else None
        ctx = cls.__new__(cls)
        ctx._setup(graph, getattr(start_node, "task_id", start_node), options, services=services, **parts)
        return ctx

    @staticmethod
    def _make_checkpoint_policy(spec: Any) -> Any:
        if spec is None:
            return None
        from graflow.core.checkpoint import PeriodicCheckpointPolicy

        return PeriodicCheckpointPolicy.from_spec(spec)

    # -- the run's state (RunState) -----------------------------------------------------------------------------
    if TYPE_CHECKING:
        graph: TaskGraph
        start_node: str | None
        max_steps: int
        steps: int
        scheduler: Scheduler
        execution_log: list[str]
        cycle_controller: CycleController
        retry_controller: RetryController
        status: str
        error: BaseException | None
        result: Any
        ctrl_message: str | None
    else:
        graph = _on_run("graph", "The run's graph: the definition plus the run's dynamic and iteration nodes.")
        start_node = _on_run("start_node", "The first task of the run.")
        max_steps = _on_run("max_steps", "The run's step budget.")
        steps = _on_run("steps", "Completed steps so far.")
        scheduler = _on_run("scheduler", "The run's queue: ready, delayed and joining tasks.")
        execution_log = _on_run("execution_log", "Every completion in order, repeats included.")
        cycle_controller = _on_run("cycle_controller", "Iteration counters.")
        retry_controller = _on_run("retry_controller", "Retry counters.")
        status = _on_run("status", "created, running, completed, failed, canceled, terminated, max_steps_reached, "
                                   "paused.")
        error = _on_run("error", "The exception that ended the run, if any.")
        result = _on_run("result", "The last task's result once the run ended.")
        ctrl_message = _on_run("ctrl_message", "The message of terminate_workflow, if a task called it.")

    def _own_graph(self) -> TaskGraph:
        return self.run.own_graph()

    def get_next_group_name(self) -> str:
        """A fresh ``ParallelGroup_<n>`` name for a group built while this run is going."""
        graph = self.run.graph
        n = sum(1 for node in graph.nodes if str(node).startswith("ParallelGroup_")) + 1
        while f"ParallelGroup_{n}" in graph:
            n += 1
        return f"ParallelGroup_{n}"

    def graph_content_hash(self) -> str:
        """sha256 of the run graph's structure (recorded in checkpoints)."""
        return self.run.graph.content_hash()

    @property
    def completed_tasks(self) -> list[str]:
        """Completed task ids in order of first completion, each once (a task that ran again is not repeated;
        ``execution_log`` keeps every completion)."""
        return self.run.completed_tasks

    @completed_tasks.setter
    def completed_tasks(self, value: list[str]) -> None:
        self.run.set_completed(value)

    def mark_task_completed(self, task_id: str) -> None:
        """Record that ``task_id`` completed."""
        self.run.execution_log.append(task_id)

    def increment_step(self) -> None:
        """Count one completed step."""
        self.run.steps += 1

    # -- config -----------------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The config given at creation, without any ``redis_client``."""
        return dict(self.options.config)

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
        return registry.resolve("task_queue_view", "local")(self)

    def add_to_queue(self, executable: Executable) -> None:
        """Queue ``executable`` (adding it to the run graph when new)."""
        run = self.run
        task_id = run.ensure_node(executable)
        run.scheduler.push(task_id)
        run.scheduled_in_run.add(task_id)
        if self.hooks.on_task_queued:
            self.hooks.fire(self.hooks.on_task_queued, task=executable, context=self)

    def get_next_task(self) -> str | None:
        """Pop the next ready task id (None when nothing is ready)."""
        ready = self.run.scheduler.ready
        return ready.popleft() if ready else None

    def is_completed(self) -> bool:
        """Whether nothing is left to run."""
        return not self.run.scheduler.has_pending()

    # -- results ----------------------------------------------------------------------------------------------------
    def set_result(self, task_id: str, result: Any) -> None:
        """Store a task's result under ``<task_id>.__result__``."""
        self.results.set(task_id, result)

    def get_result(self, task_id: str, default: Any = None) -> Any:
        """A task's stored result."""
        return self.results.get(task_id, default)

    def get_channel(self) -> Channel:
        """The run's channel."""
        return self.channel

    def resolve_keywords(
        self, task: TaskWrapper[Any, Any], params: tuple[tuple[str, bool], ...], tctx: TaskExecutionContext
    ) -> dict[str, Any]:
        """D11: fill parameters from ``<param>.__result__``, then ``<param>``, then the triggering result(s)."""
        values, defaulted = self.results.resolve(params, tctx.task_id, self.run.scheduler.triggers)
        if defaulted is not None:
            self.note_defaults_used(tctx.task_id, defaulted)
        return values

    def note_defaults_used(self, task_id: str, names: list[str]) -> None:
        """Parameters of ``task_id`` that took their defaults: a likely typo is logged once per task and name."""
        for name in names:
            if (task_id, name) not in self.__dict__.get("_defaults_noted", ()):
                hints.note_default_used(self, task_id, name)

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
        return self.run.retry_controller.default_max_retries

    # -- dynamic control --------------------------------------------------------------------------------------------
    def _require_task(self, action: str = "next_task") -> TaskExecutionContext:
        tctx = self.current_task_context
        if tctx is None:
            raise GraflowRuntimeError(f"No task is running: {action}() can only be called from inside a task")
        return tctx

    def _schedule_dynamic(
        self, tctx: TaskExecutionContext, executable: Executable, *, goto: bool, is_iteration: bool = False
    ) -> str:
        return self.run.schedule_dynamic(self, tctx, executable, goto=goto, is_iteration=is_iteration)

    def _schedule_iteration(self, tctx: TaskExecutionContext, data: Any) -> str:
        return self.run.schedule_iteration(self, tctx, data)

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
        """A context for one parallel member: shares the channel, graph, counters, handlers, hooks and services
        (D10, D27), with its own queue, so a member's successors and dynamic tasks run inside the branch. Retry
        counts are kept in the shared controller, keyed by task id (members have distinct ids)."""
        branch = ExecutionContext.__new__(ExecutionContext)
        branch.__dict__.update(self.__dict__)  # the shared parts; what differs is set below
        branch.run = self.run.branch()
        branch.parent_context = self
        branch.session_id = f"{self.session_id}_{branch_id}"
        running = self.current_task_context
        branch.group_id = running.task_id if running is not None else None
        if running is not None and running.task_id in self.run.scheduler.triggers:
            # D11: a member is fed by whatever triggered its group
            branch.run.scheduler.triggers[branch_id] = list(self.run.scheduler.triggers[running.task_id])
        branch._task_stack = []
        branch.checkpoint_policy = None
        if not getattr(self.tracer, "passive", False):
            clone = getattr(self.tracer, "clone", None)
            branch.tracer = clone(self.trace_id) if clone is not None else self.tracer
        return branch

    def merge_results(self, sub_context: ExecutionContext) -> None:
        """Fold a finished branch back: its steps (the channel is shared already). As in Graflow 0.2, the members'
        completions are not added to this context's ``completed_tasks``: the group node stands for them."""
        self.run.steps += sub_context.run.steps

    # -- services (LLM, agents, prompts; D27: shared by branches) ------------------------------------------------
    @property
    def llm_client(self) -> Any:
        """The run's LLM client (created on first use from ``GRAFLOW_LLM_MODEL``; needs ``graflow[llm]``)."""
        return self.services.llm_client

    @property
    def prompt_manager(self) -> Any:
        """The run's prompt manager: the one given, else a ``YAMLPromptManager()`` made on first use (D27: shared by
        parallel branches)."""
        return self.services.prompt_manager

    @property
    def feedback_manager(self) -> Any:
        """The run's ``FeedbackManager`` (human in the loop): made on first use, on Redis when the run's channel is
        Redis, else in ``feedback_data/`` (created only when a request is stored, D26)."""
        manager = self.services.get("feedback_manager")
        if manager is None:
            try:
                make = registry.resolve("feedback_manager", "default")
            except ImportError as exc:
                raise GraflowRuntimeError(
                    "Feedback requests need graflow.hitl and pydantic: pip install 'graflow[hitl]'"
                ) from exc
            manager = make(self)
            self.services.set("feedback_manager", manager)
        return manager

    @feedback_manager.setter
    def feedback_manager(self, manager: Any) -> None:
        self.services.set("feedback_manager", manager)

    def register_llm_agent(self, name: str, agent: Any) -> None:
        """Register an LLM agent under ``name``."""
        self.services.register_llm_agent(name, agent)

    def get_llm_agent(self, name: str) -> Any:
        """The agent registered as ``name``. Raises KeyError naming the known agents."""
        return self.services.get_llm_agent(name)

    # -- running ----------------------------------------------------------------------------------------------------
    def execute(self) -> Any:
        """Run this context with a new engine; returns the last task's result."""
        from graflow.core.engine import WorkflowEngine

        return WorkflowEngine().execute(self)

    def __repr__(self) -> str:
        return f"ExecutionContext(session_id={self.session_id!r}, steps={self.steps}, status={self.status!r})"


def create_execution_context(start_node: str = "ROOT", max_steps: int = 10, tracer: Any = None) -> ExecutionContext:
    """Legacy helper: a context over a graph holding one placeholder ``Task(start_node)``."""
    from graflow.core.graph import TaskGraph
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
    "RunOptions",
    "TaskExecutionContext",
    "create_execution_context",
    "execute_with_cycles",
    "resolve_start_node",
]
