"""A state machine: each state picks the next one with next_task; the last state terminates the run."""

from graflow import task, workflow

trail: list[str] = []

print("--- order state machine ---")
with workflow("order_states") as wf:

    @task(inject_context=True)
    def received(ctx):
        trail.append("received")
        order = ctx.get_channel().get("order")
        ctx.next_task(paid if order["paid"] else awaiting_payment)

    @task(inject_context=True)
    def awaiting_payment(ctx):
        trail.append("awaiting_payment")
        channel = ctx.get_channel()
        order = channel.get("order")
        order = {**order, "paid": True}
        channel.set("order", order)
        ctx.next_task(paid)

    @task(inject_context=True)
    def paid(ctx):
        trail.append("paid")
        order = ctx.get_channel().get("order")
        ctx.next_task(shipped if order["in_stock"] else backordered)

    @task(inject_context=True)
    def backordered(ctx):
        trail.append("backordered")
        channel = ctx.get_channel()
        channel.set("order", {**channel.get("order"), "in_stock": True})
        ctx.next_task(paid)

    @task(inject_context=True)
    def shipped(ctx):
        trail.append("shipped")
        ctx.terminate_workflow("order complete")
        return "shipped"

    @task
    def never():
        trail.append("never")

    shipped >> never

    for order in ({"paid": True, "in_stock": True}, {"paid": False, "in_stock": False}):
        trail.clear()
        result, ctx = wf.execute("received", initial_channel={"order": order}, ret_context=True)
        print("order:", order)
        print("  trail:", " -> ".join(trail))
        print("  result:", result)
        print("  ctrl_message:", ctx.ctrl_message)
        print("  final order:", ctx.get_channel().get("order"))

print("--- a state that reads its previous visits ---")
with workflow("counter_state") as wf:

    @task(inject_context=True)
    def count(ctx):
        n = ctx.get_channel().atomic_add("n", 1)
        trail.append(f"count{n}")
        if n < 4:
            ctx.next_task(count)
        else:
            ctx.next_task(report)

    @task(inject_context=True)
    def report(ctx):
        cycles = ctx.execution_context.cycle_controller.get_cycle_count("count")
        return f"counted to {ctx.get_channel().get('n')}, count cycle_count={cycles}"

    trail.clear()
    print("result:", wf.execute("count"))
    print("trail:", trail)
