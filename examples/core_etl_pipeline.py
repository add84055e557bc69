"""A small ETL pipeline: tasks, ``>>`` and ``|``, results flowing by parameter name, and the channel.

Run it with ``python examples/core_etl_pipeline.py``. It extracts a few sales records, cleans them, computes two
aggregates in parallel, and prints a report.
"""

from __future__ import annotations

from typing import Any

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.core.workflow import WorkflowContext

RAW_SALES = [
    {"region": "north", "amount": "120.5"},
    {"region": "south", "amount": "80"},
    {"region": "north", "amount": "n/a"},
    {"region": "east", "amount": "42.25"},
]


def build() -> WorkflowContext:
    with workflow("sales_etl") as wf:

        @task
        def extract() -> list[dict[str, str]]:
            return RAW_SALES

        @task(inject_context=True)
        def clean(ctx: TaskExecutionContext, extract: list[dict[str, str]]) -> list[dict[str, Any]]:
            # A parameter named after an upstream task receives that task's result.
            rows = []
            for row in extract:
                try:
                    rows.append({"region": row["region"], "amount": float(row["amount"])})
                except ValueError:
                    ctx.get_channel().append("rejected", row)
            return rows

        @task
        def total(clean: list[dict[str, Any]]) -> float:
            return sum(row["amount"] for row in clean)

        @task
        def by_region(clean: list[dict[str, Any]]) -> dict[str, float]:
            sums: dict[str, float] = {}
            for row in clean:
                sums[row["region"]] = sums.get(row["region"], 0.0) + row["amount"]
            return sums

        @task(inject_context=True)
        def report(ctx: TaskExecutionContext, currency: str = "EUR") -> str:
            # `currency` comes from the channel key of the same name when there is one, else the default.
            lines = [f"total: {ctx.get_result('total'):.2f} {currency}"]
            for region, amount in sorted(ctx.get_result("by_region").items()):
                lines.append(f"  {region}: {amount:.2f}")
            lines.append(f"rejected rows: {len(ctx.get_channel().get('rejected', []))}")
            return "\n".join(lines)

        # extract, then clean, then total and by_region side by side, then report once both are done.
        extract >> clean >> (total | by_region) >> report
    return wf


def main() -> None:
    wf = build()
    result, ctx = wf.execute("extract", ret_context=True, initial_channel={"currency": "USD"})
    print(result)
    print("results are kept per task:", ctx.get_result("total"))


if __name__ == "__main__":
    main()
