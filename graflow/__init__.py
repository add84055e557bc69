"""Graflow: compose Python functions into task graphs with ``>>`` and ``|`` and run them anywhere."""

from __future__ import annotations

from graflow.core.decorators import task
from graflow.core.retry import RetryPolicy
from graflow.core.task import chain, parallel
from graflow.core.task_context import TaskExecutionContext
from graflow.core.workflow import workflow

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("graflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.3.0.dev0"

__all__ = ["RetryPolicy", "TaskExecutionContext", "__version__", "chain", "parallel", "task", "workflow"]
