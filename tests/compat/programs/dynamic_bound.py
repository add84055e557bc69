"""Bound task instances created inside a running task and queued with next_task (D7)."""

from graflow import task, workflow
from graflow.core.task import parallel

print("--- a parallel group of bound instances from inside a task ---")
with workflow("fan_out") as wf:

    @task(inject_context=True)
    def step(ctx, parent_path):
        return f"{parent_path}/step"

    @task(inject_context=True)
    def other(ctx, parent_path):
        return f"{parent_path}/other"

    @task(inject_context=True)
    def plan(ctx):
        p = "root"
        ctx.next_task(parallel(step(task_id="step_a", parent_path=p), other(task_id="other_a", parent_path=p)))
        return "planned"

    _, ctx = wf.execute("plan", ret_context=True)
    print("step_a:", ctx.get_result("step_a"))
    print("other_a:", ctx.get_result("other_a"))
    print("static graph unchanged:", sorted(wf.graph.nodes))

print("--- one bound instance from inside a task ---")
with workflow("single") as wf:

    @task(inject_context=True)
    def visit(ctx, parent_path, depth=0):
        if depth < 2:
            ctx.next_task(visit(task_id=f"visit_{depth + 1}", parent_path=f"{parent_path}/{depth + 1}",
                                depth=depth + 1))
        return parent_path

    @task(inject_context=True)
    def walk(ctx):
        ctx.next_task(visit(task_id="visit_0", parent_path="top"))
        return "walking"

    _, ctx = wf.execute("walk", ret_context=True)
    print("visited:", [ctx.get_result(f"visit_{d}") for d in range(3)])

print("--- auto ids for bound instances made inside a task ---")
with workflow("auto_ids") as wf:

    @task
    def double(x):
        return 2 * x

    @task(inject_context=True)
    def spawn(ctx):
        bound = double(x=21)
        ctx.next_task(bound)
        return bound.task_id.startswith("double_")

    result, ctx = wf.execute("spawn", ret_context=True)
    print("last result:", result)
    print("spawn saw an auto id:", ctx.get_result("spawn"))
