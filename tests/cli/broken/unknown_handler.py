"""Broken: a task names a handler that is never registered."""

from graflow import task, workflow

with workflow("unknown_handler") as wf:

    @task
    def prepare() -> int:
        return 1

    @task(handler="gpu")
    def train(prepare: int) -> float:
        return prepare * 0.5

    prepare >> train
