"""The basics: the @task forms, calling a task outside a run, and running a small workflow."""

from graflow import RetryPolicy, TaskExecutionContext, chain, parallel, task, workflow  # noqa: F401
from graflow.core.decorators import task as core_task
from graflow.core.task import TaskWrapper
from graflow.core.workflow import workflow as core_workflow

print("--- imports ---")
print("same task decorator:", task is core_task)
print("same workflow function:", workflow is core_workflow)


print("--- decorator forms ---")


@task
def plain():
    """A plain task."""
    return "plain"


@task()
def empty_parens():
    return "empty_parens"


@task("named_by_string")
def by_string():
    return "by_string"


@task(id="named_by_keyword")
def by_keyword():
    return "by_keyword"


for t in (plain, empty_parens, by_string, by_keyword):
    print(type(t).__name__, isinstance(t, TaskWrapper), t.task_id, t.__name__)
print("doc kept:", plain.__doc__)


print("--- run outside a workflow ---")


@task
def calculate(x: int, y: int) -> int:
    return x + y


print("calculate.run(x=5, y=3) =", calculate.run(x=5, y=3))
print("plain() =", plain())
print("plain.run() =", plain.run())


print("--- a small workflow ---")
with workflow("basics") as wf:

    @task
    def load():
        print("  load runs")
        return [3, 1, 2]

    @task
    def transform():
        print("  transform runs")
        return "transformed"

    @task
    def save():
        print("  save runs")
        return "saved"

    load >> transform >> save
    print("name:", wf.name)
    print("nodes:", sorted(wf.graph.nodes))
    print("edges:", sorted(wf.graph.edges))
    result = wf.execute("load")
    print("result:", result)
    result, ctx = wf.execute("load", ret_context=True)
    print("result with context:", result, type(ctx).__name__)
    print("completed:", ctx.completed_tasks)
    print("steps:", ctx.steps)
    print("load result:", ctx.get_result("load"))
    print("transform result:", ctx.get_result("transform"))
    print("missing result default:", ctx.get_result("nope", "default"))


print("--- results that are None are stored ---")
with workflow("none_results") as wf:

    @task
    def returns_none():
        return None

    @task(inject_context=True)
    def inspect_previous(ctx):
        channel = ctx.get_channel()
        return (channel.exists("returns_none.__result__"), channel.get("returns_none.__result__", "missing"))

    returns_none >> inspect_previous
    print("result:", wf.execute("returns_none"))


print("--- the context a task sees ---")
with workflow("task_context") as wf:

    @task(inject_context=True)
    def show(ctx):
        print("  task_id:", ctx.task_id)
        print("  is TaskExecutionContext:", isinstance(ctx, TaskExecutionContext))
        print("  cycle_count:", ctx.cycle_count)
        print("  retry_count:", ctx.retry_count, "max_retries:", ctx.max_retries)
        print("  session ids match:", ctx.session_id == ctx.execution_context.session_id)
        ctx.set_local_data("k", "v")
        print("  local data:", ctx.get_local_data("k"), ctx.get_local_data("missing", "dflt"))
        print("  graph has me:", "show" in ctx.graph.nodes)
        return "shown"

    print("result:", wf.execute("show"))
