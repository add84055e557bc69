"""Ambient state: which run is executing on this thread, and where new tasks and edges go (D1).

A task created, or a ``>>`` / ``|`` written, while a run is executing belongs to that run's own graph (D1, D2),
unless the running task opened a ``with workflow(...)`` block: that block is a sub-workflow and takes them.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable
    from graflow.core.workflow import WorkflowContext

# Which execution context is running here (D1: tasks created while it runs are not registered in it). A
# ContextVar, like the current workflow's (graflow.core.workflow): each thread, and each asyncio task, sees its own.
_active: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "graflow_execution_context", default=None)
#: ``active_execution_context()``: the execution context whose task is running here, if any (the bound ``get``
#: itself: this is called for every task created and every ``>>`` written).
active_execution_context = _active.get


def set_active_execution_context(ctx: ExecutionContext | None) -> ExecutionContext | None:
    """Install ``ctx`` as the running context here; returns the previous one (pass it back to restore)."""
    previous = _active.get()
    _active.set(ctx)
    return previous


def dsl_target() -> Any:
    """Where ``>>``, ``|`` and new groups write: a sub-workflow opened inside the running task, else the running
    run's own graph (D1, D2), else the current workflow (created on demand, as upstream)."""
    ctx = active_execution_context()
    if ctx is not None:
        sub = _subworkflow_of(ctx)
        if sub is not None:
            return sub
        ctx._own_graph()
        return ctx
    from graflow.core.workflow import current_workflow_context

    return current_workflow_context()


def _subworkflow_of(ctx: ExecutionContext) -> WorkflowContext | None:
    """The workflow whose ``with`` block was opened while ``ctx`` was running, when it is the current one (D1)."""
    from graflow.core.workflow import get_current_workflow_context

    wf = get_current_workflow_context()
    if wf is not None and wf.opened_during(ctx):
        return wf
    return None


def _workflow_for_registration() -> WorkflowContext | None:
    from graflow.core.workflow import get_current_workflow_context

    return get_current_workflow_context()


def register_new(node: Executable) -> None:
    """Register a newly created task where it belongs.

    D1: a task created while a run executes is never registered in the running workflow's graph (it is marked
    pending and joins the run's graph when scheduled); a ``with workflow(...)`` block opened inside the task is a
    sub-workflow and takes it instead. Outside a run it joins the current workflow, if any.
    """
    ctx = active_execution_context()
    if ctx is not None:
        wf = _subworkflow_of(ctx)
        if wf is None:
            node._pending_registration = True
        else:
            wf.graph.add_node(node, node.task_id)
        return
    wf = _workflow_for_registration()
    if wf is None:
        node._pending_registration = True
    else:
        wf.graph.add_node(node, node.task_id)


__all__ = ["active_execution_context", "dsl_target", "register_new", "set_active_execution_context"]
