"""Parallel groups: running members side by side, choosing a backend, and deciding when a group has failed.

Run it with ``python examples/core_parallel_policies.py``. Three price sources are queried in parallel; one of
them is down. Each error policy reaches a different verdict on the same outcome.
"""

from __future__ import annotations

from typing import Any

from graflow import task, workflow
from graflow.core.handlers.group_policy import AtLeastNGroupPolicy, CriticalGroupPolicy
from graflow.core.task import ParallelGroup
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import ParallelGroupError

PRICES = {"source_a": 101.0, "source_b": 99.5, "source_c": None}  # source_c is down


def quote(source: str) -> Any:
    @task(source, inject_context=True)
    def fetch(ctx: TaskExecutionContext) -> float:
        price = PRICES[source]
        if price is None:
            raise ConnectionError(f"{source} unreachable")
        ctx.get_channel().append("quotes", price)  # members share the workflow's channel
        return price

    return fetch


def run(policy: Any, backend: str = "threading") -> str:
    with workflow("best_price") as wf:

        @task(inject_context=True)
        def pick(ctx: TaskExecutionContext) -> str:
            return f"best price {min(ctx.get_channel().get('quotes'))}"

        sources = ParallelGroup([quote(s) for s in PRICES], name="quotes")
        sources.with_execution(backend=backend, policy=policy) >> pick
    try:
        return wf.execute("quotes")
    except ParallelGroupError as e:
        failed = sorted(task_id for task_id, _ in e.failed_tasks)
        return f"group failed: {e} (failed: {failed}, succeeded: {sorted(e.successful_tasks)})"


def main() -> None:
    print("strict:      ", run("strict"))
    print("best_effort: ", run("best_effort"))
    print("at least 2:  ", run(AtLeastNGroupPolicy(2)))
    print("at least 3:  ", run(AtLeastNGroupPolicy(3)))
    print("critical a:  ", run(CriticalGroupPolicy(["source_a"])))
    print("critical c:  ", run(CriticalGroupPolicy(["source_c"])))
    print("direct:      ", run("best_effort", backend="direct"))


if __name__ == "__main__":
    main()
