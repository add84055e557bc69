"""The channel contract: a key-value store shared by the tasks of one workflow run.

Every backend (memory, Redis) implements this class and passes the shared contract suite in
``graflow.testing.contracts.channel``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graflow.core.results import RESULT_SUFFIX, result_key


class Channel(ABC):
    """A named key-value store.

    Args:
        name: The channel name; a workflow run uses its session id.
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        self.name = name

    @abstractmethod
    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Store ``value`` under ``key``; with ``ttl`` (seconds) the key expires afterwards.

        Raises:
            ValueError: ``ttl`` is not a positive number.
        """

    @abstractmethod
    def get(self, key: str, default: Any = None) -> Any:
        """Return the value under ``key`` or ``default`` when it is missing or expired."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""

    @abstractmethod
    def keys(self) -> list[str]:
        """All live keys, in insertion order where the backend keeps one."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every key of this channel."""

    @abstractmethod
    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Append ``value`` to the list under ``key`` (created when missing); return the new length.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """

    @abstractmethod
    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Insert ``value`` at the front of the list under ``key``; return the new length.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """

    @abstractmethod
    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to the number under ``key`` atomically (missing counts as 0); return the new value.

        Raises:
            TypeError: The key holds something that is not a number.
        """

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        """An advisory lock on ``key``: plain get/set ignore it. The base version does not lock.

        Raises:
            TimeoutError: The lock could not be taken within ``timeout`` seconds.
        """
        yield

    # Convenience shared by every backend -------------------------------------------------------
    def get_result(self, task_id: str, default: Any = None) -> Any:
        """The stored result of ``task_id`` (key ``<task_id>.__result__``)."""
        return self.get(result_key(task_id), default)

    def snapshot(self) -> dict[str, Any]:
        """A plain dict of every live key and value (used by checkpoints and tests)."""
        return {k: self.get(k) for k in self.keys()}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release any resources held by the channel."""



__all__ = ["RESULT_SUFFIX", "Channel", "result_key"]
