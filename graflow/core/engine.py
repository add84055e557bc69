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
from graflow.core.results import RESULT_SUFFIX
from graflow.core.start import resolve_start_node
from graflow.core.task import TaskWrapper
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import (
    CycleLimitExceededError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    RetryLimitExceededError,
    RunPausedError,
    TaskFailedError,
)

if TYPE_CHECKING:
    from graflow.core.control import StepControl
    from graflow.core.graph import TaskGraph
    from graflow.core.handler import TaskHandler
    from graflow.core.run_state import RunState

logger = logging.getLogger(__name__)

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
        self._queue_start(ctx, start_task_id)
        hooks = ctx.hooks
        if root and hooks.on_workflow_start:
            hooks.fire(hooks.on_workflow_start, workflow_name=ctx.workflow_name, context=ctx)
        previous = set_active_execution_context(ctx)
        run = ctx.run
        run.status = "running"
        key = id(ctx)
        registered = key not in _RUNNING  # a nested execute() of the same context leaves the entry to the outer one
        if registered:
            _RUNNING[key] = ctx
        try:
            result = self._loop(ctx)
        except BaseException as exc:
            run.error = exc
            run.status = "canceled" if isinstance(exc, GraflowWorkflowCanceledError) else "failed"
            raise
        finally:
            if registered:
                _RUNNING.pop(key, None)
            set_active_execution_context(previous)
            if root and hooks.on_workflow_end:
                hooks.fire(hooks.on_workflow_end, workflow_name=ctx.workflow_name, context=ctx, result=run.result)
        return result

    def _queue_start(self, ctx: ExecutionContext, start_task_id: Any) -> None:
        """Put the run's first task at the front of its queue (D4: found now when the context was made without)."""
        run = ctx.run
        if start_task_id is not None:
            start_task_id = getattr(start_task_id, "task_id", start_task_id)  # a task object names its node
            if start_task_id not in run.graph:
                raise self._unknown_node(ctx, start_task_id)
            ready = run.scheduler.ready
            if not ready or ready[0] != start_task_id:
                run.scheduler.push_front(start_task_id)
        elif run.start_node is None and run.steps == 0 and not run.scheduler.has_pending():
            run.start_node = resolve_start_node(run.graph)
            run.scheduler.push(run.start_node)

    @staticmethod
    def _check_handlers(ctx: ExecutionContext) -> None:
        """Before the run starts: every handler a node names is registered (D15), and every output reference
        bound to a task names a task upstream of it."""
        known = ctx.handlers
        graph = ctx.graph
        for handler_type in graph.handler_types():
            if handler_type != "direct" and handler_type not in known:
                raise WorkflowEngine._unknown_handler(ctx, handler_type)
        errors = graph.output_reference_errors()
        if errors:
            raise GraphCompilationError("; ".join(errors))

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

    # -- the loop ---------------------------------------------------------------------------------------------------
    def _loop(self, ctx: ExecutionContext) -> Any:
        """Take the next ready task, run it, then ``_on_success`` or ``_on_failure``, until nothing is left.

        The names bound before the loop stay local on purpose: this runs once per task. A function task the engine
        has run once is called right here, not through ``_run_attempt``: a Python call less per task.
        """
        run = ctx.run
        sched = run.scheduler
        ready, retrying = sched.ready, sched.retrying
        hooks, stack = ctx.hooks, ctx._task_stack
        cycles = run.cycle_controller
        count_cycle = cycles.increment if ctx.parent_context is not None else None  # branches share the counter
        cycle_counts = cycles.cycle_counts
        nodes = run.graph.digraph._node
        run_attempt, on_success = self._run_attempt, self._on_success
        direct = ctx.handlers.get("direct") is None  # no override: function tasks are called right here
        result_set = ctx.channel.set
        last_result: Any = None
        while True:
            task_id = ready.popleft() if ready and not sched.delayed else sched.next_ready()
            if task_id is None:
                return self._finish(ctx, "completed", last_result)
            if run.steps >= run.max_steps:
                return self._stop_at_max_steps(ctx, task_id, last_result)
            node = nodes.get(task_id)
            if node is None:  # a node the run added after it copied its graph
                nodes, node = self._node(ctx, task_id)
            task = node["task"]
            base_id = task._base_id or task_id
            if task_id in retrying:  # a retry is the same cycle
                retrying.discard(task_id)
            elif count_cycle is None:
                cycle_counts[base_id] = cycle_counts.get(base_id, 0) + 1
            else:
                count_cycle(base_id)
            tctx = TaskExecutionContext(task_id, ctx, task)
            stack.append(tctx)
            if hooks.on_task_start:
                hooks.fire(hooks.on_task_start, task=task, context=ctx)
            try:
                fast = task._fast  # None until _run_attempt has looked at a direct function task once
                if direct and fast is not None:  # a function task: called right here, no step in between
                    result = task.func() if fast else task._invoke(tctx)
                    result_set(task_id + RESULT_SUFFIX, result)
                else:
                    result = run_attempt(ctx, task, task_id, tctx, direct)
            except Exception as exc:
                if self._on_failure(ctx, task, task_id, tctx, exc, direct):
                    return None  # paused (D23)
                continue
            stack.pop()
            last_result = result
            if on_success(ctx, run, task, task_id, base_id, tctx, result):
                return self._finish(ctx, None, last_result)

    @staticmethod
    def _node(ctx: ExecutionContext, task_id: str) -> tuple[Any, Any]:
        """The run graph's current node table and ``task_id``'s entry in it (an unknown id is an error)."""
        nodes = ctx.run.graph._graph._node
        node = nodes.get(task_id)
        if node is None:
            raise WorkflowEngine._unknown_node(ctx, task_id)
        return nodes, node

    @staticmethod
    def _run_attempt(ctx: ExecutionContext, task: Any, task_id: str, tctx: TaskExecutionContext, direct: bool) -> Any:
        """One attempt of ``task``: a plain function task is called here (its result stored), others go through
        their handler, which stores the result itself."""
        if direct and task.handler_type == "direct":
            if type(task) is TaskWrapper:
                fast = task._fast
                if fast is None:
                    fast = task._compute_fast()
                result = task.func() if fast else task._invoke(tctx)
            else:
                result = task.run()
            ctx.channel.set(task_id + RESULT_SUFFIX, result)
            return result
        handler = ctx.handlers.get(task.handler_type)
        if handler is None:
            if task.handler_type != "direct":
                raise WorkflowEngine._unknown_handler(ctx, task.handler_type)
            handler = _DIRECT
        return handler.execute_task(task, ctx)

    @staticmethod
    def _attempt_ended(ctx: ExecutionContext, task: Any, tctx: TaskExecutionContext, result: Any,
                       error: BaseException | None) -> None:
        """Tell the hooks an attempt ended: its duration (``on_task_timed``), then ``on_task_end``."""
        hooks = ctx.hooks
        timed = hooks.task_timed  # from the attempt's start (tctx) to its handler's end
        if timed is not None:
            try:
                timed(task, ctx, _perf_counter() - tctx._started, error)
            except Exception:
                logger.exception("Hook %r failed", timed)
        if hooks.on_task_end:
            hooks.fire(hooks.on_task_end, task=task, context=ctx, result=result, error=error)

    def _on_success(self, ctx: ExecutionContext, run: RunState, task: Any, task_id: str, base_id: str,
                    tctx: TaskExecutionContext, result: Any) -> bool:
        """Record a completed attempt and queue what comes next. Returns True when the run must stop here."""
        hooks = ctx.hooks
        timed = hooks.task_timed
        if timed is not None:  # by position, straight from here: it runs for every task when anyone listens
            try:
                timed(task, ctx, _perf_counter() - tctx._started, None)
            except Exception:
                logger.exception("Hook %r failed", timed)
        if hooks.on_task_end:
            hooks.fire(hooks.on_task_end, task=task, context=ctx, result=result, error=None)
        control = tctx._control
        if control is not None and control.cancel is not None:
            raise GraflowWorkflowCanceledError(control.cancel, task_id)
        run.execution_log.append(task_id)
        sched = run.scheduler
        sched.triggers.pop(task_id, None)
        run.steps += 1
        if base_id != task_id:
            ctx.channel.set(base_id + RESULT_SUFFIX, result)  # D8: the base id holds the latest iteration's result
        if sched.retrying or run.retry_controller.retry_counts:
            run.retry_controller.reset(task_id)
        if control is None:
            self._queue_successors(ctx, run, task_id)
        elif self._on_control(ctx, task_id, control):
            return True
        if sched.joins:
            sched.release_joins()
        if ctx.checkpoint_policy is not None:
            ctx.checkpoint_policy.after_step(ctx)
        return False

    @staticmethod
    def _queue_successors(ctx: ExecutionContext, run: RunState, task_id: str) -> None:
        """Queue the static successors of a completed task: a node with one predecessor is ready at once, a fan-in
        node joins its wave (D3)."""
        graph = run.graph._graph
        successors = graph._succ[task_id]
        if not successors:
            return
        sched = run.scheduler
        pred = graph._pred
        queued = ctx.hooks.on_task_queued
        for successor in successors:
            if len(pred[successor]) <= 1:
                sched.ready.append(successor)
                sched.triggers[successor] = [task_id]
            else:
                sched.push_successor(successor, task_id, len(pred[successor]))
            if queued:
                ctx.hooks.fire(queued, task=graph._node[successor]["task"], context=ctx)

    def _on_control(self, ctx: ExecutionContext, task_id: str, control: StepControl) -> bool:
        """Apply a step's control requests; returns True when the run must stop (terminate)."""
        run = ctx.run
        if control.feedback_requests:  # answered: a later run of this task (a loop) asks anew
            ids = ctx.feedback_ids
            for key in [key for key in ids if key[0] == task_id]:
                del ids[key]
        if control.terminate is not None:
            run.ctrl_message = control.terminate
            if control.checkpoint is not None:
                _write_checkpoint(ctx, control)
            logger.info("Workflow %s terminated by task '%s': %s", ctx.workflow_name, task_id, control.terminate)
            return True
        if not control.goto:
            self._queue_successors(ctx, run, task_id)
        if control.checkpoint is not None:
            _write_checkpoint(ctx, control)
        return False

    @staticmethod
    def _on_failure(ctx: ExecutionContext, task: Any, task_id: str, tctx: TaskExecutionContext, exc: Exception,
                    direct: bool) -> bool:
        """Pause the run (True, D23), schedule a retry (D9) or raise the failure."""
        ctx._task_stack.pop()
        if isinstance(exc, RunPausedError):
            WorkflowEngine._attempt_ended(ctx, task, tctx, None, exc)
            return WorkflowEngine._pause(ctx, task_id, exc)
        if direct and task.handler_type == "direct":
            ctx.channel.set(task_id + RESULT_SUFFIX, exc)  # a failed task stores its exception as its result
        WorkflowEngine._attempt_ended(ctx, task, tctx, None, exc)
        if isinstance(exc, _NOT_RETRIED):
            raise exc
        controller = ctx.run.retry_controller
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
            ctx.run.scheduler.retrying.add(task_id)
            ctx.run.scheduler.delay(task_id, delay)
            return False
        if count > 0:
            raise RetryLimitExceededError(task_id, count, max_retries, exc) from exc
        if isinstance(exc, GraflowRuntimeError):
            if getattr(exc, "task_id", None) is None:
                exc.task_id = task_id  # type: ignore[attr-defined]  # which task failed, for handlers of the error
            raise exc
        raise TaskFailedError(task_id, exc) from exc

    @staticmethod
    def _pause(ctx: ExecutionContext, task_id: str, pause: RunPausedError) -> bool:
        """D23: checkpoint the run so that ``task_id`` runs first on resume, and stop it as ``paused``.

        A parallel member's branch passes the pause up: the run pauses at the group, which runs again on resume.
        """
        if pause.task_id is None:
            pause.task_id = task_id
        if ctx.parent_context is not None:
            raise pause
        from graflow.core.checkpoint import CheckpointManager

        run = ctx.run
        metadata = {"reason": pause.reason, "task_id": pause.task_id, **pause.checkpoint_metadata}
        path, checkpoint = CheckpointManager.create_checkpoint(ctx, metadata=metadata, resuming_task_id=task_id)
        run.scheduler.push_front(task_id)
        run.status = "paused"
        run.result = None
        logger.warning("Workflow '%s' paused at task '%s' (%s); checkpoint: %s", ctx.workflow_name, task_id, pause,
                       path)
        try:
            pause.paused(ctx, path, checkpoint)
        except Exception:
            logger.exception("Recording where the paused run of '%s' was checkpointed failed", ctx.workflow_name)
        return True

    # -- how a run ends ---------------------------------------------------------------------------------------------
    @staticmethod
    def _finish(ctx: ExecutionContext, status: str | None, result: Any) -> Any:
        """Record the run's end: ``status`` (None: terminated by a task) and its last result."""
        run = ctx.run
        run.status = status or "terminated"
        run.result = result
        return result

    @staticmethod
    def _stop_at_max_steps(ctx: ExecutionContext, task_id: str, last_result: Any) -> Any:
        """D6: stop visibly when the step budget is spent, with the next task back at the front of the queue. A run
        whose cancellation was requested from outside (``RunState.request_cancel``) stops here as canceled."""
        run = ctx.run
        sched = run.scheduler
        sched.push_front(task_id)
        if run.cancel_reason is not None:
            raise GraflowWorkflowCanceledError(run.cancel_reason, task_id)
        pending = sched.pending_ids()
        logger.warning("Workflow '%s' stopped after max_steps=%d with %d task(s) still queued (%s); "
                       "status is max_steps_reached: raise max_steps if the run needs more steps",
                       ctx.workflow_name, run.max_steps, len(pending), ", ".join(map(str, pending[:10])))
        return WorkflowEngine._finish(ctx, "max_steps_reached", last_result)


def running_contexts() -> list[ExecutionContext]:
    """The execution contexts whose run is going on now, in every thread of this process.

    A parallel member's branch is a run of its own. Each context's ``running_task_count`` tells how many task
    attempts it runs now; metrics read both at scrape time instead of timing every start.
    """
    return list(_RUNNING.values())  # one C call: safe while other threads start and end runs


def _write_checkpoint(ctx: ExecutionContext, control: StepControl) -> None:
    from graflow.core.checkpoint import CheckpointManager

    request = control.checkpoint
    assert request is not None
    CheckpointManager.create_checkpoint(ctx, path=request.path, metadata=request.metadata)


_DIRECT = DirectTaskHandler()

__all__ = ["WorkflowEngine", "running_contexts"]
