"""next_task with a task created at run time: a router that adds a handler (D1)."""

from graflow import task, workflow
from graflow.core.task import TaskWrapper

calls: list[str] = []


def build():
    wf = workflow("router")
    with wf:

        @task(inject_context=True)
        def route(ctx):
            kind = ctx.get_channel().get("kind")

            def handle():
                calls.append(f"handle_{kind}")
                return f"handled {kind}"

            handler = TaskWrapper(f"handle_{kind}", handle)
            calls.append("route")
            return ctx.next_task(handler)

        @task
        def after():
            calls.append("after")
            return "after"

        route >> after
    return wf


print("--- executed outside the with-block ---")
wf = build()
calls.clear()
result = wf.execute("route", initial_channel={"kind": "email"})
print("calls:", calls)
print("result:", result)
print("static graph unchanged:", sorted(wf.graph.nodes))

print("--- run twice, same result ---")
calls.clear()
wf.execute("route", initial_channel={"kind": "email"})
print("calls:", calls)

print("--- executed inside the with-block (D1) ---")
wf = build()
calls.clear()
with wf:
    wf.execute("route", initial_channel={"kind": "sms"})
print("calls:", calls)

print("--- decorator-made task inside the with-block (D1) ---")
with workflow("decorated") as wf2:

    @task(inject_context=True)
    def start(ctx):
        @task
        def extra():
            calls.append("extra")

        ctx.next_task(extra)
        calls.append("start")

    @task
    def finish():
        calls.append("finish")

    start >> finish
    calls.clear()
    wf2.execute("start")
    print("calls:", calls)

print("--- goto=True skips static successors ---")
with workflow("goto") as wf3:

    @task(inject_context=True)
    def jump(ctx):
        calls.append("jump")
        ctx.next_task(TaskWrapper("landing", lambda: calls.append("landing")), goto=True)

    @task
    def skipped():
        calls.append("skipped")

    jump >> skipped
    calls.clear()
    wf3.execute("jump")
    print("calls:", calls)

print("--- next_task to an existing node skips static successors ---")
with workflow("existing") as wf4:

    @task(inject_context=True)
    def decide(ctx):
        calls.append("decide")
        ctx.next_task(fallback)

    @task
    def normal():
        calls.append("normal")

    @task
    def fallback():
        calls.append("fallback")
        return "fallback result"

    decide >> normal
    calls.clear()
    print("result:", wf4.execute("decide"))
    print("calls:", calls)
