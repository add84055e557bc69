"""Import path of :class:`SubprocessTaskHandler` next to the other built-in handlers.

The handler lives in the adapter package (:mod:`graflow.handlers.subprocess`). Core never imports an adapter, so
this module looks the class up by its registry name (kind ``task_handler``, name ``subprocess``) when the
attribute is first read.
"""

from __future__ import annotations

from typing import Any

from graflow.core import registry


def __getattr__(name: str) -> Any:
    if name == "SubprocessTaskHandler":
        return registry.resolve("task_handler", "subprocess")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SubprocessTaskHandler"]  # noqa: F822 - provided by __getattr__
