"""Run a group's members at the same time on a thread pool that lives as long as the process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from graflow import defaults
from graflow.coordination.coordinator import TaskCoordinator

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.handler import TaskResult
    from graflow.core.handlers.group_policy import GroupExecutionPolicy
    from graflow.core.task import Executable

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_in_pool = threading.local()


def _shared_pool(size: int) -> ThreadPoolExecutor:
    """One pool per size per process: groups reuse threads instead of starting a pool per group."""
    pool = _pools.get(size)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(size)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"graflow-group-{size}",
                                          initializer=_mark_pool_thread)
                _pools[size] = pool
    return pool


def _mark_pool_thread() -> None:
    _in_pool.flag = True


class ThreadingCoordinator(TaskCoordinator):
    """Members run concurrently in a pool of ``thread_count`` threads (default ``min(32, cpu_count + 4)``)."""

    def __init__(self, thread_count: int | None = None) -> None:
        if thread_count is not None and thread_count < 1:
            raise ValueError(f"thread_count must be >= 1, got {thread_count}")
        self.thread_count = thread_count or defaults.default_thread_count()

    def execute_group(
        self,
        group_id: str,
        tasks: Sequence[Executable],
        execution_context: ExecutionContext,
        policy: GroupExecutionPolicy,
    ) -> dict[str, TaskResult]:
        branches = [execution_context.create_branch_context(t.task_id) for t in tasks]
        if getattr(_in_pool, "flag", False):
            # A group nested inside a member: waiting on the shared pool from one of its own threads could
            # deadlock when the pool is full, so nested groups get a pool of their own.
            with ThreadPoolExecutor(max_workers=min(self.thread_count, len(tasks)),
                                    initializer=_mark_pool_thread) as pool:
                futures = [pool.submit(self.run_member, t, b) for t, b in zip(tasks, branches, strict=True)]
                results = [f.result() for f in futures]
        else:
            pool = _shared_pool(self.thread_count)
            futures_: list[Future[TaskResult]] = [
                pool.submit(self.run_member, t, b) for t, b in zip(tasks, branches, strict=True)
            ]
            results = [f.result() for f in futures_]
        for branch in branches:
            execution_context.merge_results(branch)
        return {r.task_id: r for r in results}


__all__ = ["ThreadingCoordinator"]
