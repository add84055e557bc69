"""Running tasks in their own Python process with ``SubprocessTaskHandler``.

Run it with ``python examples/handlers_subprocess.py``. A task picks the handler by name
(``@task(handler="subprocess")``); the handler is registered once on the workflow and is used wherever the workflow
runs tasks, members of parallel groups included. The task's inputs are resolved by the run and sent along; its
result, the values it writes to the channel and the tasks it schedules come back. ``timeout=`` stops a task that
runs too long: the handler ends its process (and anything it started) and raises ``TaskTimeoutError``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import TaskTimeoutError
from graflow.handlers import SubprocessTaskHandler


def build() -> Any:
    with workflow("isolated_scoring") as wf:

        @task
        def load() -> list[int]:
            return [4, 8, 15, 16, 23, 42]

        @task(handler="subprocess", inject_context=True)
        def score(ctx: TaskExecutionContext, load: list[int]) -> int:
            # runs in a fresh interpreter: a crash or a leak here cannot take the run down with it
            ctx.get_channel().set("score_pid", os.getpid())  # a channel write: it comes back to the run
            return sum(value * value for value in load)

        @task
        def count(load: list[int]) -> int:
            return len(load)

        @task
        def summary(score: int, count: int) -> str:
            return f"score {score} over {count} values"

        load >> (score | count) >> summary
    return wf


def build_slow() -> Any:
    with workflow("bounded") as wf:

        @task(handler="subprocess", timeout=1)
        def slow_model() -> str:
            time.sleep(60)  # stands for a call that hangs
            return "never"

    return wf


def main() -> None:
    wf = build()
    wf.register_handler("subprocess", SubprocessTaskHandler())
    result, ctx = wf.execute(ret_context=True)
    print(result)
    print("score ran in its own process:", ctx.channel.get("score_pid") != os.getpid())

    slow = build_slow()
    slow.register_handler("subprocess", SubprocessTaskHandler())
    try:
        slow.execute()
    except TaskTimeoutError as e:
        print(f"stopped: {e}")


if __name__ == "__main__":
    main()
