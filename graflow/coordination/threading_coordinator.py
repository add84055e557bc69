"""Run a group's members at the same time on a thread pool that lives as long as the process."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
        # One runner per thread pulls members from a shared queue, instead of one future per member: a group of
        # 100 members costs as many futures as it has threads, and members start as soon as a runner is free.
        pending: deque[int] = deque(range(len(tasks)))
        results: list[TaskResult | None] = [None] * len(tasks)
        branches: list[ExecutionContext | None] = [None] * len(tasks)

        def runner() -> None:
            while True:
                try:
                    index = pending.popleft()
                except IndexError:
                    return
                member = tasks[index]
                branch = execution_context.create_branch_context(member.task_id)
                branches[index] = branch
                results[index] = self.run_member(member, branch)

        runners = min(self.thread_count, len(tasks))
        if getattr(_in_pool, "flag", False):
            # A group nested inside a member: waiting on the shared pool from one of its own threads could
            # deadlock when the pool is full, so nested groups get a pool of their own.
            with ThreadPoolExecutor(max_workers=runners, initializer=_mark_pool_thread) as pool:
                _wait_all([pool.submit(runner) for _ in range(runners)])
        else:
            pool = _shared_pool(self.thread_count)
            _wait_all([pool.submit(runner) for _ in range(runners)])
        for branch in branches:
            if branch is not None:
                execution_context.merge_results(branch)
        return {r.task_id: r for r in results if r is not None}


def _wait_all(futures: list[Future[None]]) -> None:
    """Wait for every runner, then raise the first error (a member that paused the run): no member is left running
    behind the group's back."""
    wait(futures)
    for future in futures:
        future.result()


__all__ = ["ThreadingCoordinator"]
