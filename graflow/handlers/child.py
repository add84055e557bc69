"""The task's side of an out-of-process attempt: run a :class:`TaskPayload`, record what the task did.

The task runs against a one-node context of its own whose channel starts as the copy the run sent. Every channel
write is applied locally (so the task reads its own writes) and recorded; ``next_task`` and ``next_iteration``
act on the local run state (so their checks and errors are the ones an in-process task meets) and are recorded.
The run replays the records when the outcome comes back (:func:`graflow.handlers.protocol.apply_outcome`).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graflow
from graflow.channels.memory_channel import MemoryChannel
from graflow.core import serialization
from graflow.core.context import ExecutionContext
from graflow.core.graph import TaskGraph
from graflow.core.run_state import RunState
from graflow.core.task import TaskWrapper
from graflow.handlers.protocol import ChannelOp, TaskOutcome, TaskPayload

if TYPE_CHECKING:
    from graflow.core.task import Executable
    from graflow.core.task_context import TaskExecutionContext


#: Frames of files under this folder are Graflow's, not the task's.
_GRAFLOW_DIR = str(Path(graflow.__file__).resolve().parent) + os.sep


class RecordingChannel(MemoryChannel):
    """A memory channel that starts from a copy of the run's channel and records every write made to it.

    Args:
        name: The channel name (the run's session id).
        initial: The run's channel contents when the attempt started.
    """

    def __init__(self, name: str, initial: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        for key, value in (initial or {}).items():
            MemoryChannel.set(self, key, value)
        self.ops: list[ChannelOp] = []

    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        super().set(key, value, ttl)
        self.ops.append(("set", key, value, ttl))

    def delete(self, key: str) -> bool:
        existed = super().delete(key)
        self.ops.append(("delete", key))
        return existed

    def clear(self) -> None:
        super().clear()
        self.ops.append(("clear",))

    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        length = super().append(key, value, ttl)
        self.ops.append(("append", key, value, ttl))
        return length

    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        length = super().prepend(key, value, ttl)
        self.ops.append(("prepend", key, value, ttl))
        return length

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        total = super().atomic_add(key, amount)
        self.ops.append(("atomic_add", key, amount))
        return total


class RecordingRunState(RunState):
    """The run state of the task's own context: records ``next_task`` and ``next_iteration`` for the run to replay.

    Both reach the run state whichever way the task calls them (its task context or the execution context).
    """

    recorded: list[tuple[str, Any, bool]]

    def schedule_dynamic(
        self, ctx: ExecutionContext, tctx: TaskExecutionContext, executable: Executable, *, goto: bool,
        is_iteration: bool = False,
    ) -> str:
        task_id = super().schedule_dynamic(ctx, tctx, executable, goto=goto, is_iteration=is_iteration)
        self.recorded.append(("task", executable, goto))
        return task_id

    def schedule_iteration(self, ctx: ExecutionContext, tctx: TaskExecutionContext, data: Any) -> str:
        task_id = super().schedule_iteration(ctx, tctx, data)
        self.recorded.append(("iteration", data, False))
        return task_id


def child_context(payload: TaskPayload) -> ExecutionContext:
    """A one-node context for the payload's task, with its counters as the run has them."""
    task = payload.task
    graph = TaskGraph()
    graph.add_node(task, task.task_id)
    channel = RecordingChannel(payload.session_id, payload.channel)
    ctx = ExecutionContext.create(
        graph, task.task_id, channel=channel, session_id=payload.session_id, trace_id=payload.trace_id,
        workflow_name=payload.workflow_name, default_max_retries=payload.max_retries,
    )
    run = ctx.run
    run.__class__ = RecordingRunState  # same state, with the scheduling operations recorded
    assert isinstance(run, RecordingRunState)
    run.recorded = []
    base = getattr(task, "_base_id", None) or task.task_id
    ctx.cycle_controller.set_node_max_cycles(base, payload.max_cycles)
    ctx.cycle_controller.cycle_counts[base] = payload.cycle_count
    if payload.retry_count:
        ctx.retry_controller.retry_counts[task.task_id] = payload.retry_count
    return ctx


def run_payload(payload: TaskPayload) -> TaskOutcome:
    """Run the payload's task once; the outcome holds its result or exception and everything it recorded."""
    ctx = child_context(payload)
    task = payload.task
    outcome = TaskOutcome()
    with ctx.executing_task(task) as tctx:
        try:
            if payload.inputs is not None and isinstance(task, TaskWrapper):
                outcome.value = task.call_with_inputs(tctx, payload.inputs)
            else:
                outcome.value = task.run()
        except Exception as exc:
            outcome.error = with_child_traceback(exc)
        control = tctx.control
    channel = ctx.channel
    assert isinstance(channel, RecordingChannel)
    outcome.channel_ops = channel.ops
    run = ctx.run
    assert isinstance(run, RecordingRunState)
    outcome.scheduled = run.recorded
    outcome.terminate, outcome.cancel, outcome.checkpoint = control.terminate, control.cancel, control.checkpoint
    return outcome


def with_child_traceback(exc: BaseException) -> BaseException:
    """``exc`` with its traceback in this process added as a note (the traceback itself does not pickle). Graflow's
    own frames above the task's are left out."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(_GRAFLOW_DIR):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()
    exc.add_note(f"Traceback in the task's process:\n{text}")
    return exc


def dump_outcome(outcome: TaskOutcome, task_id: str) -> bytes:
    """Pickle ``outcome``; what cannot be pickled (the result, an exception, a channel value) becomes an error
    that names it, so the run always learns what happened."""
    try:
        return serialization.dumps(outcome)
    except Exception as exc:  # noqa: BLE001 - reported as the task's error below
        problem = exc
    if outcome.error is not None:  # most often the exception itself: send its type, message and notes instead
        stand_in = RuntimeError(f"{type(outcome.error).__name__}: {outcome.error}")
        for note in getattr(outcome.error, "__notes__", ()):
            stand_in.add_note(note)
        stand_in.add_note(f"(the original exception could not be pickled: {problem})")
        outcome.error = stand_in
        try:
            return serialization.dumps(outcome)
        except Exception as exc:  # noqa: BLE001 - a channel value: reported below
            problem = exc
    error = TypeError(
        f"Task '{task_id}' ran, but what it returned or wrote to the channel cannot be pickled to send it back to "
        f"the run: {problem}"
    )
    return serialization.dumps(TaskOutcome(error=error))


__all__ = ["RecordingChannel", "RecordingRunState", "child_context", "dump_outcome", "run_payload",
           "with_child_traceback"]
