"""``TaskExecutionContext``: what a task sees of its run (``inject_context=True`` passes it first)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from graflow.core import registry
from graflow.core.control import CheckpointRequest, StepControl

if TYPE_CHECKING:
    from graflow.channels.base import Channel
    from graflow.channels.typed import TypedChannel
    from graflow.core.context import ExecutionContext
    from graflow.core.graph import TaskGraph
    from graflow.core.task import Executable


_perf_counter = time.perf_counter


class TaskExecutionContext:
    """Per-attempt facade over the :class:`ExecutionContext` for one running task."""

    __slots__ = ("_control", "_local_data", "_start_wall", "_started", "execution_context", "task", "task_id")

    def __init__(self, task_id: str, execution_context: ExecutionContext, task: Executable | None = None) -> None:
        self.task_id = task_id
        self.execution_context = execution_context
        self.task = task
        # The start on the monotonic clock; the wall-clock start_time is derived from it when first read.
        self._started = _perf_counter()
        self._start_wall: float | None = None
        self._local_data: dict[str, Any] | None = None
        self._control: StepControl | None = None

    @property
    def start_time(self) -> float:
        """When this attempt started, in seconds since the epoch (``time.time()``)."""
        wall = self._start_wall
        if wall is None:
            wall = self._start_wall = time.time() - (_perf_counter() - self._started)
        return wall

    @start_time.setter
    def start_time(self, value: float) -> None:
        self._start_wall = value
        self._started = _perf_counter() - (time.time() - value)

    def __getstate__(self) -> dict[str, Any]:
        # The monotonic start means nothing in another process: the wall-clock start travels instead.
        state = {name: getattr(self, name) for name in self.__slots__ if name != "_started"}
        state["_start_wall"] = self.start_time
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self.start_time = state["_start_wall"]

    # -- state ------------------------------------------------------------------------------------------------------
    @property
    def control(self) -> StepControl:
        """The control requests of this step (created on first use)."""
        control = self._control
        if control is None:
            control = self._control = StepControl()
        return control

    @property
    def local_data(self) -> dict[str, Any]:
        """Scratch data private to this attempt."""
        if self._local_data is None:
            self._local_data = {}
        return self._local_data

    @property
    def base_task_id(self) -> str:
        """The task id without any iteration suffix."""
        return getattr(self.task, "_base_id", None) or self.task_id

    @property
    def cycle_count(self) -> int:
        """How many times this task (iterations included) has started in this run, 1-based."""
        return self.execution_context.cycle_controller.cycle_counts.get(self.base_task_id, 0)

    @property
    def max_cycles(self) -> int:
        """The ``next_iteration`` budget of this task."""
        own = getattr(self.task, "max_cycles", None)
        if own is not None:
            return int(own)
        return self.execution_context.cycle_controller.get_max_cycles(self.base_task_id)

    @property
    def retry_count(self) -> int:
        """Retries performed before this attempt (0 on the first)."""
        return self.execution_context.retry_controller.get_retry_count(self.task_id)

    @property
    def max_retries(self) -> int:
        """The retry budget of this task."""
        return self.execution_context.max_retries_for(self.task)

    @property
    def session_id(self) -> str:
        """The run's session id."""
        return self.execution_context.session_id

    @property
    def trace_id(self) -> str:
        """The run's trace id."""
        return self.execution_context.trace_id

    @property
    def graph(self) -> TaskGraph:
        """The run's graph (including dynamic nodes)."""
        return self.execution_context.graph

    @property
    def llm_client(self) -> Any:
        """The run's LLM client."""
        return self.execution_context.llm_client

    @property
    def prompt_manager(self) -> Any:
        """The run's prompt manager."""
        return self.execution_context.prompt_manager

    def can_iterate(self) -> bool:
        """Whether another ``next_iteration`` fits the budget."""
        return self.cycle_count < self.max_cycles

    def elapsed_time(self) -> float:
        """Seconds since this attempt started."""
        return _perf_counter() - self._started

    # -- control ----------------------------------------------------------------------------------------------------
    def next_task(self, executable: Executable, goto: bool = False) -> str:
        """Queue ``executable`` after this task (D1 decides whether static successors still run)."""
        ctx = self.execution_context
        return ctx.run.schedule_dynamic(ctx, self, executable, goto=goto)

    def next_iteration(self, data: Any = None) -> str:
        """Queue another run of this task with ``data`` (D8). Raises CycleLimitExceededError past the budget."""
        ctx = self.execution_context
        return ctx.run.schedule_iteration(ctx, self, data)

    def terminate_workflow(self, message: str = "") -> None:
        """Finish this task normally, then stop the run without running anything else."""
        self.control.terminate = message

    def cancel_workflow(self, message: str = "") -> None:
        """Stop the run after this task with ``GraflowWorkflowCanceledError``."""
        self.control.cancel = message

    def checkpoint(
        self, metadata: dict[str, Any] | None = None, *, path: str | None = None, deferred: bool = True
    ) -> Any:
        """Write a checkpoint: after this task completes (deferred), or now so that resume re-runs this task."""
        meta = {
            "task_id": self.task_id,
            "cycle_count": self.cycle_count,
            "elapsed_time": self.elapsed_time(),
            "mode": "deferred" if deferred else "immediate",
            **(metadata or {}),
        }
        if deferred:
            self.control.checkpoint = CheckpointRequest(metadata=meta, path=path)
            return None
        from graflow.core.checkpoint import CheckpointManager

        return CheckpointManager.create_checkpoint(
            self.execution_context, path=path, metadata=meta, resuming_task_id=self.task_id
        )

    # -- human in the loop (graflow.hitl; needs pydantic: graflow[hitl]) -------------------------------------------
    def request_feedback(
        self,
        feedback_type: Any,
        prompt: str,
        options: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float = 180.0,
        channel_key: str | None = None,
        write_to_channel: bool = False,
        handler: Any = None,
    ) -> Any:
        """Ask a person and wait for the answer (``FeedbackResponse``).

        When ``timeout`` seconds pass without an answer, the run pauses (D23): it is checkpointed with this task to
        run first, ``execute`` returns None and ``status`` is ``"paused"``. Answering the request later and resuming
        the checkpoint runs this task again; this request then returns the answer at once. With
        ``write_to_channel``, the answer is written to ``channel_key`` (and the whole response to
        ``<channel_key>.__feedback_response__``) whoever answered (D24).
        """
        ask = registry.resolve("hitl", "request")
        return ask(self, feedback_type, prompt, options=options, metadata=metadata, timeout=timeout,
                   channel_key=channel_key, write_to_channel=write_to_channel, handler=handler)

    def request_approval(
        self, prompt: str, metadata: dict[str, Any] | None = None, timeout: float = 180.0,
        channel_key: str | None = None, write_to_channel: bool = False, handler: Any = None,
    ) -> bool:
        """Ask for an approval; True when approved."""
        response = self.request_feedback("approval", prompt, metadata=metadata, timeout=timeout,
                                         channel_key=channel_key, write_to_channel=write_to_channel, handler=handler)
        return bool(response.approved)

    def request_text_input(
        self, prompt: str, metadata: dict[str, Any] | None = None, timeout: float = 180.0,
        channel_key: str | None = None, write_to_channel: bool = False, handler: Any = None,
    ) -> str:
        """Ask for a text; ``""`` when the answer carries none."""
        response = self.request_feedback("text", prompt, metadata=metadata, timeout=timeout,
                                         channel_key=channel_key, write_to_channel=write_to_channel, handler=handler)
        return str(response.text or "")

    def request_selection(
        self, prompt: str, options: list[str], metadata: dict[str, Any] | None = None, timeout: float = 180.0,
        channel_key: str | None = None, write_to_channel: bool = False, handler: Any = None,
    ) -> str:
        """Ask to pick one of ``options``; the chosen option."""
        response = self.request_feedback("selection", prompt, options=options, metadata=metadata, timeout=timeout,
                                         channel_key=channel_key, write_to_channel=write_to_channel, handler=handler)
        return str(response.selected)

    # -- data -------------------------------------------------------------------------------------------------------
    def get_channel(self) -> Channel:
        """The run's channel."""
        return self.execution_context.channel

    def get_typed_channel(self, message_type: type) -> TypedChannel[Any]:
        """The run's channel, validated against a TypedDict."""
        typed: TypedChannel[Any] = registry.resolve("typed_channel", "default")(
            self.execution_context.channel, message_type)
        return typed

    def get_result(self, node: str, default: Any = None) -> Any:
        """The stored result of task ``node``."""
        return self.execution_context.get_result(node, default)

    def set_local_data(self, key: str, value: Any) -> None:
        """Store scratch data for this attempt."""
        self.local_data[key] = value

    def get_local_data(self, key: str, default: Any = None) -> Any:
        """Read scratch data of this attempt."""
        return self.local_data.get(key, default)

    def get_llm_agent(self, name: str) -> Any:
        """The registered LLM agent ``name``."""
        return self.execution_context.get_llm_agent(name)

    def register_llm_agent(self, name: str, agent: Any) -> None:
        """Register an LLM agent for this run."""
        self.execution_context.register_llm_agent(name, agent)

    def __repr__(self) -> str:
        return f"TaskExecutionContext(task_id={self.task_id!r}, session_id={self.session_id!r})"


__all__ = ["TaskExecutionContext"]
