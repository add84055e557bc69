"""WorkflowContext: nesting, registration of tasks defined outside a block, and the graph after a run (D2)."""

from graflow import task, workflow
from graflow.core.task import TaskWrapper
from graflow.core.workflow import (
    WorkflowContext,
    clear_workflow_context,
    current_workflow_context,
    get_current_workflow_context,
    set_current_workflow_context,
)

print("--- nesting ---")
print("outside any block:", get_current_workflow_context())
with workflow("outer") as outer:
    print("current:", get_current_workflow_context().name)
    with workflow("inner") as inner:
        print("current:", get_current_workflow_context().name)

        @task
        def inner_task():
            return "inner"

    print("back to:", get_current_workflow_context().name)

    @task
    def outer_task():
        return "outer"

print("after:", get_current_workflow_context())
print("outer nodes:", sorted(outer.graph.nodes), "inner nodes:", sorted(inner.graph.nodes))
print("types:", type(outer).__name__, isinstance(inner, WorkflowContext))

print("--- tasks defined outside, wired inside ---")


@task
def shared_a():
    return "A"


@task
def shared_b(shared_a: str) -> str:
    return shared_a + "B"


with workflow("first_user") as wf1:
    shared_a >> shared_b
    print("first:", wf1.execute("shared_a"), sorted(wf1.graph.nodes))
with workflow("second_user") as wf2:
    shared_a >> shared_b
    print("second:", wf2.execute("shared_a"), sorted(wf2.graph.nodes))

print("--- manual nodes and edges ---")
with workflow("manual") as wf:
    x = TaskWrapper("x", lambda: "x", register_to_context=False)
    y = TaskWrapper("y", lambda: "y", register_to_context=False)
    wf.add_node("x", x)
    wf.add_node("y", y)
    wf.add_edge("x", "y")
    print("edges:", list(wf.graph.edges), "result:", wf.execute("x"))
    print("group names:", wf.get_next_group_name(), wf.get_next_group_name())

print("--- explicit current context ---")
ctx = WorkflowContext("explicit")
set_current_workflow_context(ctx)
print("current:", get_current_workflow_context().name)


@task
def registered_here():
    return 1


print("registered:", list(ctx.graph.nodes))
clear_workflow_context()
print("cleared:", get_current_workflow_context())
auto = current_workflow_context()
print("auto-created name length:", len(auto.name))
clear_workflow_context()

print("--- the graph after a run (D2) ---")
with workflow("after_run") as wf:

    @task(inject_context=True, max_cycles=3)
    def iterate(ctx, data=None):
        if ctx.can_iterate():
            ctx.next_iteration()
        return ctx.cycle_count

    before = sorted(wf.graph.nodes)
    first = wf.execute("iterate")
    second = wf.execute("iterate")
    print("results:", first, second)
    print("nodes unchanged:", sorted(wf.graph.nodes) == before, len(wf.graph.nodes))
