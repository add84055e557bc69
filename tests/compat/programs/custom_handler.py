"""A custom task handler registered on WorkflowEngine, run through the low-level API (D15)."""

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.handler import TaskHandler, TaskResult
from graflow.core.handlers.direct import DirectTaskHandler
from graflow.exceptions import GraflowError

calls: list[str] = []


class AuditHandler(TaskHandler):
    """Runs the task in-process and records each call."""

    def execute_task(self, task, context):
        calls.append(f"audit:{task.task_id}")
        try:
            result = task.run()
        except Exception as exc:
            context.set_result(task.task_id, exc)
            raise
        result = f"[audited] {result}"
        context.set_result(task.task_id, result)
        return result


print("--- handler interface ---")
print("default name:", AuditHandler().get_name())
print("direct name:", DirectTaskHandler().get_name())
r = TaskResult(task_id="t", success=True)
print("TaskResult:", r.task_id, r.success, r.error, r.error_message, r.duration, r.timestamp)

print("--- engine with a registered handler ---")
with workflow("audited") as wf:

    @task(handler="audit")
    def secret():
        calls.append("secret body")
        return "classified"

    @task
    def public(secret: str) -> str:
        calls.append("public body")
        return f"public sees {secret}"

    secret >> public

engine = WorkflowEngine()
engine.register_handler("audit", AuditHandler())
ctx = ExecutionContext.create(wf.graph, "secret")
result = engine.execute(ctx)
print("calls:", calls)
print("result:", result)
print("stored:", ctx.get_result("secret"))

print("--- a failing task through the handler ---")
calls.clear()
with workflow("audited_failure") as wf:

    @task(handler="audit")
    def explode():
        raise ValueError("kaboom")

engine = WorkflowEngine()
engine.register_handler("audit", AuditHandler())
ctx = ExecutionContext.create(wf.graph, "explode")
try:
    engine.execute(ctx)
except GraflowError as e:
    print(type(e).__name__, "cause:", type(e.cause).__name__, e.cause)
print("calls:", calls, "stored error:", type(ctx.get_result("explode")).__name__)

print("--- unknown handler ---")
with workflow("unknown") as wf:

    @task(handler="nowhere")
    def lost():
        return "never"

try:
    WorkflowEngine().execute(ExecutionContext.create(wf.graph, "lost"))
except GraflowError as e:
    print(type(e).__name__, "cause:", type(e.cause).__name__)
    print("message:", e.cause)

print("--- handler used by a parallel group member (D15) ---")
calls.clear()
with workflow("group_handler") as wf:

    @task(handler="audit")
    def left():
        return "left"

    @task
    def right():
        return "right"

    group = (left | right).set_group_name("pair")

engine = WorkflowEngine()
engine.register_handler("audit", AuditHandler())
ctx = ExecutionContext.create(wf.graph, "pair")
try:
    engine.execute(ctx)
    print("calls:", calls)
    print("left result:", ctx.get_result("left"))
except GraflowError as e:
    print(type(e).__name__)

print("--- handler registered on the workflow (D15) ---")
calls.clear()
with workflow("wf_handler") as wf:

    @task(handler="audit")
    def solo():
        return "solo"

    register = getattr(wf, "register_handler", None)
    if register is None:
        print("WorkflowContext has no register_handler")
    else:
        register("audit", AuditHandler())
        print("result:", wf.execute("solo"), "calls:", calls)
