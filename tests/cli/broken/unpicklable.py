"""Broken for Redis workers only: a task is bound to a lock, which cannot be pickled."""

import threading

from graflow import task, workflow

LOCK = threading.Lock()


@task
def append(lock: threading.Lock, produce: int) -> int:
    with lock:
        return produce + 1


with workflow("unpicklable") as wf:

    @task
    def produce() -> int:
        return 1

    produce >> append(task_id="guarded_append", lock=LOCK)
