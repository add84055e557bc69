"""Watching a run: the console tracer, the runtime graph, and an engine hook of your own.

Run it with ``python examples/core_tracing.py``. The console tracer prints one line per span; a small hook counts
events; the tracer's runtime graph tells what ran, in which order.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from graflow import RetryPolicy, task, workflow
from graflow.core.hooks import EngineHook
from graflow.core.task_context import TaskExecutionContext
from graflow.trace import ConsoleTracer


class EventCounter(EngineHook):
    """Counts engine events. Hooks override only what they need; every argument is keyword-only."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.statuses: list[str] = []

    def on_task_end(self, *, task: Any, context: Any, result: Any = None, error: BaseException | None = None) -> None:
        self.counts["failed attempts" if error else "finished tasks"] += 1

    def on_task_retry(self, *, task: Any, context: Any, attempt: int, delay: float, error: BaseException) -> None:
        self.counts["retries"] += 1

    def on_parallel_group_end(self, *, group_id: str, member_ids: list[str], context: Any,
                              results: dict[str, Any] | None = None) -> None:
        self.counts["groups"] += 1

    def on_workflow_end(self, *, workflow_name: str, context: Any, result: Any = None) -> None:
        self.statuses.append(f"{workflow_name}: {context.status}")


def main() -> None:
    tracer = ConsoleTracer(enable_colors=False)
    counter = EventCounter()
    flaky = {"failures": 1}

    with workflow("traced_report", tracer=tracer, hooks=[counter]) as wf:

        @task
        def load() -> list[int]:
            return [3, 1, 2]

        @task
        def smallest(load: list[int]) -> int:
            return min(load)

        @task
        def largest(load: list[int]) -> int:
            return max(load)

        @task(inject_context=True, retry_policy=RetryPolicy(max_retries=2, initial_interval=0.001))
        def publish(ctx: TaskExecutionContext) -> str:
            if flaky["failures"]:
                flaky["failures"] -= 1
                raise ConnectionError("publisher busy")
            return f"range {ctx.get_result('smallest')}..{ctx.get_result('largest')}"

        load >> (smallest | largest).set_group_name("stats") >> publish

    print("result:", wf.execute())
    print("events:", dict(sorted(counter.counts.items())))
    print("statuses:", counter.statuses)
    print("execution order:", tracer.get_execution_order())


if __name__ == "__main__":
    main()
