"""What travels between a run and the process that runs one of its tasks, and what the run does with the answer.

The run writes a :class:`TaskPayload` (the task, its resolved inputs and a copy of the channel, pickled with
cloudpickle) to ``payload.pkl`` in a task directory, plus a small ``meta.json`` that the other side can read
without unpickling anything. The other side (``python -m graflow.handlers.runner <dir>``) runs the task and writes
a :class:`TaskOutcome` to ``outcome.pkl``: the result or the task's exception, every channel write in order, the
tasks it scheduled and its control requests. :func:`apply_outcome` replays all of that on the run, so the task
behaves as if it had run in-process.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graflow.core import serialization
from graflow.core.task import TaskWrapper

if TYPE_CHECKING:
    from graflow.channels.base import Channel
    from graflow.core.context import ExecutionContext
    from graflow.core.control import CheckpointRequest
    from graflow.core.task import Executable
    from graflow.core.task_context import TaskExecutionContext

logger = logging.getLogger(__name__)

PAYLOAD_FILE = "payload.pkl"
META_FILE = "meta.json"
OUTCOME_FILE = "outcome.pkl"

#: A channel write as the child recorded it: the method name and its arguments.
ChannelOp = tuple[Any, ...]


@dataclass
class TaskPayload:
    """One attempt of a task, as the process that runs it receives it.

    Attributes:
        task: The task object.
        inputs: Its keyword arguments, resolved by the run (None for a task that is not a function task).
        channel: A copy of the run's channel when the attempt started.
        session_id: The run's session id.
        trace_id: The run's trace id.
        workflow_name: The run's workflow name.
        cycle_count: How many times the task has started in the run (this attempt included).
        max_cycles: Its ``next_iteration`` budget.
        retry_count: Retries before this attempt.
        max_retries: Its retry budget.
    """

    task: Any
    inputs: dict[str, Any] | None
    channel: dict[str, Any]
    session_id: str
    trace_id: str
    workflow_name: str
    cycle_count: int = 1
    max_cycles: int = 10
    retry_count: int = 0
    max_retries: int = 0


@dataclass
class TaskOutcome:
    """What one attempt did.

    Attributes:
        value: The task's result (when ``error`` is None).
        error: The exception the task raised, if it did.
        channel_ops: Every channel write, in order: ``("set", key, value, ttl)``, ``("append", ...)``, ...
        scheduled: ``("task", executable, goto)`` for ``next_task``, ``("iteration", data, False)`` for
            ``next_iteration``, in call order.
        terminate: Message of ``terminate_workflow``, if called.
        cancel: Message of ``cancel_workflow``, if called.
        checkpoint: A deferred checkpoint request, if made.
    """

    value: Any = None
    error: BaseException | None = None
    channel_ops: list[ChannelOp] = field(default_factory=list)
    scheduled: list[tuple[str, Any, bool]] = field(default_factory=list)
    terminate: str | None = None
    cancel: str | None = None
    checkpoint: CheckpointRequest | None = None


# -- the run's side ---------------------------------------------------------------------------------------------------
@contextmanager
def attempt_context(task: Executable, context: ExecutionContext) -> Iterator[TaskExecutionContext]:
    """The running attempt's task context: the engine's, or a fresh one when a handler is called by hand."""
    current = context.current_task_context
    if current is not None and current.task_id == task.task_id:
        yield current
        return
    with context.executing_task(task) as tctx:
        yield tctx


def build_payload(task: Executable, context: ExecutionContext, tctx: TaskExecutionContext) -> TaskPayload:
    """The payload of the attempt ``tctx`` of ``task``: inputs resolved here (D11), the channel as it is now."""
    inputs = task.resolve_inputs(tctx) if isinstance(task, TaskWrapper) else None
    return TaskPayload(
        task=task,
        inputs=inputs,
        channel=context.channel.snapshot(),
        session_id=context.session_id,
        trace_id=context.trace_id,
        workflow_name=context.workflow_name,
        cycle_count=tctx.cycle_count,
        max_cycles=tctx.max_cycles,
        retry_count=tctx.retry_count,
        max_retries=tctx.max_retries,
    )


def dump_payload(payload: TaskPayload) -> bytes:
    """Pickle ``payload``. Channel values that cannot be pickled are left out of the copy, with a warning.

    Raises:
        TypeError: The task or its inputs cannot be pickled.
    """
    try:
        return serialization.dumps(payload)
    except Exception:  # noqa: BLE001 - the slow path below finds out what could not be pickled
        task_id = getattr(payload.task, "task_id", "?")
    try:
        serialization.dumps((payload.task, payload.inputs))
    except Exception as exc:
        raise TypeError(
            f"Task '{task_id}' cannot run in another process: the task or its inputs cannot be pickled ({exc})"
        ) from exc
    kept: dict[str, Any] = {}
    for key, value in payload.channel.items():
        try:
            serialization.dumps(value)
        except Exception as exc:  # noqa: BLE001 - any pickling failure leaves the value out
            logger.warning("Task '%s': channel key %r cannot be pickled (%s); the task's process will not see it",
                           task_id, key, exc)
            continue
        kept[key] = value
    payload.channel = kept
    return serialization.dumps(payload)


def payload_meta(payload: TaskPayload) -> bytes:
    """``meta.json``: what the other side checks before it unpickles the payload."""
    import graflow

    meta = {
        "task_id": getattr(payload.task, "task_id", None),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "graflow": getattr(graflow, "__version__", None),
    }
    return json.dumps(meta).encode()


def load_outcome(data: bytes) -> TaskOutcome:
    """Unpickle an outcome written by the runner (a process this one started: trusted)."""
    outcome = serialization.loads(data)
    if not isinstance(outcome, TaskOutcome):
        raise TypeError(f"expected a TaskOutcome, got {type(outcome).__name__}")
    return outcome


def apply_outcome(
    task: Executable, context: ExecutionContext, tctx: TaskExecutionContext, outcome: TaskOutcome
) -> Any:
    """Replay ``outcome`` on the run: channel writes, then the result or the exception (stored, then raised),
    then the scheduled tasks and control requests of a successful attempt.

    Returns:
        The task's result.
    """
    replay_channel_ops(context.channel, outcome.channel_ops)
    if outcome.error is not None:
        context.set_result(task.task_id, outcome.error)
        raise outcome.error
    for kind, item, goto in outcome.scheduled:
        if kind == "iteration":
            tctx.next_iteration(item)
        else:
            tctx.next_task(item, goto=goto)
    if outcome.terminate is not None:
        tctx.terminate_workflow(outcome.terminate)
    if outcome.cancel is not None:
        tctx.cancel_workflow(outcome.cancel)
    if outcome.checkpoint is not None:
        tctx.control.checkpoint = outcome.checkpoint
    context.set_result(task.task_id, outcome.value)
    return outcome.value


def replay_channel_ops(channel: Channel, ops: list[ChannelOp]) -> None:
    """Apply recorded channel writes to ``channel`` in order."""
    for op in ops:
        name, args = op[0], op[1:]
        if name == "set":
            channel.set(*args)
        elif name == "append":
            channel.append(*args)
        elif name == "prepend":
            channel.prepend(*args)
        elif name == "atomic_add":
            channel.atomic_add(*args)
        elif name == "delete":
            channel.delete(*args)
        elif name == "clear":
            channel.clear()
        else:
            raise ValueError(f"unknown channel operation {name!r}")


__all__ = [
    "META_FILE",
    "OUTCOME_FILE",
    "PAYLOAD_FILE",
    "TaskOutcome",
    "TaskPayload",
    "apply_outcome",
    "attempt_context",
    "build_payload",
    "dump_payload",
    "load_outcome",
    "payload_meta",
    "replay_channel_ops",
]
