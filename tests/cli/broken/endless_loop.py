"""Broken: a loop in the graph where no task can call next_iteration() or terminate the run."""

from graflow import task, workflow

with workflow("endless_loop") as wf:

    @task
    def start() -> int:
        return 0

    @task
    def attempt() -> bool:
        return False

    @task
    def check() -> bool:
        return True

    start >> attempt >> check >> attempt
