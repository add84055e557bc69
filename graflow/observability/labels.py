"""Bounded label values of Graflow's metrics: statuses, task names, reasons.

A label value that could grow without bound (a task id with an iteration suffix, an error message) is cut down
here before it reaches a collector. :mod:`graflow.observability.metrics` re-exports every name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from graflow.exceptions import GraflowWorkflowCanceledError

# Task statuses (label ``status`` of graflow_tasks_total) and workflow run statuses.
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
STATUS_TERMINATED = "terminated"
STATUS_MAX_STEPS = "max_steps_reached"
# ExecutionContext.status values -> run status labels (anything else that ended without error is a success).
_RUN_STATES = {
    "failed": STATUS_FAILED,
    "canceled": STATUS_CANCELLED,
    "cancelled": STATUS_CANCELLED,
    "terminated": STATUS_TERMINATED,
    "max_steps_reached": STATUS_MAX_STEPS,
}

# A reason label keeps at most this many characters, and only the part before the first colon, so that a reason
# such as "bad_signature: <details>" stays one series.
MAX_REASON_LABEL_CHARS = 64
# Suffix the engine appends to tasks it re-runs in a cycle; stripped so every iteration shares one series.
_CYCLE_SUFFIX = re.compile(r"_cycle_\d+_[0-9a-f]+$")
UNKNOWN_LABEL = "unknown"


@lru_cache(maxsize=4096)
def _strip_cycle_suffix(name: str) -> str:
    return _CYCLE_SUFFIX.sub("", name)


def task_label(task: Any) -> str:
    """The bounded label of ``task``: its name (function name) without a cycle-iteration suffix."""
    name = getattr(task, "name", None) or getattr(task, "task_id", None)
    if not name:
        return UNKNOWN_LABEL
    if type(name) is not str:
        name = str(name)
    return _strip_cycle_suffix(name) if "_cycle_" in name else name


def task_id_label(task_id: str) -> str:
    """The bounded label of a task id string: the id without the engine's cycle-iteration suffix."""
    if not task_id:
        return UNKNOWN_LABEL
    return _strip_cycle_suffix(task_id) if "_cycle_" in task_id else task_id


def reason_label(reason: str | None) -> str:
    """A bounded label for a dead-letter or rejection reason (the part before any colon, truncated)."""
    if not reason:
        return UNKNOWN_LABEL
    head = str(reason).split(":", 1)[0].strip()
    return head[:MAX_REASON_LABEL_CHARS] or UNKNOWN_LABEL


def task_status(error: BaseException | None) -> str:
    """``success``, ``cancelled`` or ``failed`` for a task attempt that ended with ``error``."""
    if error is None:
        return STATUS_SUCCESS
    if isinstance(error, GraflowWorkflowCanceledError):
        return STATUS_CANCELLED
    return STATUS_FAILED


def workflow_status(context: Any, error: BaseException | None = None) -> str:
    """The bounded status label of a root run that ended: ``success``, ``failed``, ``cancelled``, ``terminated``
    (a task ended the run early on purpose) or ``max_steps_reached``."""
    error = error if error is not None else getattr(context, "error", None)
    if isinstance(error, GraflowWorkflowCanceledError):
        return STATUS_CANCELLED
    if error is not None:
        return STATUS_FAILED
    state = getattr(context, "status", None)
    state_text = str(getattr(state, "value", state) or "").lower()
    return _RUN_STATES.get(state_text, STATUS_SUCCESS)


def workflow_label(context: Any) -> str:
    """The bounded workflow label of ``context``: its workflow name, or ``unknown``."""
    return str(getattr(context, "workflow_name", None) or UNKNOWN_LABEL)


__all__ = [
    "MAX_REASON_LABEL_CHARS",
    "STATUS_CANCELLED",
    "STATUS_FAILED",
    "STATUS_MAX_STEPS",
    "STATUS_SUCCESS",
    "STATUS_TERMINATED",
    "UNKNOWN_LABEL",
    "reason_label",
    "task_id_label",
    "task_label",
    "task_status",
    "workflow_status",
    "workflow_label",
]
