"""Graflow: compose Python functions into task graphs with ``>>`` and ``|`` and run them anywhere."""

from __future__ import annotations

from typing import Any

from graflow.core.decorators import task
from graflow.core.retry import RetryPolicy
from graflow.core.task import chain, parallel
from graflow.core.task_context import TaskExecutionContext
from graflow.core.workflow import workflow

_SOURCE_VERSION = "0.3.0.dev0"


def __getattr__(name: str) -> Any:
    # Reading package metadata costs more than the rest of `import graflow`; do it when someone asks.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("graflow")
        except PackageNotFoundError:  # a source tree that is not installed
            value = _SOURCE_VERSION
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'graflow' has no attribute {name!r}")


__all__ = ["RetryPolicy", "TaskExecutionContext", "__version__", "chain", "parallel", "task", "workflow"]
