"""What the engine needs to know about a task function, worked out once: which parameters keyword resolution
fills (D11), where iteration data goes (D8), which parameters receive LLM injection (D14); plus the checks that
reject task options which could only fail later, and the runner of ``async def`` tasks."""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: What the engine needs to know of a task function's parameters (see ``_analyse_signature``).
_Signature = tuple[tuple[tuple[str, bool], ...], bool, bool, frozenset[str], str | None, tuple[tuple[str, bool], ...]]


def llm_param(params: Sequence[inspect.Parameter], exact: str, annotation: str, fallback: str) -> str:
    """D14: the injected parameter is ``exact``, else the one annotated ``annotation``, else ``fallback``."""
    names = [p.name for p in params]
    if exact in names:
        return exact
    for p in params:
        ann = p.annotation
        ann_name = ann if isinstance(ann, str) else getattr(ann, "__name__", "")
        if ann_name.split(".")[-1] == annotation:
            return p.name
    if fallback in names:
        return fallback
    return exact


_SIGNATURE_CACHE_SIZE = 4096
_signature_by_code: dict[Any, _Signature] = {}


def _frozen(mapping: dict[str, Any] | None) -> Any:
    return tuple(sorted(mapping.items())) if mapping else None


@functools.lru_cache(maxsize=_SIGNATURE_CACHE_SIZE)
def _analyse_signature(
    func: Callable[..., Any], inject_context: bool, inject_llm_client: bool, inject_llm_agent: bool
) -> _Signature:
    """Parameters of ``func`` that keyword resolution fills (cached per function: many tasks share one)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        params = []
    if inject_context and params and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        params = params[1:]
    skip = set()
    if inject_llm_client:
        skip.add(llm_param(params, "llm_client", "LLMClient", "llm"))
    if inject_llm_agent:
        skip.add(llm_param(params, "llm_agent", "LLMAgent", "agent"))
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    resolvable = tuple(
        (p.name, p.default is not inspect.Parameter.empty) for p in params if p.kind in kinds and p.name not in skip
    )
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    names = frozenset(p.name for p in params)
    data_param: str | None
    if inject_context:  # iteration data arrives as the positional argument after the context
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                      inspect.Parameter.VAR_POSITIONAL)
        accepts_data = any(p.kind in positional for p in params)
        data_param = params[0].name if accepts_data and params[0].kind in positional[:2] else None
    else:  # D8: as the keyword argument ``data``
        accepts_data = "data" in names or var_kw
        data_param = "data"
    # what resolution fills when an iteration passes data: everything but the parameter that receives it (D8)
    without_data = tuple(p for p in resolvable if p[0] != data_param)
    return resolvable, var_kw, accepts_data, names, data_param, without_data


def run_coroutine(coroutine: Any) -> Any:
    """Run an ``async def`` task's coroutine to completion and return its value.

    The engine is synchronous: a coroutine runs on a fresh event loop, or on a helper thread's loop when this
    thread already runs one (``wf.execute()`` called from async code).
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graflow-async") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _validate_task_options(
    task_id: Any, func: Any, max_cycles: Any, max_retries: Any, retry_policy: Any, timeout: Any = None,
    handler_type: str | None = None,
) -> None:
    """Reject options that could only fail later, naming the task and the option."""
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f"A task id must be a non-empty string, got {task_id!r}")
    if not callable(func):
        raise TypeError(f"Task '{task_id}' needs a callable, got {type(func).__name__}")
    if isinstance(func, type):
        raise TypeError(f"Task '{task_id}': @task decorates functions, not classes ({func.__name__})")
    for name, value in (("max_cycles", max_cycles), ("max_retries", max_retries)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"Task '{task_id}': {name} must be an int >= 0, got {value!r}")
    if retry_policy is not None and not hasattr(retry_policy, "max_retries"):
        raise TypeError(f"Task '{task_id}': retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}")
    if timeout is not None:
        _check_timeout(task_id, timeout, handler_type or "direct")


def _check_timeout(task_id: str, timeout: Any, handler_type: str) -> None:
    """``timeout`` must be a positive number of seconds. The in-process handler cannot stop a running function, so
    a timeout on a task it runs is ignored: say so once, when the task is made, not on every run."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise ValueError(f"Task '{task_id}': timeout must be a positive number of seconds, got {timeout!r}")
    if handler_type == "direct":
        logger.warning(
            "Task '%s' has timeout=%gs but runs in-process (handler 'direct'), which cannot stop it: the timeout is "
            "ignored. Run it with a handler that uses another process, e.g. @task(handler=\"subprocess\") with "
            "SubprocessTaskHandler registered under that name.", task_id, timeout,
        )


__all__ = ["llm_param", "run_coroutine"]
