"""Sub-workflows built and run inside a running task (D1): their own graph, context and results."""

from graflow import task, workflow
from graflow.core.workflow import current_workflow_context

print("--- a sub-workflow opened inside a task ---")
with workflow("outer") as wf:

    @task
    def prepare():
        with workflow("inner") as inner:

            @task
            def inner_task():
                print("inner_task sees workflow:", current_workflow_context().name)
                return 20

            @task
            def inner_next(inner_task):
                return inner_task + 1

            inner_task >> inner_next
            value = inner.execute("inner_task")
        print("inner graph:", sorted(inner.graph.nodes))
        print("after the sub-workflow, prepare sees workflow:", current_workflow_context().name)
        return value

    @task
    def finish(prepare):
        return prepare * 2

    prepare >> finish
    print("outer result:", wf.execute("prepare"))
    print("outer graph:", sorted(wf.graph.nodes))

print("--- several tasks each running a sub-workflow, ids from arguments ---")


def run_batch(batch: int) -> int:
    with workflow(f"batch_{batch}") as inner:

        @task(id=f"load_{batch}")
        def load():
            return list(range(batch))

        @task(id=f"total_{batch}", inject_context=True)
        def total(ctx):
            return sum(ctx.get_result(f"load_{batch}"))

        load >> total
        return inner.execute(f"load_{batch}")


with workflow("batches") as wf:

    @task
    def batch_three():
        return run_batch(3)

    @task
    def batch_five():
        return run_batch(5)

    @task
    def combine(batch_three, batch_five):
        return {"three": batch_three, "five": batch_five}

    batch_three >> batch_five >> combine
    print("combined:", wf.execute("batch_three"))

print("--- a factory returns a workflow that a master task runs ---")


def build_report_workflow(title: str):
    with workflow("report") as report:

        @task(id="collect")
        def collect():
            return ["a", "b", "c"]

        @task(id="render", inject_context=True)
        def render(ctx):
            items = ctx.get_result("collect")
            return f"{title}: {', '.join(items)} ({current_workflow_context().name})"

        collect >> render
    return report


with workflow("master") as wf:

    @task
    def master():
        report = build_report_workflow("weekly")
        return report.execute("collect")

    @task
    def publish(master):
        return master.upper()

    master >> publish
    print("published:", wf.execute("master"))
