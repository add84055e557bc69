"""Import path of :mod:`graflow.distributed.submit` used by earlier documentation."""

from __future__ import annotations

from graflow.distributed.submit import (
    RUN_BARRIER_PREFIX,
    RUN_RESULT_KEY,
    WorkflowRun,
    WorkflowRunTimeoutError,
    is_run_barrier,
    run_result_key,
    submit_workflow,
)

__all__ = [
    "RUN_BARRIER_PREFIX",
    "RUN_RESULT_KEY",
    "WorkflowRun",
    "WorkflowRunTimeoutError",
    "is_run_barrier",
    "run_result_key",
    "submit_workflow",
]
