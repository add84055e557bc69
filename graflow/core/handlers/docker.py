"""Graflow 0.2's import path of :class:`DockerTaskHandler`.

The handler lives in the adapter package (:mod:`graflow.handlers.docker`, which needs ``graflow[docker]``). Core
never imports an adapter, so this module looks the class up by its registry name (kind ``task_handler``, name
``docker``) when the attribute is first read: importing this module loads neither the adapter nor the docker SDK.
"""

from __future__ import annotations

from typing import Any

from graflow.core import registry


def __getattr__(name: str) -> Any:
    if name == "DockerTaskHandler":
        return registry.resolve("task_handler", "docker")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DockerTaskHandler"]  # noqa: F822 - provided by __getattr__
