"""``Idempotency-Key``: a POST that is retried with the same key starts one run, not two.

The first request with a key does the work; a request with the same key and the same body (method, path and JSON
body, hashed) gets the same run back, marked ``Idempotent-Replayed: true``; the same key with another body is
refused (422). A request that arrives while the first is still being served waits for it. Keys are remembered in
memory for a day, and found again in the audit log after a restart (each accepted call is written there with its
key and the hash of its request).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graflow.api.errors import ApiError, conflict

#: Seconds a key is remembered in memory.
KEY_TTL_SECONDS = 24 * 3600.0
#: Keys remembered in memory at most (the oldest are forgotten first).
MAX_KEYS = 10_000
#: Longest key accepted.
MAX_KEY_LENGTH = 255
#: Seconds a request waits for another request with its key that is still being served.
WAIT_SECONDS = 30.0


def request_hash(method: str, path: str, body: Any) -> str:
    """A hash of what a request asks for (its method, path and JSON body)."""
    text = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class _Entry:
    request: str
    at: float = field(default_factory=time.monotonic)
    result: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


#: Looks a key up in the audit log: ``(request hash, run id)`` of the call that used it, or None.
Recall = Callable[[str], tuple[str, str] | None]


class IdempotencyKeys:
    """The keys a server has seen and the runs they started.

    Args:
        recall: Finds a key in the audit log (used when the key is not in memory).
    """

    def __init__(self, recall: Recall | None = None) -> None:
        self._recall = recall
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def run_once(self, key: str, request: str, work: Callable[[], str]) -> tuple[str, bool]:
        """``work()`` the first time ``key`` is used, the result of that call afterwards.

        Args:
            key: The ``Idempotency-Key``.
            request: :func:`request_hash` of the request.
            work: Does what the request asks; returns the id of what it made (a run id).

        Returns:
            The id, and whether it was replayed (True) or made now.

        Raises:
            ApiError: 400 for a key that is empty or too long; 422 when the key was used for another request;
                409 when a request with the key is still being served after :data:`WAIT_SECONDS`.
        """
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise ApiError(400, f"An Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters")
        while True:
            entry, mine = self._claim(key, request)
            if entry.request != request:
                raise ApiError(422, "This Idempotency-Key was used for another request")
            if not mine:
                if not entry.done.wait(WAIT_SECONDS):
                    raise conflict("A request with this Idempotency-Key is still being served; retry later")
                if entry.result is not None:
                    return entry.result, True
                continue  # the first request failed: this one does the work
            try:
                entry.result = work()
            except BaseException:
                with self._lock:
                    self._entries.pop(key, None)
                raise
            finally:
                entry.done.set()
            return entry.result, False

    def _claim(self, key: str, request: str) -> tuple[_Entry, bool]:
        with self._lock:
            self._expire()
            entry = self._entries.get(key)
            if entry is not None:
                return entry, False
        recalled = self._recall(key) if self._recall is not None else None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                return entry, False
            if recalled is not None:
                entry = self._entries[key] = _Entry(recalled[0], result=recalled[1])
                entry.done.set()
                return entry, False
            entry = self._entries[key] = _Entry(request)
            return entry, True

    def _expire(self) -> None:
        cutoff = time.monotonic() - KEY_TTL_SECONDS
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if oldest.at >= cutoff and len(self._entries) <= MAX_KEYS:
                break
            if not oldest.done.is_set():
                break  # still being served: never forgotten while a request waits on it
            self._entries.pop(key)


__all__ = ["IdempotencyKeys", "request_hash"]
