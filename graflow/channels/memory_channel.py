"""The in-process channel: a dict shared by the tasks (and threads) of one workflow run."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic as _now
from typing import Any

from graflow.channels.base import Channel

_MISSING: Any = object()


def _check_ttl(ttl: int | float | None) -> None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but a flag is not a counter.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class MemoryChannel(Channel):
    """A channel backed by a plain dict, safe to share between threads.

    Values are stored as given (no copy, no serialization): ``get`` returns the very object that was ``set``.
    A TTL is kept as an absolute deadline on the monotonic clock and checked lazily when a key is read
    (``get``, ``exists``, ``keys``) or changed. ``keys()`` keeps insertion order.

    ``set`` and ``get`` are a couple of dict operations on the engine's hot path: they take no lock and read no
    clock unless the key itself has a TTL (``get`` not even a dict lookup while the channel holds no TTL at all).
    ``append``, ``prepend``, ``atomic_add`` and ``delete`` hold the channel's mutex, so they are atomic with respect
    to each other across threads. A plain ``set`` racing a compound operation on the same key is last-writer-wins,
    as with any two writers.

    Args:
        name: The channel name.
        **kwargs: Accepted and ignored, so one backend config can be passed to every backend.
    """

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._data: dict[str, Any] = {}
        # key -> monotonic deadline. Empty for almost every channel, which is what keeps the hot path clock-free.
        self._expiry: dict[str, float] = {}
        self._init_sync()

    def _init_sync(self) -> None:
        self._mutex = threading.Lock()
        # Per-key locks live only while some thread holds or waits for them, so the table cannot grow without bound.
        self._locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()

    # Expiry -------------------------------------------------------------------------------------------------------
    def _evict_if_expired(self, key: str) -> None:
        deadline = self._expiry.get(key)
        if deadline is None or _now() < deadline:
            return
        with self._mutex:
            self._evict_locked(key, deadline)

    def _evict_locked(self, key: str, deadline: float) -> None:
        # Re-check under the mutex: a writer may have renewed the key since the deadline was read.
        if self._expiry.get(key) == deadline:
            del self._expiry[key]
            self._data.pop(key, None)

    def _evict_all_expired(self) -> None:
        now = _now()
        with self._mutex:
            for key, deadline in list(self._expiry.items()):
                if now >= deadline:
                    self._evict_locked(key, deadline)

    # Plain key-value operations -------------------------------------------------------------------------------------
    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Store ``value`` under ``key``; with ``ttl`` (seconds, > 0) the key expires afterwards.

        A ``set`` without ``ttl`` removes any TTL the key had.

        Raises:
            ValueError: ``ttl`` is not a positive number.
        """
        if ttl is None and key not in self._expiry:
            self._data[key] = value
            return
        _check_ttl(ttl)
        with self._mutex:
            deadline = self._expiry.pop(key, None)
            if deadline is not None and _now() >= deadline:
                # An expired key is gone: writing it again puts it at the end of the insertion order.
                self._data.pop(key, None)
            self._data[key] = value
            if ttl is not None:
                self._expiry[key] = _now() + ttl

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value under ``key``, or ``default`` when it is missing or expired."""
        if self._expiry:
            self._evict_if_expired(key)
        return self._data.get(key, default)

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        if self._expiry:
            self._evict_if_expired(key)
        return key in self._data

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it held a live value."""
        if self._expiry:
            self._evict_if_expired(key)
        with self._mutex:
            self._expiry.pop(key, None)
            return self._data.pop(key, _MISSING) is not _MISSING

    def keys(self) -> list[str]:
        """All live keys, in insertion order."""
        if self._expiry:
            self._evict_all_expired()
        return list(self._data)

    def clear(self) -> None:
        """Remove every key. Locks held on keys stay held."""
        with self._mutex:
            self._data.clear()
            self._expiry.clear()

    # Compound operations ----------------------------------------------------------------------------------------------
    def _push(self, key: str, value: Any, ttl: int | float | None, front: bool) -> int:
        if ttl is not None:
            _check_ttl(ttl)
        with self._mutex:
            if self._expiry:
                deadline = self._expiry.get(key)
                if deadline is not None and _now() >= deadline:
                    self._evict_locked(key, deadline)
            items = self._data.get(key, _MISSING)
            if items is _MISSING:
                items = self._data[key] = []
            elif not isinstance(items, list):
                raise TypeError(
                    f"Cannot {'prepend' if front else 'append'} to key '{key}' of channel '{self.name}': "
                    f"it holds a {type(items).__name__}, not a list"
                )
            if front:
                items.insert(0, value)
            else:
                items.append(value)
            if ttl is not None:
                self._expiry[key] = _now() + ttl
            return len(items)

    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Append ``value`` to the list under ``key`` (created when missing); return the new length.

        With ``ttl`` the key's TTL is (re)set; without it an existing TTL is kept.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """
        return self._push(key, value, ttl, front=False)

    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Insert ``value`` at the front of the list under ``key`` (created when missing); return the new length.

        With ``ttl`` the key's TTL is (re)set; without it an existing TTL is kept.

        Raises:
            TypeError: The key holds a value that is not a list.
            ValueError: ``ttl`` is not a positive number.
        """
        return self._push(key, value, ttl, front=True)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to the number under ``key`` atomically (missing counts as 0); return the new value.

        The key's TTL, if any, is kept.

        Raises:
            TypeError: ``amount`` or the value under ``key`` is not an int or float (bools are not numbers).
        """
        if not _is_number(amount):
            raise TypeError(f"atomic_add amount must be an int or float, got {type(amount).__name__}")
        with self._mutex:
            if self._expiry:
                deadline = self._expiry.get(key)
                if deadline is not None and _now() >= deadline:
                    self._evict_locked(key, deadline)
            current = self._data.get(key, 0)
            if not _is_number(current):
                raise TypeError(
                    f"Cannot atomic_add to key '{key}' of channel '{self.name}': "
                    f"it holds a {type(current).__name__}, not a number"
                )
            new_value: int | float = current + amount
            self._data[key] = new_value
            return new_value

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        """Hold the re-entrant, advisory lock of ``key`` for the ``with`` block.

        Plain ``get``/``set`` ignore the lock; it only excludes other holders of the same key's lock.

        Raises:
            TimeoutError: The lock could not be taken within ``timeout`` seconds.
        """
        with self._mutex:
            key_lock = self._locks.get(key)
            if key_lock is None:
                key_lock = threading.RLock()
                self._locks[key] = key_lock
        acquired = key_lock.acquire(timeout=timeout) if timeout > 0 else key_lock.acquire(blocking=False)
        if not acquired:
            raise TimeoutError(f"Could not acquire lock on key '{key}' of channel '{self.name}' within {timeout}s")
        try:
            yield
        finally:
            key_lock.release()

    # Pickling -----------------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Data and remaining TTLs; monotonic deadlines mean nothing in another process, so they travel as seconds."""
        self._evict_all_expired()
        with self._mutex:
            now = _now()
            return {
                "name": self.name,
                "data": dict(self._data),
                "ttl_remaining": {key: deadline - now for key, deadline in self._expiry.items()},
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore data and TTLs; locks start released."""
        self.name = state["name"]
        self._data = dict(state["data"])
        now = _now()
        self._expiry = {key: now + remaining for key, remaining in state["ttl_remaining"].items()}
        self._init_sync()

    def __repr__(self) -> str:
        return f"MemoryChannel(name={self.name!r}, keys={len(self._data)})"
