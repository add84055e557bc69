"""Define-by-run control: a router that adds tasks at run time, a goto loop, and early termination.

Run it with ``python examples/core_dynamic_router.py``. Three small workflows show the three ways a task can
change what runs next.
"""

from __future__ import annotations

from graflow import task, workflow
from graflow.core.task import TaskWrapper
from graflow.core.task_context import TaskExecutionContext


def router_demo(ticket: dict[str, str]) -> list[str]:
    """``next_task(new_task)`` adds a task for this run; the router's own successors still run."""
    calls: list[str] = []
    with workflow("support_router") as wf:

        @task(inject_context=True)
        def route(ctx: TaskExecutionContext, ticket: dict[str, str]) -> str:
            queue = "billing" if "invoice" in ticket["text"] else "general"

            def answer() -> str:
                calls.append(f"answer via {queue}")
                return queue

            # A task created while the run is going exists only in this run (the workflow is unchanged).
            ctx.next_task(TaskWrapper(f"answer_{queue}", answer))
            calls.append("route")
            return queue

        @task
        def close_ticket() -> None:
            calls.append("close_ticket")

        route >> close_ticket
    wf.execute("route", initial_channel={"ticket": ticket})
    return calls


def goto_demo() -> str:
    """``next_task(existing_task)`` jumps back to a task of the graph, skipping the static successors."""
    with workflow("poll_until_ready") as wf:

        @task(inject_context=True)
        def poll(ctx: TaskExecutionContext) -> int:
            return ctx.get_channel().atomic_add("polls", 1)

        @task(inject_context=True)
        def check(ctx: TaskExecutionContext, poll: int) -> str:
            if poll < 3:
                ctx.next_task(poll_task)  # poll is already a node: jump back to it
                return "not ready"
            return f"ready after {poll} polls"

        @task
        def publish(check: str) -> str:
            return f"published: {check}"

        poll_task = poll
        poll >> check >> publish
    return wf.execute("poll")


def terminate_demo(amount: int) -> tuple[object, str | None]:
    """``terminate_workflow`` ends the run successfully after the current task; nothing else runs."""
    with workflow("refund") as wf:

        @task(inject_context=True)
        def validate(ctx: TaskExecutionContext, amount: int) -> str:
            if amount == 0:
                ctx.terminate_workflow("nothing to refund")
            return f"refund of {amount} validated"

        @task
        def pay_out(amount: int) -> str:
            return f"paid {amount}"

        validate >> pay_out
    result, ctx = wf.execute("validate", ret_context=True, initial_channel={"amount": amount})
    return result, ctx.ctrl_message


def main() -> None:
    print("router:", router_demo({"text": "my invoice is wrong"}))
    print("router:", router_demo({"text": "hello"}))
    print("goto loop:", goto_demo())
    print("terminate:", terminate_demo(0))
    print("no terminate:", terminate_demo(25))


if __name__ == "__main__":
    main()
