"""The engine loop: take the next ready task, run it, then on_success / on_retry / on_failure / on_control.

The loop is the product's hot path. It keeps per-task work to a few dictionary operations: no per-task graph
copies, no serialization, no formatting unless a hook listens.
"""

from __future__ import annotations

import difflib
import logging
import time
from typing import TYPE_CHECKING, Any

from graflow.core.ambient import set_active_execution_context
from graflow.core.context import ExecutionContext
from graflow.core.handlers.direct import DirectTaskHandler
from graflow.core.start import resolve_start_node
from graflow.core.task import TaskWrapper
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import (
    CycleLimitExceededError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    RetryLimitExceededError,
    TaskFailedError,
)

if TYPE_CHECKING:
    from graflow.core.control import StepControl
    from graflow.core.graph import TaskGraph
    from graflow.core.handler import TaskHandler

logger = logging.getLogger(__name__)

_RESULT = ".__result__"
_perf_counter = time.perf_counter
# Contexts whose run is going on now, in any thread, keyed by id: what running_contexts() reports.
_RUNNING: dict[int, ExecutionContext] = {}
_NOT_RETRIED = (CycleLimitExceededError, GraflowWorkflowCanceledError)


class WorkflowEngine:
    """Runs an :class:`ExecutionContext` to completion.

    Handlers registered here are added to the context's registry for the run (D15), so parallel members use
    them too.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, TaskHandler] = {}

    def register_handler(self, handler_type: str, handler: TaskHandler) -> None:
        """Run tasks declared with ``@task(handler=handler_type)`` through ``handler``."""
        self._handlers[handler_type] = handler

    def execute_with_cycles(self, graph: TaskGraph, start_node: str, max_steps: int = 10) -> Any:
        """Run ``graph`` from ``start_node`` with at most ``max_steps`` steps (legacy helper)."""
        return self.execute(ExecutionContext.create(graph, start_node, max_steps=max_steps))

    # -- run --------------------------------------------------------------------------------------------------------
    def execute(self, context: ExecutionContext, start_task_id: str | None = None) -> Any:
        """Run ``context`` until nothing is left, a task terminates or cancels, or ``max_steps`` is reached.

        Returns:
            The result of the last task that ran (a trailing parallel group returns ``{member: result}``).

        Raises:
            GraflowRuntimeError: A task failed (its error is ``.cause``), retries ran out
                (``RetryLimitExceededError``), or the run was canceled (``GraflowWorkflowCanceledError``).
        """
        ctx = context
        if self._handlers:
            ctx.handlers.update(self._handlers)
        root = ctx.parent_context is None
        if root:  # a branch shares its parent's graph and handlers, which the parent's run has checked
            self._check_handlers(ctx)
        root = root and ctx.__dict__.get("workflow_events", True)
        if start_task_id is not None:
            start_task_id = getattr(start_task_id, "task_id", start_task_id)  # a task object names its node
            if start_task_id not in ctx.graph:
                raise self._unknown_node(ctx, start_task_id)
            ready = ctx.scheduler.ready
            if not ready or ready[0] != start_task_id:
                ctx.scheduler.push_front(start_task_id)
        elif ctx.start_node is None and ctx.steps == 0 and not ctx.scheduler.has_pending():
            # D4: a context created on an empty or unfinished graph picks its start node when the run starts
            ctx.start_node = resolve_start_node(ctx.graph)
            ctx.scheduler.push(ctx.start_node)
        if root and ctx.hooks.on_workflow_start:
            ctx.hooks.fire(ctx.hooks.on_workflow_start, workflow_name=ctx.workflow_name, context=ctx)
        previous = set_active_execution_context(ctx)
        ctx.status = "running"
        key = id(ctx)
        registered = key not in _RUNNING  # a nested execute() of the same context leaves the entry to the outer one
        if registered:
            _RUNNING[key] = ctx
        try:
            result = self._loop(ctx)
        except BaseException as exc:
            ctx.error = exc
            ctx.status = "canceled" if isinstance(exc, GraflowWorkflowCanceledError) else "failed"
            raise
        finally:
            if registered:
                _RUNNING.pop(key, None)
            set_active_execution_context(previous)
            if root and ctx.hooks.on_workflow_end:
                ctx.hooks.fire(ctx.hooks.on_workflow_end, workflow_name=ctx.workflow_name, context=ctx,
                               result=ctx.result)
        return result

    @staticmethod
    def _check_handlers(ctx: ExecutionContext) -> None:
        """D15: every handler a node names must be registered before the run starts."""
        known = ctx.handlers
        for handler_type in ctx.graph.handler_types():
            if handler_type != "direct" and handler_type not in known:
                raise WorkflowEngine._unknown_handler(ctx, handler_type)

    @staticmethod
    def _unknown_handler(ctx: ExecutionContext, handler_type: str) -> GraflowRuntimeError:
        supported = ", ".join(["direct", *sorted(k for k in ctx.handlers if k != "direct")])
        cause = ValueError(f"Unknown handler type: {handler_type}. Supported: {supported}")
        return GraflowRuntimeError(str(cause), cause=cause)

    @staticmethod
    def _unknown_node(ctx: ExecutionContext, task_id: Any) -> GraflowRuntimeError:
        nodes = [str(n) for n in ctx.graph.nodes]
        available = ", ".join(nodes[:20]) + (f" ... ({len(nodes) - 20} more)" if len(nodes) > 20 else "")
        close = difflib.get_close_matches(str(task_id), nodes, n=3)
        hint = f". Did you mean: {', '.join(close)}?" if close else ""
        return GraflowRuntimeError(f"Node '{task_id}' not found in graph. Available nodes: {available}{hint}")

    def _loop(self, ctx: ExecutionContext) -> Any:
        sched = ctx.scheduler
        ready = sched.ready
        triggers = sched.triggers
        hooks = ctx.hooks
        channel_set = ctx.channel.set
        completed = ctx.execution_log
        cycle_counts = ctx.cycle_controller.cycle_counts
        is_branch = ctx.parent_context is not None
        stack = ctx._task_stack
        handlers = ctx.handlers
        direct_override = handlers.get("direct")
        retry_pending = sched.retrying
        digraph = ctx.graph.digraph
        nodes, succ, pred = digraph._node, digraph._succ, digraph._pred
        last_result: Any = None

        while True:
            if ready and not sched.delayed:
                task_id = ready.popleft()
            else:
                next_id = sched.next_ready()
                if next_id is None:
                    break
                task_id = next_id
            if ctx.steps >= ctx.max_steps:
                sched.push_front(task_id)
                ctx.status = "max_steps_reached"
                pending = sched.pending_ids()
                logger.warning("Workflow '%s' stopped after max_steps=%d with %d task(s) still queued (%s); "
                               "status is max_steps_reached: raise max_steps if the run needs more steps",
                               ctx.workflow_name, ctx.max_steps, len(pending), ", ".join(map(str, pending[:10])))
                ctx.result = last_result
                return last_result
            if ctx.graph.digraph is not digraph:  # the run copied its graph (dynamic tasks): follow it
                digraph = ctx.graph.digraph
                nodes, succ, pred = digraph._node, digraph._succ, digraph._pred
            node = nodes.get(task_id)
            if node is None:
                raise self._unknown_node(ctx, task_id)
            task = node["task"]
            base_id = task._base_id or task_id
            if task_id in retry_pending:
                retry_pending.discard(task_id)
            elif is_branch:
                ctx.cycle_controller.increment(base_id)
            else:
                cycle_counts[base_id] = cycle_counts.get(base_id, 0) + 1

            tctx = TaskExecutionContext(task_id, ctx, task)
            stack.append(tctx)
            for listener in hooks.on_task_start:  # inlined dispatch: this runs for every task
                try:
                    listener(task=task, context=ctx)
                except Exception:
                    _hook_failed(listener)
            try:
                handler_type = task.handler_type
                if handler_type == "direct" and direct_override is None:
                    if type(task) is TaskWrapper:
                        fast = task._fast
                        if fast is None:
                            fast = task._compute_fast()
                        result = task.func() if fast else task._invoke(tctx)
                    else:
                        result = task.run()
                    channel_set(task_id + _RESULT, result)
                else:
                    handler = handlers.get(handler_type)
                    if handler is None:
                        if handler_type != "direct":
                            raise self._unknown_handler(ctx, handler_type)
                        handler = _DIRECT
                    result = handler.execute_task(task, ctx)
            except Exception as exc:
                stack.pop()
                if handler_type == "direct" and direct_override is None:
                    channel_set(task_id + _RESULT, exc)
                timed = hooks.task_timed  # the attempt's duration: from its start (tctx) to its handler's end
                if timed is not None:
                    try:
                        timed(task, ctx, _perf_counter() - tctx._started, exc)
                    except Exception:
                        _hook_failed(timed)
                if hooks.on_task_end:
                    hooks.fire(hooks.on_task_end, task=task, context=ctx, result=None, error=exc)
                self._on_failure(ctx, task, task_id, exc, retry_pending)
                continue
            stack.pop()
            timed = hooks.task_timed
            if timed is not None:
                try:
                    timed(task, ctx, _perf_counter() - tctx._started, None)
                except Exception:
                    _hook_failed(timed)
            for listener in hooks.on_task_end:
                try:
                    listener(task=task, context=ctx, result=result, error=None)
                except Exception:
                    _hook_failed(listener)

            control = tctx._control
            if control is not None and control.cancel is not None:
                raise GraflowWorkflowCanceledError(control.cancel, task_id)
            # on_success
            completed.append(task_id)
            triggers.pop(task_id, None)
            ctx.steps += 1
            last_result = result
            if base_id != task_id:
                channel_set(base_id + _RESULT, result)  # D8: the base id holds the latest iteration's result
            if retry_pending or ctx.retry_controller.retry_counts:
                ctx.retry_controller.reset(task_id)
            if control is None:
                for successor in succ[task_id]:
                    if len(pred[successor]) <= 1:
                        ready.append(successor)
                        triggers[successor] = [task_id]
                    else:
                        sched.push_successor(successor, task_id, len(pred[successor]))
                    for listener in hooks.on_task_queued:
                        try:
                            listener(task=nodes[successor]["task"], context=ctx)
                        except Exception:
                            _hook_failed(listener)
            elif self._on_control(ctx, task_id, control, succ, pred, nodes):
                ctx.result = last_result
                return last_result
            if sched.joins:
                sched.release_joins()
            if ctx.checkpoint_policy is not None:
                ctx.checkpoint_policy.after_step(ctx)

        ctx.status = "completed"
        ctx.result = last_result
        return last_result

    # -- transitions ------------------------------------------------------------------------------------------------
    @staticmethod
    def _on_control(
        ctx: ExecutionContext, task_id: str, control: StepControl, succ: Any, pred: Any, nodes: Any
    ) -> bool:
        """Apply a step's control requests; returns True when the run must stop (terminate)."""
        sched = ctx.scheduler
        if control.terminate is not None:
            ctx.ctrl_message = control.terminate
            ctx.status = "terminated"
            if control.checkpoint is not None:
                _write_checkpoint(ctx, control)
            logger.info("Workflow %s terminated by task '%s': %s", ctx.workflow_name, task_id, control.terminate)
            return True
        if not control.goto:
            graph = ctx.graph.digraph
            for successor in graph._succ[task_id]:
                sched.push_successor(successor, task_id, len(graph._pred[successor]))
                if ctx.hooks.on_task_queued:
                    ctx.hooks.fire(ctx.hooks.on_task_queued, task=graph._node[successor]["task"], context=ctx)
        if control.checkpoint is not None:
            _write_checkpoint(ctx, control)
        return False

    @staticmethod
    def _on_failure(
        ctx: ExecutionContext, task: Any, task_id: str, exc: Exception, retry_pending: set[str]
    ) -> None:
        """Schedule a retry (D9) or raise the failure."""
        if isinstance(exc, _NOT_RETRIED):
            raise exc
        controller = ctx.retry_controller
        max_retries = ctx.max_retries_for(task)
        count = controller.get_retry_count(task_id)
        if count < max_retries:
            count = controller.increment(task_id, exc)
            policy = getattr(task, "retry_policy", None)
            delay = policy.get_delay(count - 1) if policy is not None else 0.0
            logger.info("Task '%s' failed (%s); retry %d/%d in %.3fs", task_id, exc, count, max_retries, delay)
            if ctx.hooks.on_task_retry:
                ctx.hooks.fire(ctx.hooks.on_task_retry, task=task, context=ctx, attempt=count, delay=delay,
                               error=exc)
            retry_pending.add(task_id)
            ctx.scheduler.delay(task_id, delay)
            return
        if count > 0:
            raise RetryLimitExceededError(task_id, count, max_retries, exc) from exc
        if isinstance(exc, GraflowRuntimeError):
            if getattr(exc, "task_id", None) is None:
                exc.task_id = task_id  # type: ignore[attr-defined]  # which task failed, for handlers of the error
            raise exc
        raise TaskFailedError(task_id, exc) from exc


def running_contexts() -> list[ExecutionContext]:
    """The execution contexts whose run is going on now, in every thread of this process.

    A parallel member's branch is a run of its own. Each context's ``running_task_count`` tells how many task
    attempts it runs now; metrics read both at scrape time instead of timing every start.
    """
    return list(_RUNNING.values())  # one C call: safe while other threads start and end runs


def _hook_failed(listener: Any) -> None:
    logger.exception("Hook %r failed", listener)


def _write_checkpoint(ctx: ExecutionContext, control: StepControl) -> None:
    from graflow.core.checkpoint import CheckpointManager

    request = control.checkpoint
    assert request is not None
    CheckpointManager.create_checkpoint(ctx, path=request.path, metadata=request.metadata)


_DIRECT = DirectTaskHandler()

__all__ = ["WorkflowEngine", "running_contexts"]
