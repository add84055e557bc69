"""Retries: a flaky task that succeeds after transient failures, back-off policies, and running out of retries.

Run it with ``python examples/core_retries.py``. The back-off intervals are a few milliseconds so it finishes at
once; a retry waiting out its delay never blocks other ready tasks.
"""

from __future__ import annotations

from graflow import RetryPolicy, task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowRuntimeError, RetryLimitExceededError

FAST_BACKOFF = RetryPolicy(max_retries=3, initial_interval=0.005, backoff_factor=2.0, max_interval=0.05)


def flaky_download() -> tuple[str, list[int]]:
    failures = {"left": 2}
    with workflow("download") as wf:

        @task(inject_context=True, retry_policy=FAST_BACKOFF)
        def download(ctx: TaskExecutionContext) -> str:
            # Channel writes of failed attempts stay, so the attempts can be audited afterwards.
            ctx.get_channel().append("attempts", ctx.retry_count)
            if failures["left"] > 0:
                failures["left"] -= 1
                raise ConnectionError("mirror timed out")
            return f"downloaded on retry {ctx.retry_count} of {ctx.max_retries}"

    result, ctx = wf.execute("download", ret_context=True)
    return result, ctx.get_channel().get("attempts")


def always_failing() -> str:
    with workflow("broken") as wf:

        @task(max_retries=2)
        def parse() -> None:
            raise ValueError("corrupt header")

    try:
        wf.execute("parse")
    except RetryLimitExceededError as e:
        return f"{e} -- last error: {e.last_error!r}"
    return "no error"


def without_retries() -> str:
    with workflow("no_retries") as wf:

        @task
        def divide() -> float:
            return 1 / 0

    try:
        wf.execute("divide")
    except GraflowRuntimeError as e:
        # The task's own exception is kept as the cause.
        return f"{type(e).__name__}: {e} [cause: {type(e.cause).__name__}]"
    return "no error"


def main() -> None:
    print("delays of the policy:", [FAST_BACKOFF.get_delay(n) for n in range(4)])
    result, attempts = flaky_download()
    print(result, "| retry_count per attempt:", attempts)
    print(always_failing())
    print(without_retries())


if __name__ == "__main__":
    main()
