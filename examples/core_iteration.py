"""Iteration with ``next_iteration``: a task runs again with new data, bounded by ``max_cycles``.

Run it with ``python examples/core_iteration.py``. A Newton-style square-root refinement iterates until it
converges; a second task shows what happens when a loop asks for more cycles than its budget.
"""

from __future__ import annotations

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import CycleLimitExceededError


def converge(number: float) -> tuple[float, int]:
    with workflow("square_root") as wf:

        @task(inject_context=True, max_cycles=20)
        def refine(ctx: TaskExecutionContext, data: float | None = None) -> float:
            # The first run gets data=None; each next_iteration(value) runs the task again with data=value.
            guess = number / 2 if data is None else data
            better = (guess + number / guess) / 2
            ctx.get_channel().set("cycles", ctx.cycle_count)  # 1 on the first run, 2 on the next ...
            if abs(better - guess) > 1e-9 and ctx.can_iterate():
                ctx.next_iteration(better)
            else:
                ctx.next_task(report)  # converged: continue with the rest of the workflow
            return better

        @task(inject_context=True)
        def report(ctx: TaskExecutionContext) -> tuple[float, int]:
            # The base id holds the latest iteration's result.
            return round(ctx.get_result("refine"), 6), ctx.get_channel().get("cycles")

    # refine has no static successor: a successor would be queued after its first run, not after the loop.
    result: tuple[float, int] = wf.execute("refine")
    return result


def over_budget() -> str:
    with workflow("greedy") as wf:

        @task(inject_context=True, max_cycles=3)
        def greedy(ctx: TaskExecutionContext, data: int | None = None) -> None:
            ctx.next_iteration((data or 0) + 1)  # never checks can_iterate()

    try:
        wf.execute("greedy")
    except CycleLimitExceededError as e:
        return f"{type(e).__name__}: task {e.task_id} ran {e.cycle_count} of {e.max_cycles} cycles"
    return "no error"


def main() -> None:
    value, cycles = converge(2.0)
    print(f"sqrt(2) ~ {value} after {cycles} cycles")
    print(over_budget())


if __name__ == "__main__":
    main()
