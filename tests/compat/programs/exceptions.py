"""The exception tree and the text of each exception."""

from graflow import task, workflow
from graflow.exceptions import (
    ConfigError,
    CycleLimitExceededError,
    DuplicateTaskError,
    GraflowError,
    GraflowRuntimeError,
    GraflowWorkflowCanceledError,
    GraphCompilationError,
    ParallelGroupError,
    RetryLimitExceededError,
    TaskError,
    as_runtime_error,
)

print("--- hierarchy ---")
for cls in (GraflowRuntimeError, CycleLimitExceededError, RetryLimitExceededError, TaskError,
            GraphCompilationError, DuplicateTaskError, ConfigError, ParallelGroupError,
            GraflowWorkflowCanceledError):
    print(cls.__name__, "<-", cls.__mro__[1].__name__, "| GraflowError:", issubclass(cls, GraflowError))

print("--- str ---")
cause = ValueError("bad value")
print(str(GraflowError("plain")))
print(str(GraflowError("wrapped", cause=cause)))
print(str(GraflowRuntimeError("runtime", cause=cause)))
print(str(CycleLimitExceededError("loop", 5, 5)))
print(str(RetryLimitExceededError("fetch", 2, 2, cause)))
print(str(TaskError("t1", "went wrong")))
print(str(GraflowWorkflowCanceledError("user asked", task_id="t2")))
print(str(ParallelGroupError("group failed", group_id="g", failed_tasks=[("a", "x")], successful_tasks=["b"])))
print(str(ConfigError("bad config")))

print("--- fields ---")
e = CycleLimitExceededError("loop", 5, 5)
print(e.task_id, e.cycle_count, e.max_cycles)
e = RetryLimitExceededError("fetch", 2, 3, cause)
print(e.task_id, e.retry_count, e.max_retries, e.last_error is cause, e.cause is cause)
e = GraflowWorkflowCanceledError("why", task_id="t")
print(e.task_id)
e = ParallelGroupError("m", group_id="g", failed_tasks=[("a", "x")], successful_tasks=["b"])
print(e.group_id, e.failed_tasks, e.successful_tasks)
e = GraflowError("m", cause=cause)
print(e.cause is cause)

print("--- as_runtime_error ---")
runtime = GraflowRuntimeError("already")
print(as_runtime_error(runtime) is runtime)
wrapped = as_runtime_error(KeyError("k"))
print(type(wrapped).__name__, "|", wrapped, "|", type(wrapped.cause).__name__)

print("--- errors from a run ---")
with workflow("errors") as wf:

    @task
    def divide():
        return 1 / 0

    try:
        wf.execute("divide")
    except GraflowRuntimeError as e:
        print(type(e).__name__, "|", e, "|", type(e.cause).__name__)

print("--- duplicate task ids ---")
with workflow("dupes") as wf:

    @task("same")
    def first():
        return 1

    try:

        @task("same")
        def second():
            return 2

    except DuplicateTaskError as e:
        print("DuplicateTaskError:", e)
