"""Broken: a task takes another task's output, but that task does not run before it."""

from graflow import task, workflow


@task
def publish(total: float) -> str:
    return f"{total:.2f}"


with workflow("bad_output_ref") as wf:

    @task
    def load() -> dict[str, float]:
        return {"total": 1.0}

    announce = publish(task_id="announce", total=load.outputs["total"])
    announce >> load
