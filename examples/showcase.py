"""Graflow showcase: an order-processing workflow on the embedded engine (local, in-memory, no server).

Run it with ``make demo`` or ``python examples/showcase.py``. It prints the graph, what ran and in which order,
and the results.
"""

from __future__ import annotations

import random

from graflow import RetryPolicy, task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.utils.graph import draw_mermaid

ORDERS = [
    {"id": 1, "sku": "book", "qty": 2, "price": 12.5},
    {"id": 2, "sku": "lamp", "qty": 1, "price": 40.0},
    {"id": 3, "sku": "book", "qty": 5, "price": 12.5},
    {"id": 4, "sku": "desk", "qty": 1, "price": 250.0},
]


def build() -> object:
    flaky_calls = {"n": 0}

    # Defined outside the workflow block: it is not part of the static graph; report adds it at run time.
    @task(inject_context=True, max_cycles=5)
    def review(ctx: TaskExecutionContext, data: object = None) -> str:
        # Iterate until a (simulated) reviewer is satisfied, at most max_cycles times.
        ctx.get_channel().append("review_rounds", ctx.cycle_count)
        if ctx.cycle_count < 3 and ctx.can_iterate():
            ctx.next_iteration()
        return f"approved after {ctx.cycle_count} rounds"

    with workflow("order_pipeline") as wf:

        @task
        def fetch_orders() -> dict[str, list[dict[str, object]]]:
            return {"orders": ORDERS}

        @task
        def total_revenue(orders: list[dict[str, float]]) -> float:
            return sum(o["qty"] * o["price"] for o in orders)

        @task
        def units_per_sku(orders: list[dict[str, object]]) -> dict[str, int]:
            units: dict[str, int] = {}
            for o in orders:
                units[str(o["sku"])] = units.get(str(o["sku"]), 0) + int(o["qty"])  # type: ignore[call-overload]
            return units

        @task(inject_context=True, retry_policy=RetryPolicy(max_retries=3, initial_interval=0.01))
        def exchange_rate(ctx: TaskExecutionContext) -> float:
            # A flaky remote call: fails twice, then answers. Retries wait without blocking other tasks.
            ctx.get_channel().append("rate_attempts", ctx.retry_count)
            flaky_calls["n"] += 1
            if flaky_calls["n"] < 3:
                raise ConnectionError("rate service unavailable")
            return 1.1

        @task(inject_context=True)
        def report(ctx: TaskExecutionContext) -> dict[str, object]:
            revenue = ctx.get_result("total_revenue")
            rate = ctx.get_result("exchange_rate")
            summary = {
                "revenue_eur": round(revenue, 2),
                "revenue_usd": round(revenue * rate, 2),
                "units": ctx.get_result("units_per_sku"),
            }
            if revenue > 300:
                # Define-by-run: decide at run time to add a review step.
                ctx.next_task(review)
            return summary

        fetch_orders >> (total_revenue | units_per_sku | exchange_rate).set_group_name("analyse") >> report
    return wf


def main() -> None:
    random.seed(0)
    wf = build()
    print("== Graph ==")
    wf.show_info()
    print()
    print("== Mermaid ==")
    print(draw_mermaid(wf.graph.nx_graph(), title="order_pipeline"))
    result, ctx = wf.execute(ret_context=True)
    print("== What ran, in order ==")
    for step, task_id in enumerate(ctx.execution_log, 1):
        node = ctx.graph.get_node(task_id)
        if getattr(node, "is_parallel_group", False):  # a group stands for its members, which ran side by side
            members = ", ".join(member.task_id for member in node.tasks)
            print(f"{step:2d}. {task_id} (in parallel: {members})")
        else:
            print(f"{step:2d}. {task_id}")
    print()
    print("== Results ==")
    print(f"status:            {ctx.status}")
    print(f"report:            {ctx.get_result('report')}")
    print(f"review:            {ctx.get_result('review')}")
    print(f"review rounds:     {ctx.channel.get('review_rounds')}")
    attempts = ctx.channel.get("rate_attempts")
    print(f"exchange rate:     {ctx.get_result('exchange_rate')} after {len(attempts)} attempts {attempts}")
    print(f"last task result:  {result}")


if __name__ == "__main__":
    main()
