"""Print, as JSON, the public names of the objects a Graflow 0.2 program touches (run on either engine).

Instances are built the way a program builds them, so attributes set in ``__init__`` are listed too.
"""

import json

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.graph import TaskGraph
from graflow.core.task import Task


def public(obj: object) -> list[str]:
    return sorted(name for name in dir(obj) if not name.startswith("_"))


names: dict[str, list[str]] = {}
with workflow("names") as wf:

    @task
    def a() -> int:
        return 1

    @task
    def b() -> int:
        return 2

    @task
    def c() -> int:
        return 3

    chain = a >> (b | c)
    group = b | c
    graph = TaskGraph()
    graph.add_node(a, "a")
    ctx = ExecutionContext.create(graph, "a")
    with ctx.executing_task(a) as tctx:
        names["TaskExecutionContext"] = public(tctx)
    names["ExecutionContext"] = public(ctx)
    names["WorkflowContext"] = public(wf)
    names["TaskWrapper"] = public(a)
    names["ParallelGroup"] = public(group)
    names["SequentialTask"] = public(chain)
    names["TaskGraph"] = public(wf.graph)
    names["WorkflowEngine"] = public(WorkflowEngine())
    names["Task"] = public(Task("plain_task"))
print(json.dumps(names, indent=1, sort_keys=True))
