"""next_iteration: a task that runs again with new data, bounded by max_cycles (D8)."""

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.exceptions import CycleLimitExceededError, GraflowRuntimeError

print("--- optimizer converging ---")
with workflow("optimizer") as wf:
    seen: list[tuple[int, object]] = []

    @task(inject_context=True, max_cycles=10)
    def optimize(ctx, data=None):
        value = 100 if data is None else data
        seen.append((ctx.cycle_count, data))
        if value > 10 and ctx.can_iterate():
            ctx.next_iteration(value // 2)
            return None
        ctx.get_channel().set("best", value)
        return value

    result, ctx = wf.execute("optimize", ret_context=True)
    print("cycles:", seen)
    print("result:", result)
    print("best:", ctx.get_channel().get("best"))

print("--- loop while can_iterate ---")
with workflow("bounded") as wf:
    counts: list[int] = []

    @task(inject_context=True, max_cycles=5)
    def step(ctx, data=None):
        counts.append(ctx.cycle_count)
        if ctx.can_iterate():
            ctx.next_iteration((data or 0) + 1)
        return data

    wf.execute("step")
    print("cycle counts:", counts)

print("--- past the budget ---")
with workflow("too_many") as wf:

    @task(inject_context=True, max_cycles=3)
    def greedy(ctx, data=None):
        ctx.next_iteration(ctx.cycle_count)

    try:
        wf.execute("greedy")
    except CycleLimitExceededError as e:
        print("CycleLimitExceededError:", e)
        print("fields:", e.task_id, e.cycle_count, e.max_cycles)
    except GraflowRuntimeError as e:
        print(type(e).__name__, "caused by", type(e.cause).__name__, e.cause)

print("--- default max_cycles from the context ---")
with workflow("defaults") as wf:
    counts = []

    @task(inject_context=True)
    def spin(ctx, data=None):
        counts.append(ctx.cycle_count)
        if ctx.can_iterate():
            ctx.next_iteration()

    wf.execute("spin")
    print("default budget cycles:", counts[-1])
    counts.clear()
    engine = WorkflowEngine()
    engine.execute(ExecutionContext.create(wf.graph, "spin", default_max_cycles=4))
    print("default_max_cycles=4 cycles:", counts[-1])

print("--- result of the base task id (D8) ---")
with workflow("base_result") as wf:

    @task(inject_context=True, max_cycles=3)
    def refine(ctx, data=None):
        value = (data or 0) + 1
        if ctx.can_iterate():
            ctx.next_iteration(value)
        return value

    result, ctx = wf.execute("refine", ret_context=True)
    print("last result:", result)
    print("get_result('refine'):", ctx.get_result("refine"))

print("--- static successors of an iterating task (D1) ---")
with workflow("successors") as wf:
    trail: list[str] = []

    @task(inject_context=True, max_cycles=3)
    def loop(ctx, data=None):
        trail.append(f"loop{ctx.cycle_count}")
        if ctx.can_iterate():
            ctx.next_iteration()

    @task
    def summarize():
        trail.append("summarize")

    loop >> summarize
    wf.execute("loop")
    print("trail:", trail)
