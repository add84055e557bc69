"""Bound task instances: calling a task with keyword arguments outside a run creates a new task (D7)."""

import re

from graflow import task, workflow
from graflow.core.task import TaskWrapper

print("--- creating instances ---")
with workflow("instances") as wf:

    @task
    def fetch(source: str, limit: int = 10) -> str:
        return f"{source}:{limit}"

    first = fetch(task_id="fetch_a", source="api")
    second = fetch(task_id="fetch_b", source="db", limit=3)
    anonymous = fetch(source="file")
    print(type(first).__name__, first.task_id, second.task_id)
    print("auto id pattern ok:", bool(re.fullmatch(r"fetch_[0-9a-f]{8}", anonymous.task_id)))
    print("instances are wrappers:", isinstance(anonymous, TaskWrapper), anonymous is not fetch)
    print("registered:", sorted(n for n in wf.graph.nodes if n in ("fetch", "fetch_a", "fetch_b")))
    try:
        fetch("positional")
    except TypeError:
        print("positional arguments: TypeError")

print("--- running instances ---")
with workflow("run_instances") as wf:

    @task
    def fetch(source: str, limit: int = 10) -> str:
        return f"{source}:{limit}"

    @task(inject_context=True)
    def collect(ctx):
        return [ctx.get_result("fetch_a"), ctx.get_result("fetch_b")]

    a = fetch(task_id="fetch_a", source="api")
    b = fetch(task_id="fetch_b", source="db", limit=3)
    a >> b >> collect
    print("result:", wf.execute("fetch_a"))

print("--- explicit keywords beat bound ones ---")


@task
def scale(value: int, factor: int = 2) -> int:
    return value * factor


bound = scale(task_id="scale_bound", value=5)
print("bound.run():", bound.run())
print("bound.run(factor=10):", bound.run(factor=10))
print("scale.run(value=4):", scale.run(value=4))

print("--- calling a task after it ran in a workflow (D7) ---")
with workflow("after_run") as wf:

    @task
    def add(x: int = 0) -> int:
        return x + 1

    wf.execute("add")
    after = add(x=1)
    print("add(x=1) after a run:", type(after).__name__)

print("--- calling another task inside a running task (D7) ---")
with workflow("inside") as wf:

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def outer():
        value = double(x=21)
        return type(value).__name__

    print("double(x=21) inside a task gives:", wf.execute("outer"))
