"""What core expects of the adapters it reaches through :mod:`graflow.core.registry`.

Adapters live in the layers above core and implement these; core names them by registry name and never imports
them. The channel contract is ``graflow.channels.base.Channel`` (a type only, used under ``TYPE_CHECKING``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from graflow.exceptions import ConfigError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.task import Executable


class CoordinationBackend(Enum):
    """Where the members of a parallel group run."""

    REDIS = "redis"
    THREADING = "threading"
    DIRECT = "direct"

    @classmethod
    def parse(cls, value: CoordinationBackend | str) -> CoordinationBackend:
        """Accept a member or its name/value in any case."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        raise ConfigError(f"Unknown coordination backend: {value!r}. Use one of: threading, direct, redis")


class GroupExecutorProtocol(Protocol):
    """Runs a parallel group's members (registry kind ``group_executor``)."""

    @staticmethod
    def execute_parallel_group(
        group_id: str,
        tasks: Sequence[Executable],
        exec_context: ExecutionContext,
        *,
        backend: CoordinationBackend | str | None = None,
        backend_config: dict[str, Any] | None = None,
        policy: Any = "strict",
    ) -> dict[str, Any]:
        """Run the members of ``group_id``; returns ``{member_id: result}``."""


class TracerProtocol(Protocol):
    """A tracer is an engine hook with a name (registry kind ``tracer``); see ``graflow.trace.base.Tracer``."""

    def on_workflow_start(self, *, workflow_name: str, context: ExecutionContext) -> None:
        """A root run starts."""


class ChannelFactoryProtocol(Protocol):
    """Creates a run's channel by backend name (registry kind ``channel_factory``)."""

    @classmethod
    def create_channel(cls, backend: str, name: str, **kwargs: Any) -> Any:
        """A new channel of ``backend`` called ``name``."""


__all__ = ["ChannelFactoryProtocol", "CoordinationBackend", "GroupExecutorProtocol", "TracerProtocol"]
