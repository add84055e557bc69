"""How a running task asks for feedback: the bridge between ``TaskExecutionContext.request_feedback`` and the
:class:`~graflow.hitl.manager.FeedbackManager`.

The engine reaches these functions by registry name (``graflow.core.registry``: kinds ``hitl`` and
``feedback_manager``), so the engine core never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graflow.hitl.manager import FeedbackManager

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task_context import TaskExecutionContext
    from graflow.hitl.types import FeedbackResponse


def default_manager(ctx: ExecutionContext) -> FeedbackManager:
    """The manager a run uses unless one is set: Redis when its channel is Redis, else the ``feedback_data``
    folder (spec 10.5)."""
    if ctx.channel_backend == "redis":
        config: dict[str, Any] = dict(ctx.options.config)
        client = ctx.get_redis_client() or getattr(ctx.channel, "redis_client", None)
        if client is not None:
            config["redis_client"] = client
        return FeedbackManager("redis", config, channel_manager=ctx.channel)
    return FeedbackManager("filesystem", None, channel_manager=ctx.channel)


def request_feedback(
    tctx: TaskExecutionContext,
    feedback_type: Any,
    prompt: str,
    *,
    options: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    timeout: float = 180.0,
    channel_key: str | None = None,
    write_to_channel: bool = False,
    handler: Any = None,
) -> FeedbackResponse:
    """Ask on behalf of the running task; see ``TaskExecutionContext.request_feedback``.

    The request's position within the task's current run (0 for the first) and the run's ``feedback_ids`` pick the
    id: a resumed task asking again gets the id, and so the answer, of its earlier request at that position.
    """
    ctx = tctx.execution_context
    control = tctx.control
    position = control.feedback_requests
    control.feedback_requests += 1
    return ctx.feedback_manager.request_feedback(  # type: ignore[no-any-return]
        tctx.task_id,
        ctx.session_id,
        feedback_type,
        prompt,
        options=options,
        metadata=metadata,
        timeout=timeout,
        channel_key=channel_key,
        write_to_channel=write_to_channel,
        handler=handler,
        channel=ctx.channel,
        position=position,
        resume_ids=ctx.feedback_ids,
    )


__all__ = ["default_manager", "request_feedback"]
