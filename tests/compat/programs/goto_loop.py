"""Loops built with next_task: a goto back to an earlier task, cycle counts, and max_steps (D6)."""

from graflow import task, workflow

log: list[str] = []

print("--- goto loop until a condition ---")
with workflow("poll") as wf:

    @task(inject_context=True)
    def fetch(ctx):
        channel = ctx.get_channel()
        attempt = channel.atomic_add("attempts", 1)
        log.append(f"fetch#{attempt} cycle={ctx.cycle_count}")
        return attempt

    @task(inject_context=True)
    def check(ctx, fetch: int):
        if fetch < 3:
            log.append(f"check {fetch}: again")
            ctx.next_task(fetch_task, goto=True)
            return "retrying"
        log.append(f"check {fetch}: done")
        return f"ready after {fetch}"

    @task
    def publish(check: str) -> str:
        log.append("publish")
        return f"published ({check})"

    fetch_task = fetch
    fetch >> check >> publish
    result = wf.execute("fetch")
    print("\n".join(log))
    print("result:", result)

print("--- loop bounded only by max_steps ---")
with workflow("forever") as wf:
    ticks: list[int] = []

    @task(inject_context=True)
    def tick(ctx):
        ticks.append(ctx.cycle_count)
        ctx.next_task(tick)
        return ctx.cycle_count

    result, ctx = wf.execute("tick", max_steps=5, ret_context=True)
    print("ticks:", ticks)
    print("result:", result)
    print("steps:", ctx.steps)
    print("status:", getattr(ctx, "status", "(no status attribute)"))

print("--- tasks that ran more than once ---")
with workflow("repeat") as wf:

    @task(inject_context=True)
    def ping(ctx):
        if ctx.cycle_count < 3:
            ctx.next_task(pong)
        return "ping"

    @task(inject_context=True)
    def pong(ctx):
        ctx.next_task(ping)
        return "pong"

    result, ctx = wf.execute("ping", ret_context=True)
    print("result:", result, "steps:", ctx.steps)
    print("completed_tasks:", ctx.completed_tasks)
