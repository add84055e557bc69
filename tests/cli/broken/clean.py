"""A workflow `graflow validate` finds nothing wrong with: it is run by the tests too."""

from __future__ import annotations

from typing import TypedDict

from graflow import task, workflow
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy
from graflow.core.task_context import TaskExecutionContext


class Totals(TypedDict):
    total: float
    count: int


@task
def archive(summary: float) -> str:
    # a template: defined outside the workflow block, only its bound instances are tasks of the workflow
    return f"archived {summary:.2f}"


with workflow("clean_etl") as wf:

    @task
    def extract() -> list[float]:
        return [120.5, 80.0, 42.25]

    @task
    def summarize(extract: list[float]) -> Totals:
        return {"total": sum(extract), "count": len(extract)}

    @task
    def report(total: float, count: int, currency: str = "EUR") -> str:
        # total and count come from the triggering task's TypedDict result
        return f"{count} sales, {total:.2f} {currency}"

    @task(inject_context=True)
    def refine(ctx: TaskExecutionContext, data: int | None = None) -> int:
        # a loop that ends itself: it takes its context and stops iterating
        value = (data or 0) + 1
        if value < 3 and ctx.can_iterate():
            ctx.next_iteration(value)
        return value

    @task
    def north() -> int:
        return 1

    @task
    def south() -> int:
        return 2

    regions = (north | south).with_execution(policy=AtLeastNGroupPolicy(1))
    stored = archive(task_id="store", summary=summarize.outputs["total"])
    extract >> summarize >> report >> stored >> refine >> regions
