"""The error tree and its messages (spec 15)."""

from __future__ import annotations

import pytest

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
    WorkerShutdown,
    as_runtime_error,
)


def test_tree() -> None:
    assert issubclass(GraflowRuntimeError, GraflowError)
    for cls in (CycleLimitExceededError, RetryLimitExceededError, TaskError, ParallelGroupError,
                GraflowWorkflowCanceledError):
        assert issubclass(cls, GraflowRuntimeError)
    assert issubclass(DuplicateTaskError, GraphCompilationError)
    assert issubclass(ConfigError, GraflowError)
    assert not issubclass(WorkerShutdown, Exception)  # unwinds past user `except Exception`


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (GraflowError("plain"), "plain"),
        (GraflowError("outer", cause=ValueError("inner")), "outer (caused by inner)"),
        (CycleLimitExceededError("t", 3, 3), "CycleLimitExceededError(task_id=t, cycle_count=3, max_cycles=3)"),
        (
            RetryLimitExceededError("t", 2, 2, ValueError("x")),
            "RetryLimitExceededError(task_id=t, retry_count=2, max_retries=2)",
        ),
        (TaskError("t", "broke"), "Error in task 't': broke"),
        (DuplicateTaskError("x"), "Duplicate task ID: x"),
        (ParallelGroupError("group failed", "g", [("a", "e")], ["b"]), "group failed"),
        (GraflowWorkflowCanceledError("stop", task_id="t"), "Workflow canceled by task 't': stop"),
    ],
)
def test_messages(error: GraflowError, text: str) -> None:
    assert str(error) == text


def test_errors_carry_their_fields() -> None:
    err = ParallelGroupError("m", "g", [("a", "boom")], ["b"])
    assert (err.group_id, err.failed_tasks, err.successful_tasks) == ("g", [("a", "boom")], ["b"])
    retry = RetryLimitExceededError("t", 1, 1, KeyError("k"))
    assert isinstance(retry.__cause__, KeyError)


def test_as_runtime_error_wraps_once() -> None:
    inner = GraflowRuntimeError("already")
    assert as_runtime_error(inner) is inner
    wrapped = as_runtime_error(ValueError("v"))
    assert str(wrapped) == "An error occurred: v (caused by v)"
    assert isinstance(wrapped.cause, ValueError)
