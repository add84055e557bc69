"""Broken: two tasks have no predecessor and none is chosen as the start."""

from graflow import task, workflow

with workflow("two_starts") as wf:

    @task
    def extract_orders() -> list[int]:
        return [1, 2]

    @task
    def extract_refunds() -> list[int]:
        return [3]

    @task
    def merge() -> str:
        return "merged"

    extract_orders >> merge
    extract_refunds >> merge
