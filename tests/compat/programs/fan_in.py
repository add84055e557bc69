"""Fan-in without a parallel group: two sources into one task, and a diamond (D3)."""

from graflow import task, workflow

runs: list[str] = []


def make(name):
    @task(name)
    def _t():
        runs.append(name)
        return name

    return _t


print("--- two sources ---")
with workflow("two_sources") as wf:
    start, a, b, c = make("start"), make("a"), make("b"), make("c")
    start >> a >> c
    start >> b >> c
    wf.execute("start")
    print("runs:", runs[0], sorted(runs[1:3]), runs[3:])
    print("c ran", runs.count("c"), "time(s)")

print("--- diamond with uneven branches ---")
runs.clear()
with workflow("diamond") as wf:
    s, p, p2, q, m = make("s"), make("p"), make("p2"), make("q"), make("m")
    s >> p >> p2 >> m
    s >> q >> m
    result, ctx = wf.execute("s", ret_context=True)
    print("m ran", runs.count("m"), "time(s)")
    print("m after p2 and q:", runs.index("m") > runs.index("p2") and runs.index("m") > runs.index("q"))
    print("result:", result)
    print("completed count:", len(ctx.completed_tasks))

print("--- group as a join ---")
runs.clear()
with workflow("group_join") as wf:
    s, x, y, z = make("s"), make("x"), make("y"), make("z")
    s >> (x | y) >> z
    wf.execute("s")
    print("z ran", runs.count("z"), "time(s), last:", runs[-1] == "z")

print("--- loop through a shared node ---")
runs.clear()
with workflow("agent_loop") as wf:

    @task(inject_context=True)
    def agent(ctx):
        runs.append("agent")
        if ctx.cycle_count >= 3:
            ctx.terminate_workflow("enough")
        return ctx.cycle_count

    @task
    def tool():
        runs.append("tool")

    agent >> tool
    tool >> agent
    print("result:", wf.execute("agent", max_steps=20))
    print("runs:", runs)
