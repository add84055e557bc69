"""``RunOptions``: how a run is configured, fixed when its context is created."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from graflow import defaults


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The settings of one run. ``ExecutionContext.create`` builds one from its keyword arguments.

    Attributes:
        max_steps: Stop after this many completed steps (status ``max_steps_reached``, D6).
        default_max_cycles: ``next_iteration`` budget of tasks that set none.
        default_max_retries: Retry budget of tasks that set none.
        channel_backend: Name of the channel backend (``"memory"``, ``"redis"``).
        config: Backend options (a read-only view; a ``redis_client`` is kept apart, it cannot be pickled).
        workflow_name: The run's workflow name (``workflow_<session prefix>`` when None).
        checkpoint_every: Periodic checkpoint spec (``100``, ``{"steps": 100, "seconds": 30}``) or None.
        checkpoint_dir: Where periodic and feedback-timeout checkpoints go.
        checkpoint_snapshot_channel: Whether checkpoints also snapshot a non-memory channel.
    """

    max_steps: int = defaults.MAX_STEPS
    default_max_cycles: int = defaults.DEFAULT_MAX_CYCLES
    default_max_retries: int = defaults.DEFAULT_MAX_RETRIES
    channel_backend: str = "memory"
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    workflow_name: str | None = None
    checkpoint_every: Any = None
    checkpoint_dir: str | None = None
    checkpoint_snapshot_channel: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {self.max_steps}")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy does not pickle: rebuild from plain values
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["config"] = dict(self.config)
        return (_rebuild, (values,))


def _rebuild(values: dict[str, Any]) -> RunOptions:
    return RunOptions(**values)


__all__ = ["RunOptions"]
