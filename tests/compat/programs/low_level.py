"""The low-level API: a TaskGraph built by hand, ExecutionContext.create and WorkflowEngine().execute."""

from graflow.core.context import ExecutionContext, create_execution_context
from graflow.core.engine import WorkflowEngine
from graflow.core.graph import TaskGraph
from graflow.core.task import Task, TaskWrapper
from graflow.exceptions import DuplicateTaskError, GraflowRuntimeError, GraphCompilationError

trail: list[str] = []


def step(name, value=None):
    def body():
        trail.append(name)
        return value if value is not None else name

    return TaskWrapper(name, body, register_to_context=False)


print("--- graph by hand ---")
graph = TaskGraph()
for name in ("extract", "transform", "load"):
    graph.add_node(step(name), name)
graph.add_edge("extract", "transform")
graph.add_edge("transform", "load")
print("nodes:", list(graph.nodes))
print("edges:", list(graph.edges))
print("start nodes:", graph.get_start_nodes())
print("successors:", graph.successors("extract"), "predecessors:", graph.predecessors("load"))
print("has_node:", graph.has_node("load"), graph.has_node("nope"))
print("get_node:", graph.get_node("transform").task_id)
print("cycles:", graph.detect_cycles())
try:
    graph.add_node(step("load"), "load")
except DuplicateTaskError:
    print("duplicate: DuplicateTaskError")
graph.add_node(step("load"), "load", skip_if_exists=True)
print("skip_if_exists keeps:", len(list(graph.nodes)), "nodes")

print("--- run it ---")
ctx = ExecutionContext.create(graph, "extract", max_steps=50)
print("start_node:", ctx.start_node, "max_steps:", ctx.max_steps, "steps:", ctx.steps)
result = WorkflowEngine().execute(ctx)
print("result:", result)
print("trail:", trail)
print("completed:", ctx.completed_tasks, "steps:", ctx.steps)
print("results:", [ctx.get_result(n) for n in ("extract", "transform", "load")])

print("--- context.execute() ---")
trail.clear()
ctx = ExecutionContext.create(graph, "transform")
print("result:", ctx.execute(), "trail:", trail)

print("--- max_steps stops quietly ---")
trail.clear()
ctx = ExecutionContext.create(graph, "extract", max_steps=2)
result = WorkflowEngine().execute(ctx)
print("result:", result, "trail:", trail, "steps:", ctx.steps)

print("--- start_task_id ---")
trail.clear()
ctx = ExecutionContext.create(graph, "extract")
print("result:", WorkflowEngine().execute(ctx, start_task_id="load"), "trail:", trail)

print("--- unknown start node ---")
ctx = ExecutionContext.create(graph, "missing")
try:
    WorkflowEngine().execute(ctx)
except GraflowRuntimeError as e:
    print("GraflowRuntimeError:", e)

print("--- placeholder root ---")
ctx = create_execution_context("ROOT", max_steps=5)
print("placeholder result:", WorkflowEngine().execute(ctx), "completed:", ctx.completed_tasks)
print("Task run:", Task("solo", register_to_context=False).run())

print("--- engine.execute_with_cycles ---")
trail.clear()
print("result:", WorkflowEngine().execute_with_cycles(graph, "transform", max_steps=10), "trail:", trail)

print("--- start node detection in create (D4) ---")
two = TaskGraph()
two.add_node(step("p"), "p")
two.add_node(step("q"), "q")
try:
    ctx = ExecutionContext.create(two)
    print("picked:", ctx.start_node)
except GraphCompilationError as e:
    print("GraphCompilationError:", e)
