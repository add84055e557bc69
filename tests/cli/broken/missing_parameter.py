"""Broken: a parameter that no upstream task, run parameter or default fills."""

from graflow import task, workflow

with workflow("missing_parameter") as wf:

    @task
    def fetch_rows() -> list[dict[str, int]]:
        return [{"id": 1}]

    @task
    def transform(rows: list[dict[str, int]]) -> int:
        return len(rows)

    fetch_rows >> transform
