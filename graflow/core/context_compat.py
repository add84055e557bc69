"""Graflow 0.2's public names on ``ExecutionContext`` that the engine itself does not need.

0.2 kept per-task control flags and checkpoint requests on the run's context; here they live on the running task's
:class:`~graflow.core.task_context.TaskExecutionContext` (one ``StepControl`` per step). These properties and
methods read and reset that state under 0.2's names, so code written against 0.2 (custom handlers, tests that drive
a context by hand) keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graflow.core.task_context import TaskExecutionContext

if TYPE_CHECKING:
    from graflow.core.control import StepControl


class LegacyContextAPI:
    """Mixin of ``ExecutionContext``: 0.2's flag, checkpoint-request and task-stack names."""

    _task_stack: list[TaskExecutionContext]

    # -- the current step's control requests ------------------------------------------------------------------------
    def _current_control(self) -> StepControl | None:
        stack = self._task_stack
        return stack[-1]._control if stack else None

    @property
    def goto_called(self) -> bool:
        """Whether the running task asked to skip its static successors (``next_task(..., goto=True)`` or a jump)."""
        control = self._current_control()
        return bool(control is not None and control.goto)

    @property
    def terminate_called(self) -> bool:
        """Whether the running task called ``terminate_workflow``."""
        control = self._current_control()
        return control is not None and control.terminate is not None

    @property
    def cancel_called(self) -> bool:
        """Whether the running task called ``cancel_workflow``."""
        control = self._current_control()
        return control is not None and control.cancel is not None

    def reset_goto_flag(self) -> None:
        """Forget the running task's goto request."""
        control = self._current_control()
        if control is not None:
            control.goto = False

    def reset_terminate_flag(self) -> None:
        """Forget the running task's terminate request."""
        control = self._current_control()
        if control is not None:
            control.terminate = None

    def reset_cancel_flag(self) -> None:
        """Forget the running task's cancel request."""
        control = self._current_control()
        if control is not None:
            control.cancel = None

    def reset_control_flags(self) -> None:
        """Forget the running task's goto, terminate and cancel requests."""
        self.reset_goto_flag()
        self.reset_terminate_flag()
        self.reset_cancel_flag()

    # -- deferred checkpoint request ---------------------------------------------------------------------------------
    @property
    def checkpoint_requested(self) -> bool:
        """Whether the running task asked for a checkpoint after it completes."""
        control = self._current_control()
        return control is not None and control.checkpoint is not None

    @property
    def checkpoint_request_metadata(self) -> dict[str, Any] | None:
        """The metadata of the pending checkpoint request, if any."""
        control = self._current_control()
        if control is None or control.checkpoint is None:
            return None
        return dict(control.checkpoint.metadata or {})

    @property
    def checkpoint_request_path(self) -> str | None:
        """The path of the pending checkpoint request, if one was given."""
        control = self._current_control()
        if control is None or control.checkpoint is None:
            return None
        return control.checkpoint.path

    def clear_checkpoint_request(self) -> None:
        """Drop the running task's pending checkpoint request."""
        control = self._current_control()
        if control is not None:
            control.checkpoint = None

    # -- task contexts ----------------------------------------------------------------------------------------------
    def create_task_context(self, task_id: str) -> TaskExecutionContext:
        """A task context for ``task_id`` in this run (not yet on the stack: see :meth:`push_task_context`)."""
        graph = getattr(self, "graph", None)
        task = graph.nodes[task_id]["task"] if graph is not None and task_id in graph else None
        return TaskExecutionContext(task_id, self, task)  # type: ignore[arg-type]

    def push_task_context(self, task_ctx: TaskExecutionContext) -> None:
        """Make ``task_ctx`` the running task's context."""
        self._task_stack.append(task_ctx)

    def pop_task_context(self) -> TaskExecutionContext | None:
        """Remove and return the running task's context (None when no task runs)."""
        return self._task_stack.pop() if self._task_stack else None

    def mark_branch_completed(self, branch_id: str) -> None:
        """Bookkeeping hook called when a parallel branch finishes; nothing to record here (as in 0.2)."""

    # -- parallel groups --------------------------------------------------------------------------------------------
    def record_group_outcome(self, group_id: str, results: dict[str, Any]) -> None:
        """Keep the last outcome of ``group_id``: ``{member_id: TaskResult}``, failures with their errors."""
        outcomes = self.__dict__.get("_group_outcomes")
        if outcomes is None:
            outcomes = self.__dict__["_group_outcomes"] = {}
        outcomes[group_id] = dict(results)

    def get_group_outcome(self, group_id: str) -> dict[str, Any]:
        """``{member_id: TaskResult}`` of the last run of ``group_id`` in this run (empty if it has not run).

        A member that failed under a tolerant policy (``best_effort``, ``CriticalGroupPolicy``, ...) leaves no
        result in the channel; its ``TaskResult`` here keeps ``success=False``, ``error`` and ``error_message``.
        """
        return dict((self.__dict__.get("_group_outcomes") or {}).get(group_id, {}))

    # -- settings ---------------------------------------------------------------------------------------------------
    @property
    def default_max_retries(self) -> int:
        """Retries granted to tasks that set none of their own."""
        return int(self.retry_controller.default_max_retries)  # type: ignore[attr-defined]

    @default_max_retries.setter
    def default_max_retries(self, value: int) -> None:
        self.retry_controller.default_max_retries = int(value)  # type: ignore[attr-defined]

    @property
    def queue(self) -> Any:
        """The run's ready queue as a ``LocalTaskQueue`` (0.2's name for ``task_queue``)."""
        return self.task_queue  # type: ignore[attr-defined]


__all__ = ["LegacyContextAPI"]
