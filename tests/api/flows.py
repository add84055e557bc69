"""Workflows the API tests serve. Each is made fresh by a factory, so no test sees another's tasks."""

from __future__ import annotations

import threading
from typing import Any, Literal

from graflow import RetryPolicy, task, workflow
from graflow.core.workflow import WorkflowContext


def etl() -> WorkflowContext:
    """``extract(n: int, label: str = "x") >> load``: returns ``n``."""
    with workflow("etl") as wf:

        @task
        def extract(n: int, label: str = "x") -> list[int]:
            return list(range(n))

        @task
        def load(extract: list[int]) -> int:
            return len(extract)

        extract >> load
    return wf


def typed() -> WorkflowContext:
    """A start task whose parameters have one of each kind of annotation."""
    with workflow("typed") as wf:

        @task(inject_context=True)
        def begin(ctx: Any, count: int, ratio: float, name: str, flag: bool, items: list[str], options: dict[str, int],
                  mode: Literal["a", "b"] = "a", note: str | None = None, anything=3) -> int:  # noqa: ANN001
            return count

    return wf


def fanout() -> WorkflowContext:
    """``first >> (left | right) >> last``."""
    with workflow("fanout") as wf:

        @task
        def first() -> int:
            return 1

        @task
        def left() -> int:
            return 2

        @task
        def right() -> int:
            return 3

        @task
        def last() -> int:
            return 4

        first >> (left | right) >> last
    return wf


def gated(entered: threading.Event, release: threading.Event) -> WorkflowContext:
    """``before >> wait >> after``: ``wait`` signals ``entered`` and blocks until ``release`` is set."""
    with workflow("gated") as wf:

        @task
        def before() -> int:
            return 1

        @task
        def wait() -> int:
            entered.set()
            release.wait(30)
            return 2

        @task
        def after() -> int:
            return 3

        before >> wait >> after
    return wf


def flaky() -> WorkflowContext:
    """``unstable`` fails twice, then succeeds (two retries allowed, no delay)."""
    calls = {"n": 0}
    with workflow("flaky") as wf:

        @task(retry_policy=RetryPolicy(max_retries=2, initial_interval=0.0, jitter=False))
        def unstable() -> str:
            calls["n"] += 1
            if calls["n"] < 3:
                raise ValueError(f"attempt {calls['n']} failed")
            return "ok"

    return wf


def broken() -> WorkflowContext:
    """``boom`` raises at once (no retries)."""
    with workflow("broken") as wf:

        @task
        def boom(reason: str = "bad input") -> None:
            raise RuntimeError(reason)

    return wf


def asking(timeout: float = 30.0) -> WorkflowContext:
    """``ask`` asks for an approval (waiting ``timeout`` seconds, then the run pauses) ``>> done``."""
    with workflow("asking") as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> bool:
            return bool(ctx.request_approval("Ship it?", timeout=timeout))

        @task
        def done(ask: bool) -> str:
            return "shipped" if ask else "held"

        ask >> done
    return wf


def chain(length: int, name: str = "long") -> WorkflowContext:
    """``length`` trivial tasks in a row."""
    with workflow(name) as wf:
        previous = None
        for index in range(length):
            current = task(f"step_{index}")(lambda: None)
            if previous is not None:
                previous >> current
            previous = current
    return wf
