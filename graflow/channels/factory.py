"""Channel backends by name: ``"memory"`` always, ``"redis"`` when redis-py is installed.

Adapters are registered as ``"module:Class"`` paths and imported on first use, so importing this module (and the
engine, which creates its channel here) never imports redis.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from enum import StrEnum
from typing import Any

from graflow.channels.base import Channel
from graflow.channels.memory_channel import MemoryChannel
from graflow.exceptions import ConfigError


class ChannelBackend(StrEnum):
    """The built-in channel backends; members compare equal to their names (``ChannelBackend.REDIS == "redis"``)."""

    MEMORY = "memory"
    REDIS = "redis"


class _LazyBackend:
    """A backend class named by ``"module:attr"``, importable only when ``requires`` (a module name) is installed."""

    def __init__(self, path: str, requires: str | None = None, extra: str | None = None) -> None:
        self.path = path
        self.requires = requires
        self.extra = extra

    def installed(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def load(self, backend: str) -> type[Channel]:
        module_name, _, attr = self.path.partition(":")
        try:
            loaded = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"Channel backend '{backend}' could not be loaded from {self.path}", cause=e) from e
        _check_channel_class(loaded)
        return loaded  # type: ignore[no-any-return]


def _check_channel_class(channel_class: Any) -> None:
    if not (isinstance(channel_class, type) and issubclass(channel_class, Channel)):
        raise TypeError(f"Channel class must extend Channel, got {channel_class!r}")


def _usable(entry: type[Channel] | _LazyBackend) -> bool:
    return not isinstance(entry, _LazyBackend) or entry.installed()


def _normalize(backend: str) -> str:
    # StrEnum members are str already; str() gives their value, and names are matched case-insensitively.
    return str(backend).strip().lower()


class ChannelFactory:
    """Creates channels by backend name and keeps the table of backends."""

    _backends: dict[str, type[Channel] | _LazyBackend] = {
        ChannelBackend.MEMORY.value: MemoryChannel,
        ChannelBackend.REDIS.value: _LazyBackend("graflow.channels.redis_channel:RedisChannel", "redis", "redis"),
    }
    _guard = threading.Lock()

    @classmethod
    def create_channel(cls, backend: str, name: str, **kwargs: Any) -> Channel:
        """A new channel of ``backend`` named ``name``.

        Args:
            backend: A registered backend name, e.g. ``"memory"`` or ``"redis"`` (or a :class:`ChannelBackend`).
            name: The channel name (a workflow run uses its session id).
            **kwargs: Passed to the channel class, e.g. ``redis_client=...`` for Redis.

        Raises:
            ConfigError: ``Unsupported backend '<name>'. Available backends: [...]`` for an unknown or uninstalled
                backend, or the backend's module could not be imported.
        """
        key = _normalize(backend)
        entry = cls._backends.get(key)
        if isinstance(entry, _LazyBackend):
            if not entry.installed():
                hint = f" (install graflow[{entry.extra}])" if entry.extra else ""
                raise ConfigError(
                    f"Unsupported backend '{backend}'. Available backends: {cls.get_available_backends()}. "
                    f"The '{key}' backend needs the '{entry.requires}' package{hint}."
                )
            channel_class = entry.load(key)
            with cls._guard:
                if cls._backends.get(key) is entry:
                    cls._backends[key] = channel_class  # import once; later calls skip the lookup
        elif entry is None:
            raise ConfigError(f"Unsupported backend '{backend}'. Available backends: {cls.get_available_backends()}")
        else:
            channel_class = entry
        return channel_class(name, **kwargs)

    @classmethod
    def register_backend(cls, name: str, channel_class: type[Channel] | str) -> None:
        """Register (or replace) a backend.

        Args:
            name: The backend name used in ``create_channel`` and ``channel_backend=...``.
            channel_class: A :class:`Channel` subclass, or a ``"module:Class"`` path imported on first use.

        Raises:
            TypeError: ``channel_class`` is neither a Channel subclass nor a ``"module:Class"`` string.
        """
        entry: type[Channel] | _LazyBackend
        if isinstance(channel_class, str):
            if ":" not in channel_class:
                raise TypeError(f"A lazy channel backend must be given as 'module:Class', got {channel_class!r}")
            entry = _LazyBackend(channel_class)
        else:
            _check_channel_class(channel_class)
            entry = channel_class
        with cls._guard:
            cls._backends[_normalize(name)] = entry

    @classmethod
    def unregister_backend(cls, name: str) -> bool:
        """Remove a backend; return whether it was registered."""
        with cls._guard:
            return cls._backends.pop(_normalize(name), None) is not None

    @classmethod
    def get_available_backends(cls) -> list[str]:
        """Names of the backends that can be created here (``"redis"`` only when redis-py is installed)."""
        return [name for name, entry in cls._backends.items() if _usable(entry)]

    @classmethod
    def is_backend_available(cls, backend: str) -> bool:
        """Whether ``backend`` is registered and its dependencies are installed."""
        entry = cls._backends.get(_normalize(backend))
        return entry is not None and _usable(entry)


__all__ = ["ChannelBackend", "ChannelFactory"]
