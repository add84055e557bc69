"""Stopping a run from inside a task: terminate (success) and cancel (error)."""

from graflow import task, workflow
from graflow.exceptions import GraflowRuntimeError, GraflowWorkflowCanceledError

ran: list[str] = []

print("--- terminate ---")
with workflow("terminate") as wf:

    @task
    def start():
        ran.append("start")

    @task(inject_context=True)
    def gate(ctx):
        ran.append("gate")
        ctx.terminate_workflow("nothing to do today")
        return "gate result"

    @task
    def work():
        ran.append("work")

    @task
    def side():
        ran.append("side")

    start >> gate >> work
    start >> side
    result, ctx = wf.execute("start", ret_context=True)
    print("ran:", ran)
    print("result:", result)
    print("gate completed:", "gate" in ctx.completed_tasks, "gate stored:", ctx.get_result("gate"))
    print("ctrl_message:", ctx.ctrl_message)

print("--- cancel ---")
ran.clear()
with workflow("cancel") as wf:

    @task
    def begin():
        ran.append("begin")

    @task(inject_context=True)
    def validate(ctx):
        ran.append("validate")
        ctx.cancel_workflow("invalid input")
        return "validated?"

    @task
    def process():
        ran.append("process")

    begin >> validate >> process
    try:
        wf.execute("begin")
    except GraflowWorkflowCanceledError as e:
        print("ran:", ran)
        print("is GraflowRuntimeError:", isinstance(e, GraflowRuntimeError))
        print("str:", e)
        print("task_id:", e.task_id)

print("--- cancel is not retried ---")
ran.clear()
with workflow("cancel_retry") as wf:

    @task(inject_context=True, max_retries=3)
    def careful(ctx):
        ran.append("careful")
        ctx.cancel_workflow("stop now")

    try:
        wf.execute("careful")
    except GraflowWorkflowCanceledError as e:
        print("attempts:", len(ran), "str:", e)
