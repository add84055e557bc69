"""``RunState``: what changes while a run goes on — its graph, queue, counters and status — and the dynamic
operations that change them: ``next_task`` (D1) and ``next_iteration`` (D8).

The graph is the workflow's static definition until the run first adds a node; then the run works on its own copy
(D2: copy on write). A parallel member's branch has a state of its own that shares the parent's graph, counters and
the set of tasks scheduled in the run.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any

from graflow.core.cycle import CycleController
from graflow.core.groups import ParallelGroup
from graflow.core.retry import RetryController
from graflow.core.scheduler import Scheduler, weak_graph_source
from graflow.core.sequence import SequentialTask
from graflow.core.task import _MISSING as _NO_DATA
from graflow.core.task import Executable, TaskWrapper
from graflow.exceptions import GraflowRuntimeError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.graph import TaskGraph
    from graflow.core.task_context import TaskExecutionContext


class RunState:
    """The mutable state of one run (or of one parallel branch of it).

    Args:
        graph: The workflow's graph; copied on the first change.
        start_node: The first task, queued at once when given.
        max_steps: Step budget.
        cycle_controller: Iteration counters (shared with branches).
        retry_controller: Retry counters (shared with branches).
    """

    def __init__(
        self,
        graph: TaskGraph,
        start_node: str | None,
        max_steps: int,
        cycle_controller: CycleController,
        retry_controller: RetryController,
        *,
        steps: int = 0,
    ) -> None:
        self.graph = graph
        self.owns_graph = False
        self.graph_lock = threading.RLock()
        # D1: "existing" means a node of the graph as the run started (kept as the ids once pickled)
        self.initial_graph: Any = graph
        self.scheduled_in_run: set[str] = set()
        self.start_node = start_node
        self.max_steps = max_steps
        self.steps = steps
        # Every completion in order, repeats included (loops, goto). ``completed_tasks`` is the de-duplicated view.
        self.execution_log: list[str] = []
        self.cycle_controller = cycle_controller
        self.retry_controller = retry_controller
        self.scheduler = Scheduler(weak_graph_source(self))
        self.status = "created"
        self.error: BaseException | None = None
        self.result: Any = None
        self.ctrl_message: str | None = None
        self._completed_view: tuple[int, list[str]] | None = None
        if start_node is not None:
            self.scheduler.push(start_node)

    def branch(self) -> RunState:
        """A state for one parallel member: its own queue, steps and log over the same (owned) graph and counters."""
        graph = self.own_graph()
        branch = RunState.__new__(RunState)
        branch.graph = graph
        branch.owns_graph = True
        branch.graph_lock = self.graph_lock
        branch.initial_graph = self.initial_graph
        branch.scheduled_in_run = self.scheduled_in_run
        branch.start_node = None
        branch.max_steps = self.max_steps
        branch.steps = 0
        branch.execution_log = []
        branch.cycle_controller = self.cycle_controller
        branch.retry_controller = self.retry_controller
        branch.scheduler = Scheduler(weak_graph_source(branch))
        branch.status = "created"
        branch.error = None
        branch.result = None
        branch.ctrl_message = None
        branch._completed_view = None
        return branch

    # -- stopping from outside -------------------------------------------------------------------------------------
    def request_cancel(self, reason: str = "canceled by request") -> None:
        """Ask the run to stop at its next task boundary, as canceled (safe from any thread: a CLI, an API request,
        a store watcher). The running task finishes; nothing after it starts."""
        self.cancel_reason = reason
        self.max_steps = -1  # the loop's step-budget check, made before every task, sees it: no cost per task

    cancel_reason: str | None = None

    # -- graph (D2: copy on write) --------------------------------------------------------------------------------
    def own_graph(self) -> TaskGraph:
        """The run's own graph, copied from the definition on first call."""
        if not self.owns_graph:
            with self.graph_lock:
                if not self.owns_graph:
                    self.graph = self.graph.copy()
                    self.owns_graph = True
        return self.graph

    def ensure_node(self, executable: Executable) -> str:
        """Add ``executable`` (and a group's members) to the run graph if missing; return its node id."""
        if isinstance(executable, SequentialTask):
            graph = self.own_graph()
            with self.graph_lock:
                for node in executable._node_executables():
                    self.ensure_node(node)
                for a, b in zip(executable.tasks, executable.tasks[1:], strict=False):
                    graph.add_edge(a.rightmost.task_id, b.leftmost.task_id)
            return executable.leftmost.task_id
        task_id = executable.task_id
        if task_id not in self.graph.digraph._node:
            graph = self.own_graph()
            with self.graph_lock:
                graph.add_node(executable, task_id, skip_if_exists=True)
                if isinstance(executable, ParallelGroup):
                    for member in executable.tasks:
                        self.ensure_node(member)
        return task_id

    def is_known(self, task_id: str) -> bool:
        """D1: a node of the graph when this run started, or already scheduled in this run."""
        return task_id in self.initial_graph or task_id in self.scheduled_in_run

    # -- completions ----------------------------------------------------------------------------------------------
    @property
    def completed_tasks(self) -> list[str]:
        """Completed task ids in order of first completion, each once."""
        log = self.execution_log
        cached = self._completed_view
        if cached is None or cached[0] != len(log):
            cached = (len(log), list(dict.fromkeys(log)))
            self._completed_view = cached
        return list(cached[1])

    def set_completed(self, value: list[str]) -> None:
        """Replace the log (a resumed run starts from its checkpoint's completions)."""
        self.execution_log = list(value)
        self._completed_view = None

    # -- dynamic operations ---------------------------------------------------------------------------------------
    def schedule_dynamic(
        self, ctx: ExecutionContext, tctx: TaskExecutionContext, executable: Executable, *, goto: bool,
        is_iteration: bool = False,
    ) -> str:
        """``next_task``: queue ``executable`` after the running task; existing targets and ``goto`` skip the task's
        static successors (D1)."""
        if not isinstance(executable, Executable):
            raise TypeError(f"next_task() takes a task, sequence or parallel group, got {type(executable).__name__}")
        target = executable.leftmost.task_id if isinstance(executable, SequentialTask) else executable.task_id
        existing = self.is_known(target)
        task_id = self.ensure_node(executable)
        self.scheduler.push(task_id, trigger=tctx.task_id)
        self.scheduled_in_run.add(task_id)
        control = tctx.control
        control.scheduled.append(task_id)
        if goto or existing:
            control.goto = True
        hooks = ctx.hooks
        if hooks.on_dynamic_task_added:
            hooks.fire(
                hooks.on_dynamic_task_added,
                task_id=task_id,
                parent_task_id=tctx.task_id,
                is_iteration=is_iteration,
                metadata={"task_type": type(executable).__name__, "is_new_task": not existing, "goto": goto},
            )
        if hooks.on_task_queued:
            hooks.fire(hooks.on_task_queued, task=executable, context=ctx)
        return task_id

    def schedule_iteration(self, ctx: ExecutionContext, tctx: TaskExecutionContext, data: Any) -> str:
        """``next_iteration``: queue a copy of the running task with ``data`` (D8)."""
        task = tctx.task
        base = tctx.base_task_id
        own_limit = getattr(task, "max_cycles", None)
        if own_limit is not None:
            self.cycle_controller.set_node_max_cycles(base, own_limit)
        count = self.cycle_controller.check_cycle_limit(base)
        if not isinstance(task, TaskWrapper):
            raise GraflowRuntimeError(
                f"next_iteration() needs a function task; '{tctx.task_id}' is {type(task).__name__}"
            )
        if data is not None and not task.accepts_iteration_data():
            how = ("add a second parameter after the context, e.g. def f(ctx, data=None)" if task.inject_context
                   else "add 'data=None' to its signature")
            raise GraflowRuntimeError(
                f"Task '{base}' passed data to next_iteration() but its function has no parameter to receive it; "
                f"{how}"
            )
        # 32 random bits keep ids unique within a run; a system-entropy call per iteration would cost more
        # than the rest of the iteration.
        iteration_id = f"{base}_cycle_{count}_{random.getrandbits(32):08x}"
        clone = task._copy(iteration_id, register=False)
        clone._base_id = base
        # an iteration without data of a task that takes none passes nothing (D8)
        clone._iteration_data = _NO_DATA if data is None and not task.accepts_iteration_data() else data
        if task._fast is not None:  # a direct function task the engine has run: the iteration is called like it,
            clone._fast = False  # with its data, never as a plain call (no analysis per iteration copy)
        # An iteration node is always new (D1): add it and queue it without the general next_task checks.
        graph = self.graph if self.owns_graph else self.own_graph()
        with self.graph_lock:
            graph.add_node(clone, iteration_id)
        self.scheduler.push(iteration_id, trigger=tctx.task_id)
        self.scheduled_in_run.add(iteration_id)
        tctx.control.scheduled.append(iteration_id)
        hooks = ctx.hooks
        if hooks.on_dynamic_task_added:
            hooks.fire(hooks.on_dynamic_task_added, task_id=iteration_id, parent_task_id=tctx.task_id,
                       is_iteration=True, metadata={"task_type": "TaskWrapper", "is_new_task": True, "goto": False})
        if hooks.on_task_queued:
            hooks.fire(hooks.on_task_queued, task=clone, context=ctx)
        return iteration_id

    # -- persistence ----------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("graph_lock", None)
        state.pop("_completed_view", None)
        initial = self.initial_graph
        if not isinstance(initial, frozenset):  # keep the ids, not a second copy of the graph
            state["initial_graph"] = frozenset(initial.nodes)
        state["scheduler"] = self.scheduler.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        scheduler_state = state.pop("scheduler", {})
        self.__dict__.update(state)
        self.graph_lock = threading.RLock()
        self._completed_view = None
        self.scheduler = Scheduler(weak_graph_source(self))
        self.scheduler.set_state(scheduler_state)


__all__ = ["RunState"]
