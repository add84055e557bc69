"""ExecutionContext's public surface beyond running: contexts on unfinished graphs, networkx graphs, 0.2's flags,
and what a tolerated group failure leaves behind."""

from graflow import task, workflow
from graflow.core.context import ExecutionContext, execute_with_cycles
from graflow.core.engine import WorkflowEngine
from graflow.core.graph import TaskGraph
from graflow.core.handlers.group_policy import CriticalGroupPolicy
from graflow.core.task import Task
from graflow.exceptions import GraphCompilationError

print("--- a context on an empty graph ---")
empty = ExecutionContext.create(TaskGraph())
print("created, start node:", empty.start_node)
try:
    WorkflowEngine().execute(empty)
except GraphCompilationError as exc:
    print("running it:", type(exc).__name__, exc)

print("--- running a task by hand on a context ---")
with workflow("by_hand") as wf:

    @task(inject_context=True)
    def jumper(ctx):
        ctx.next_task(landing, goto=True)
        return "jumped"

    @task
    def landing():
        return "landed"

hand = ExecutionContext.create(TaskGraph())
with hand.executing_task(jumper) as tctx:
    print("result:", jumper.run())
    print("goto_called:", hand.goto_called, "terminate_called:", hand.terminate_called,
          "cancel_called:", hand.cancel_called)
    tctx.terminate_workflow("done")
    print("terminate_called after terminate_workflow:", hand.terminate_called)
    hand.reset_control_flags()
    print("after reset_control_flags:", hand.goto_called, hand.terminate_called)
    hand.request_checkpoint({"stage": "one"})
    print("checkpoint_requested:", hand.checkpoint_requested,
          "metadata stage:", (hand.checkpoint_request_metadata or {}).get("stage"))
    hand.clear_checkpoint_request()
    print("after clear_checkpoint_request:", hand.checkpoint_requested, hand.checkpoint_request_metadata)
print("default_max_retries:", hand.default_max_retries)
pushed = hand.create_task_context("manual")
hand.push_task_context(pushed)
print("current task after push:", hand.current_task_id)
print("popped:", hand.pop_task_context().task_id, "then:", hand.pop_task_context())

print("--- a networkx graph ---")
with workflow("nx_input") as wf:

    @task
    def first():
        return 1

    @task
    def second(first):
        return first + 1

    first >> second
    nx_graph = wf.graph.nx_graph()
ctx = ExecutionContext.create(nx_graph, "first")
print("graph type:", type(nx_graph).__name__)
print("context on it starts at:", ctx.start_node)
print("execute_with_cycles on it:", execute_with_cycles(nx_graph, "first", max_steps=10))

print("--- task names ---")
print("str(Task('A')):", str(Task("A", register_to_context=False)))

print("--- a tolerated failure leaves no result ---")
for label, policy in (("best_effort", "best_effort"), ("critical", CriticalGroupPolicy(["needed"]))):
    with workflow(f"optional_{label}") as wf:

        @task
        def needed():
            return "ok"

        @task
        def optional_member():
            raise ValueError("optional part failed")

        @task
        def after():
            return "after"

        (needed | optional_member).with_execution(policy=policy) >> after
        result, ctx = wf.execute(ret_context=True)
        print(label, "result:", result, "| needed:", ctx.get_result("needed"),
              "| optional_member:", ctx.get_result("optional_member"))
