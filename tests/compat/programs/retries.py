"""Retries: success after transient failures, exhaustion, context defaults, and back-off policies (D9)."""

from graflow import RetryPolicy, task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.exceptions import GraflowRuntimeError, RetryLimitExceededError

print("--- success after two failures ---")
with workflow("flaky") as wf:
    attempts: list[int] = []

    @task(inject_context=True, max_retries=3)
    def flaky(ctx):
        attempts.append(ctx.retry_count)
        ctx.get_channel().append("attempt_log", ctx.retry_count)
        if len(attempts) < 3:
            raise ConnectionError(f"transient failure {len(attempts)}")
        return f"ok after {len(attempts)} attempts (max_retries={ctx.max_retries})"

    result, ctx = wf.execute("flaky", ret_context=True)
    print("result:", result)
    print("retry_count seen by each attempt:", attempts)
    print("writes of failed attempts stay:", ctx.get_channel().get("attempt_log"))

print("--- retries exhausted (D9) ---")
with workflow("broken") as wf:
    calls: list[int] = []

    @task(max_retries=2)
    def broken():
        calls.append(1)
        raise ValueError("always broken")

    try:
        wf.execute("broken")
    except RetryLimitExceededError as e:
        print("is GraflowRuntimeError:", isinstance(e, GraflowRuntimeError))
        print("attempts:", len(calls))
        print("str:", e)
        print("retry_count:", e.retry_count, "max_retries:", e.max_retries)
        print("last error:", type(e.last_error).__name__, e.last_error)

print("--- no retries configured ---")
with workflow("no_retry") as wf:

    @task
    def fails():
        raise KeyError("missing")

    try:
        wf.execute("fails")
    except GraflowRuntimeError as e:
        print("type:", type(e).__name__)
        print("str:", e)
        print("cause:", type(e.cause).__name__)

print("--- retry policy ---")
policy = RetryPolicy(max_retries=2, initial_interval=0.01, backoff_factor=2.0, max_interval=0.03)
print("delays:", [policy.get_delay(n) for n in range(4)])
print("defaults:", RetryPolicy())
with workflow("policy") as wf:
    attempts = []

    @task(inject_context=True, retry_policy=policy)
    def backoff(ctx):
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise TimeoutError("slow upstream")
        return f"done, max_retries={ctx.max_retries}"

    print("result:", wf.execute("backoff"))
    print("attempts:", attempts)

print("--- policy wins over max_retries ---")
with workflow("precedence") as wf:

    @task(max_retries=5, retry_policy=RetryPolicy(max_retries=1, initial_interval=0.0))
    def both():
        raise RuntimeError("nope")

    print("task max_retries:", both.max_retries)
    try:
        wf.execute("both")
    except RetryLimitExceededError as e:
        print("max_retries used:", e.max_retries)

print("--- default_max_retries of the context ---")
with workflow("global") as wf:
    attempts = []

    @task
    def uses_default():
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("disk busy")
        return "ok"

    engine = WorkflowEngine()
    print("result:", engine.execute(ExecutionContext.create(wf.graph, "uses_default", default_max_retries=3)))
    print("attempts:", len(attempts))

print("--- a retried step in a pipeline (D9) ---")
with workflow("pipeline") as wf:
    order: list[str] = []
    failures = {"middle": 1}

    @task
    def first():
        order.append("first")

    @task(max_retries=2)
    def middle():
        order.append("middle")
        if failures["middle"] > 0:
            failures["middle"] -= 1
            raise RuntimeError("once")

    @task
    def side():
        order.append("side")

    @task
    def last():
        order.append("last")

    first >> middle >> last
    first >> side
    wf.execute("first")
    print("order:", order)
