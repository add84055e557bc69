"""Data flow in parallel groups: members share the workflow's channel (D10), and a group returns results (D17)."""

from graflow import task, workflow
from graflow.coordination.coordinator import CoordinationBackend
from graflow.core.task import ParallelGroup

print("--- members see what came before ---")
with workflow("before") as wf:

    @task(inject_context=True)
    def setup(ctx):
        ctx.get_channel().set("factor", 10)
        return "setup"

    def scaled(n):
        @task(f"scale_{n}", inject_context=True)
        def _s(ctx):
            return n * ctx.get_channel().get("factor")

        return _s

    @task(inject_context=True)
    def gather(ctx):
        return sorted(ctx.get_result(f"scale_{n}") for n in (1, 2, 3))

    setup >> (scaled(1) | scaled(2) | scaled(3)) >> gather
    print("result:", wf.execute("setup"))

print("--- members write distinct keys ---")
with workflow("distinct") as wf:

    def writer(name):
        @task(name, inject_context=True)
        def _w(ctx):
            ctx.get_channel().set(f"out_{name}", name.upper())
            return name

        return _w

    @task(inject_context=True)
    def read(ctx):
        channel = ctx.get_channel()
        return [channel.get(f"out_{n}") for n in ("p", "q", "r")]

    writers = writer("p") | writer("q") | writer("r")
    writers >> read
    print("result:", wf.execute(writers.task_id))

print("--- appending to a list that exists before the group ---")
with workflow("append") as wf:

    @task(inject_context=True)
    def init(ctx):
        ctx.get_channel().set("log", [])

    def logger(name):
        @task(name, inject_context=True)
        def _l(ctx):
            ctx.get_channel().append("log", name)

        return _l

    @task(inject_context=True)
    def show(ctx):
        return sorted(ctx.get_channel().get("log"))

    init >> (logger("l1") | logger("l2") | logger("l3")) >> show
    print("result:", wf.execute("init"))

print("--- atomic counter across members (D10) ---")
with workflow("counter") as wf:

    def counter(n):
        @task(f"counter_{n}", inject_context=True)
        def _c(ctx):
            channel = ctx.get_channel()
            for _ in range(100):
                channel.atomic_add("hits", 1)

        return _c

    @task(inject_context=True)
    def total(ctx):
        return ctx.get_channel().get("hits")

    ParallelGroup([counter(n) for n in range(5)], name="counters") >> total
    print("expected 500, got:", wf.execute("counters"))

print("--- direct backend runs members in order ---")
with workflow("direct") as wf:
    seen: list[str] = []

    def member(name):
        @task(name)
        def _m():
            seen.append(name)
            return name

        return _m

    group = (member("m1") | member("m2") | member("m3")).with_execution(backend=CoordinationBackend.DIRECT)

    @task
    def done():
        return "done"

    group >> done
    print("result:", wf.execute(group.task_id), "order:", seen)

print("--- a group's own value (D17) ---")
with workflow("group_value") as wf:

    @task
    def left():
        return "L"

    @task
    def right():
        return "R"

    (left | right).set_group_name("pair")
    result, ctx = wf.execute("pair", ret_context=True)
    print("result:", result)
    print("group stored:", ctx.get_result("pair"))

print("--- completed tasks of a run with a group ---")
with workflow("completed") as wf:

    @task
    def head():
        return "head"

    @task
    def left():
        return "L"

    @task
    def right():
        return "R"

    @task
    def tail():
        return "tail"

    head >> (left | right).set_group_name("middle") >> tail
    result, ctx = wf.execute("head", ret_context=True)
    print("completed:", ctx.completed_tasks)
    print("steps:", ctx.steps)
