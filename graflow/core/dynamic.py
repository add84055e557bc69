"""Tasks added while a run is going: ``next_task`` (D1) and ``next_iteration`` (D8).

These functions change a run's own graph and queue; ``ExecutionContext`` and ``TaskExecutionContext`` call them.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from graflow.core.groups import ParallelGroup
from graflow.core.task import Executable, SequentialTask, TaskWrapper
from graflow.exceptions import GraflowRuntimeError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task_context import TaskExecutionContext


def ensure_node(ctx: ExecutionContext, executable: Executable) -> str:
    """Add ``executable`` (and a group's members) to the run graph if missing; return its node id."""
    if isinstance(executable, SequentialTask):
        graph = ctx._own_graph()
        with ctx._graph_lock:
            for node in executable._node_executables():
                ensure_node(ctx, node)
            for a, b in zip(executable.tasks, executable.tasks[1:], strict=False):
                graph.add_edge(a.rightmost.task_id, b.leftmost.task_id)
        return executable.leftmost.task_id
    task_id = executable.task_id
    if task_id not in ctx._graph.digraph._node:
        graph = ctx._own_graph()
        with ctx._graph_lock:
            graph.add_node(executable, task_id, skip_if_exists=True)
            if isinstance(executable, ParallelGroup):
                for member in executable.tasks:
                    ensure_node(ctx, member)
    return task_id


def is_known(ctx: ExecutionContext, task_id: str) -> bool:
    """D1: a node of the graph when this run started, or already scheduled in this run."""
    return task_id in ctx._initial_graph or task_id in ctx._scheduled_in_run


def schedule_dynamic(
    ctx: ExecutionContext, tctx: TaskExecutionContext, executable: Executable, *, goto: bool,
    is_iteration: bool = False,
) -> str:
    if not isinstance(executable, Executable):
        raise TypeError(f"next_task() takes a task, sequence or parallel group, got {type(executable).__name__}")
    target = executable.leftmost.task_id if isinstance(executable, SequentialTask) else executable.task_id
    existing = is_known(ctx, target)
    task_id = ensure_node(ctx, executable)
    ctx.scheduler.push(task_id, trigger=tctx.task_id)
    ctx._scheduled_in_run.add(task_id)
    control = tctx.control
    control.scheduled.append(task_id)
    if goto or existing:
        control.goto = True
    if ctx.hooks.on_dynamic_task_added:
        ctx.hooks.fire(
            ctx.hooks.on_dynamic_task_added,
            task_id=task_id,
            parent_task_id=tctx.task_id,
            is_iteration=is_iteration,
            metadata={"task_type": type(executable).__name__, "is_new_task": not existing, "goto": goto},
        )
    if ctx.hooks.on_task_queued:
        ctx.hooks.fire(ctx.hooks.on_task_queued, task=executable, context=ctx)
    return task_id


def schedule_iteration(ctx: ExecutionContext, tctx: TaskExecutionContext, data: Any) -> str:
    task = tctx.task
    base = tctx.base_task_id
    own_limit = getattr(task, "max_cycles", None)
    if own_limit is not None:
        ctx.cycle_controller.set_node_max_cycles(base, own_limit)
    count = ctx.cycle_controller.check_cycle_limit(base)
    if not isinstance(task, TaskWrapper):
        raise GraflowRuntimeError(
            f"next_iteration() needs a function task; '{tctx.task_id}' is {type(task).__name__}"
        )
    if data is not None and not task.accepts_iteration_data():
        how = ("add a second parameter after the context, e.g. def f(ctx, data=None)" if task.inject_context
               else "add 'data=None' to its signature")
        raise GraflowRuntimeError(
            f"Task '{base}' passed data to next_iteration() but its function has no parameter to receive it; {how}"
        )
    # 32 random bits keep ids unique within a run; a system-entropy call per iteration would cost more
    # than the rest of the iteration.
    iteration_id = f"{base}_cycle_{count}_{random.getrandbits(32):08x}"
    clone = task._copy(iteration_id, register=False)
    clone._base_id = base
    clone._iteration_data = data
    clone._fast = False  # iteration data is passed to the function: never the plain-call fast path
    # An iteration node is always new (D1): add it and queue it without the general next_task checks.
    graph = ctx._graph if ctx._owns_graph else ctx._own_graph()
    with ctx._graph_lock:
        graph.add_node(clone, iteration_id)
    ctx.scheduler.push(iteration_id, trigger=tctx.task_id)
    ctx._scheduled_in_run.add(iteration_id)
    tctx.control.scheduled.append(iteration_id)
    hooks = ctx.hooks
    if hooks.on_dynamic_task_added:
        hooks.fire(hooks.on_dynamic_task_added, task_id=iteration_id, parent_task_id=tctx.task_id,
                   is_iteration=True, metadata={"task_type": "TaskWrapper", "is_new_task": True, "goto": False})
    if hooks.on_task_queued:
        hooks.fire(hooks.on_task_queued, task=clone, context=ctx)
    return iteration_id


__all__ = ["ensure_node", "is_known", "schedule_dynamic", "schedule_iteration"]
