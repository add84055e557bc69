"""The ``@task`` decorator in every form: ``@task``, ``@task()``, ``@task("id")``, ``@task(id=...)``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from graflow.core.task import TaskWrapper

if TYPE_CHECKING:
    from graflow.core.retry import RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")


@overload
def task(id_or_func: Callable[P, R]) -> TaskWrapper[P, R]: ...


@overload
def task(
    id_or_func: str | None = None,
    *,
    id: str | None = None,  # noqa: A002 - upstream keyword
    task_id: str | None = None,
    inject_context: bool = False,
    inject_llm_client: bool = False,
    inject_llm_agent: str | None = None,
    handler: str | None = None,
    resolve_keyword_args: bool = True,
    max_cycles: int | None = None,
    max_retries: int | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[P, R]], TaskWrapper[P, R]]: ...


def task(
    id_or_func: Any = None,
    *,
    id: str | None = None,  # noqa: A002 - upstream keyword
    task_id: str | None = None,
    inject_context: bool = False,
    inject_llm_client: bool = False,
    inject_llm_agent: str | None = None,
    handler: str | None = None,
    resolve_keyword_args: bool = True,
    max_cycles: int | None = None,
    max_retries: int | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Any:
    """Turn a function into a :class:`TaskWrapper`.

    Args:
        id_or_func: The function (bare ``@task``) or the task id (``@task("my_id")``).
        id: The task id; defaults to the function's name. ``task_id=`` is accepted as an alias (D7).
        inject_context: Pass the ``TaskExecutionContext`` as the first positional argument.
        inject_llm_client: Inject the context's LLM client (D14: ``llm_client``, or the parameter annotated
            ``LLMClient``, or ``llm``).
        inject_llm_agent: Inject the registered agent of this name (``llm_agent``, or annotated ``LLMAgent``, or
            ``agent``).
        handler: Name of the task handler that runs this task (default ``"direct"``).
        resolve_keyword_args: Fill parameters from the channel (D11).
        max_cycles: Budget of ``next_iteration`` cycles for this task.
        max_retries: Retries after a failure.
        retry_policy: Backoff policy; its ``max_retries`` wins over ``max_retries``.
        timeout: Seconds the task may run before its handler stops it and raises ``TaskTimeoutError``. Honoured by
            handlers that run the task in another process (``subprocess``, ``docker``), where it wins over the
            handler's own default; the in-process ``direct`` handler cannot stop a task and ignores it (with a
            warning logged when the task is made).
    """
    if id is not None and task_id is not None and id != task_id:
        raise TypeError(f"@task got both id={id!r} and task_id={task_id!r}; use one")
    explicit_id = id if id is not None else task_id
    if isinstance(id_or_func, str):
        if explicit_id is not None and explicit_id != id_or_func:
            raise TypeError(f"@task got the id twice: {id_or_func!r} and {explicit_id!r}")
        explicit_id = id_or_func
        id_or_func = None
    elif id_or_func is not None and not callable(id_or_func):
        raise TypeError(f"@task expects a function or a task id string, got {type(id_or_func).__name__}")

    def decorate(func: Callable[P, R]) -> TaskWrapper[P, R]:
        if isinstance(func, TaskWrapper):
            raise TypeError(f"'{func.task_id}' is already a task; apply @task once")
        if not callable(func):
            raise TypeError(f"@task can only decorate a callable, got {type(func).__name__}")
        name = explicit_id or getattr(func, "__name__", None) or str(uuid.uuid4().int)
        if name == "<lambda>" and explicit_id is None:
            name = f"lambda_{uuid.uuid4().hex[:8]}"
        return TaskWrapper(
            name,
            func,
            inject_context=inject_context,
            inject_llm_client=inject_llm_client,
            inject_llm_agent=inject_llm_agent,
            handler_type=handler,
            resolve_keyword_args=resolve_keyword_args,
            max_cycles=max_cycles,
            max_retries=max_retries,
            retry_policy=retry_policy,
            timeout=timeout,
        )

    if id_or_func is not None:
        return decorate(id_or_func)
    return decorate


__all__ = ["task"]
