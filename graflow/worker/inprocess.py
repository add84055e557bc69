"""Workers for tests, examples and notebooks: in this process (threads) or as child processes.

``run_workers`` starts ``TaskWorker`` instances in this process and stops them on exit; ``spawn_worker`` starts
``python -m graflow.worker.main`` as a child process, the way production runs workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from graflow import defaults


@contextmanager
def run_workers(
    redis_client: Any,
    key_prefix: str = defaults.REDIS_KEY_PREFIX,
    count: int = 1,
    *,
    lease_timeout: float | None = None,
    max_deliveries: int | None = None,
    stop_timeout: float = 10.0,
    **worker_options: Any,
) -> Iterator[list[Any]]:
    """Run ``count`` workers on ``key_prefix`` while the block runs; yields them.

    Extra keyword arguments go to :class:`~graflow.worker.worker.TaskWorker` (``max_concurrent_tasks``,
    ``handlers``, ``hooks`` ...).
    """
    from graflow.distributed.queue import DistributedTaskQueue
    from graflow.worker.worker import TaskWorker

    workers = []
    for index in range(count):
        queue = DistributedTaskQueue(
            redis_client, key_prefix=key_prefix, lease_timeout=lease_timeout, max_deliveries=max_deliveries
        )
        workers.append(TaskWorker(queue, f"inprocess-{os.getpid()}-{index}", **worker_options))
    for worker in workers:
        worker.start()
    try:
        yield workers
    finally:
        import threading

        # Stop them together: each stop waits for its fetch thread's blocking read to return.
        stoppers = [threading.Thread(target=w.stop, args=(stop_timeout,)) for w in workers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()


def spawn_worker(
    redis_url: str,
    key_prefix: str = defaults.REDIS_KEY_PREFIX,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    **popen_options: Any,
) -> subprocess.Popen[bytes]:
    """Start ``python -m graflow.worker.main`` for ``redis_url`` and ``key_prefix`` as a child process.

    The child inherits this process's ``sys.path`` through ``PYTHONPATH``, so task functions defined in modules
    importable here are importable there.
    """
    child_env = {**os.environ, **(env or {})}
    paths = [p for p in sys.path if p]
    child_env["PYTHONPATH"] = os.pathsep.join([*paths, child_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    args = [
        sys.executable,
        "-m",
        "graflow.worker.main",
        "--redis-url",
        redis_url,
        "--redis-key-prefix",
        key_prefix,
        *extra_args,
    ]
    return subprocess.Popen(args, env=child_env, **popen_options)


__all__ = ["run_workers", "spawn_worker"]
