"""Engine hooks: the one way the engine tells the outside world what happens.

Tracing, metrics, structured logging and circuit breaking are hooks. Every method does nothing by default and
takes keyword-only arguments, except ``on_task_timed`` (see there). The engine calls hooks through
:class:`HookSet`, which isolates failures: a broken hook is logged and never breaks a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

logger = logging.getLogger(__name__)


class EngineHook:
    """Base class of every hook. Override only the events you need.

    An instance may set an event its class handles to ``None`` (``self.on_task_start = None``) to stop listening
    to it, for example when it takes the same facts from ``on_task_timed`` instead.
    """

    def on_workflow_start(self, *, workflow_name: str, context: ExecutionContext) -> None:
        """A root run starts."""

    def on_workflow_end(self, *, workflow_name: str, context: ExecutionContext, result: Any = None) -> None:
        """A root run ends. ``context.status`` says how (completed, failed, canceled, terminated,
        max_steps_reached, paused) and ``context.error`` holds the error of a failed run."""

    def on_task_queued(self, *, task: Any, context: ExecutionContext) -> None:
        """A task was put in the ready queue."""

    def on_task_start(self, *, task: Any, context: ExecutionContext) -> None:
        """A task attempt starts."""

    def on_task_end(
        self, *, task: Any, context: ExecutionContext, result: Any = None, error: BaseException | None = None
    ) -> None:
        """A task attempt ended, successfully when ``error`` is None."""

    def on_task_timed(
        self, task: Any, context: ExecutionContext, duration: float, error: BaseException | None = None
    ) -> None:
        """A task attempt ended after ``duration`` seconds, successfully when ``error`` is None.

        The duration runs on the monotonic clock from the attempt's start (its ``TaskExecutionContext``, made
        before the ``on_task_start`` listeners run) to the end of its handler. The event comes before
        ``on_task_end``; a hook that needs durations and nothing at the start listens to this alone, which costs
        the engine one call per task instead of two. Unlike the other events, the engine passes the
        arguments by position (the cheaper call, on every task), so keep their names and order.
        """

    def on_task_retry(
        self, *, task: Any, context: ExecutionContext, attempt: int, delay: float, error: BaseException
    ) -> None:
        """A failed attempt will be retried after ``delay`` seconds; ``attempt`` is the retry number (1-based)."""

    def on_dynamic_task_added(
        self,
        *,
        task_id: str,
        parent_task_id: str | None = None,
        is_iteration: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """A task was added at run time by ``next_task`` or ``next_iteration``."""

    def on_parallel_group_start(self, *, group_id: str, member_ids: list[str], context: ExecutionContext) -> None:
        """A parallel group starts its members."""

    def on_parallel_group_end(
        self, *, group_id: str, member_ids: list[str], context: ExecutionContext, results: dict[str, Any] | None = None
    ) -> None:
        """A parallel group finished; ``results`` maps member ids to ``TaskResult``."""

    def on_checkpoint(self, *, context: ExecutionContext, path: str, duration: float) -> None:
        """A checkpoint was written to ``path`` in ``duration`` seconds."""

    # Queue and worker events (emitted by distributed queues and workers) ------------------------------------------
    def on_task_dequeued(self, *, task_id: str, queue: str, wait_seconds: float, deliveries: int) -> None:
        """A worker took a task from ``queue`` ``wait_seconds`` after it was enqueued; ``deliveries`` >= 1."""

    def on_task_redelivered(self, *, task_id: str, queue: str, deliveries: int) -> None:
        """A task whose worker died or whose lease expired was handed out again."""

    def on_task_dead_lettered(self, *, task_id: str | None, queue: str, reason: str) -> None:
        """A task was moved to the dead-letter stream (``reason``: max_deliveries, bad_signature, undecodable ...)."""

    def on_payload_rejected(self, *, queue: str, reason: str) -> None:
        """A payload failed verification or decoding before deserialization."""

    def on_queue_depth(self, *, queue: str, depth: int) -> None:
        """The number of tasks waiting in ``queue`` was observed."""

    # Model calls (reported by graflow.llm) ------------------------------------------------------------------------
    def on_llm_call(self, *, event: Any, context: ExecutionContext, task_id: str | None = None) -> None:
        """A task of this run called a model, or ran an agent, and the call ended.

        ``event`` is a ``graflow.llm.events.LLMCallEvent`` (model, operation, duration, token counts, success,
        error type ...), reported after the call in the thread that made it, so the task that made it is still
        running there. ``task_id`` is that task's id (None when the call came from outside a task).
        """


EVENTS: tuple[str, ...] = tuple(name for name in vars(EngineHook) if name.startswith("on_"))

#: Events the engine emits once per task; a hook that sets ``passive = True`` receives none of them.
TASK_EVENTS = frozenset({"on_task_queued", "on_task_start", "on_task_end", "on_task_timed", "on_task_retry",
                         "on_dynamic_task_added"})


class HookSet:
    """Fans events out to hooks; a hook that raises is logged and skipped.

    For speed the set keeps, per event, the bound methods of the hooks that override it, so an event nobody
    listens to costs one attribute read in the engine (``if hooks.on_task_start:``).
    """

    on_workflow_start: tuple[Callable[..., Any], ...]
    on_workflow_end: tuple[Callable[..., Any], ...]
    on_task_queued: tuple[Callable[..., Any], ...]
    on_task_start: tuple[Callable[..., Any], ...]
    on_task_end: tuple[Callable[..., Any], ...]
    on_task_timed: tuple[Callable[..., Any], ...]
    on_task_retry: tuple[Callable[..., Any], ...]
    on_dynamic_task_added: tuple[Callable[..., Any], ...]
    on_parallel_group_start: tuple[Callable[..., Any], ...]
    on_parallel_group_end: tuple[Callable[..., Any], ...]
    on_checkpoint: tuple[Callable[..., Any], ...]
    on_task_dequeued: tuple[Callable[..., Any], ...]
    on_task_redelivered: tuple[Callable[..., Any], ...]
    on_task_dead_lettered: tuple[Callable[..., Any], ...]
    on_payload_rejected: tuple[Callable[..., Any], ...]
    on_queue_depth: tuple[Callable[..., Any], ...]
    on_llm_call: tuple[Callable[..., Any], ...]
    #: ``on_task_timed`` as one callable (the listener itself when there is one, else a fan-out that isolates
    #: failures), or None when nobody listens: the engine calls it by position on every task.
    task_timed: Callable[..., Any] | None

    def __init__(self, hooks: Iterable[EngineHook] = ()) -> None:
        self._hooks: list[EngineHook] = []
        for hook in hooks:
            if not any(h is hook for h in self._hooks):
                self._hooks.append(hook)
        self._rebuild()

    def add(self, hook: EngineHook) -> None:
        """Register ``hook`` (ignored when already registered)."""
        if any(h is hook for h in self._hooks):
            return
        self._hooks.append(hook)
        self._rebuild()

    def remove(self, hook: EngineHook) -> None:
        """Unregister ``hook`` if present."""
        self._hooks = [h for h in self._hooks if h is not hook]
        self._rebuild()

    def _rebuild(self) -> None:
        for event in EVENTS:
            listeners = []
            for hook in self._hooks:
                if event in TASK_EVENTS and getattr(hook, "passive", False):
                    continue
                method = getattr(type(hook), event, None)
                if method is None or method is getattr(EngineHook, event):
                    continue
                listener = getattr(hook, event)
                if listener is None:  # the instance opted out of an event its class handles
                    continue
                listeners.append(listener)
            setattr(self, event, tuple(listeners))
        self.task_timed = _one_call(self.on_task_timed)

    def __iter__(self) -> Iterator[EngineHook]:
        return iter(list(self._hooks))

    def __len__(self) -> int:
        return len(self._hooks)

    def __contains__(self, hook: object) -> bool:
        return any(h is hook for h in self._hooks)

    @staticmethod
    def fire(listeners: tuple[Callable[..., Any], ...], **kwargs: Any) -> None:
        """Call every listener with ``kwargs``, isolating failures."""
        for method in listeners:
            try:
                method(**kwargs)
            except Exception:  # a broken hook never breaks a run
                logger.exception("Hook %r failed", method)

    def emit(self, event: str, **kwargs: Any) -> None:
        """Call ``event`` on every hook that listens to it."""
        listeners = getattr(self, event, None)
        if listeners:
            self.fire(listeners, **kwargs)


def _one_call(listeners: tuple[Callable[..., Any], ...]) -> Callable[..., Any] | None:
    if not listeners:
        return None
    if len(listeners) == 1:
        return listeners[0]

    def fan_out(*args: Any) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:  # a broken hook never breaks a run, nor keeps the others from their event
                logger.exception("Hook %r failed", listener)

    return fan_out


__all__ = ["EVENTS", "TASK_EVENTS", "EngineHook", "HookSet"]
