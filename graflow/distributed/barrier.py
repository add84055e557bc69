"""The idempotent barrier of a distributed parallel group (D19).

Each member completion is written once with ``HSETNX`` into ``{prefix}:completions:{barrier_id}`` (member id →
JSON ``{task_id, success, timestamp, error_message}``), so a redelivered member never counts twice: the barrier is
complete when the hash holds as many distinct members as ``{prefix}:barrier:{barrier_id}:expected`` says. The script
that records the last completion pushes a token on ``{prefix}:barrier:{barrier_id}:done``; the waiter blocks on it
with ``BLPOP``, so it wakes at once and never polls on a timer. The token lives in a list rather than a pub/sub
message so that a waiter that reconnects after a Redis restart still finds it.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from typing import Any

import redis

from graflow import defaults
from graflow.distributed import scripts
from graflow.exceptions import GraflowError

logger = logging.getLogger(__name__)

#: The longest single BLPOP; after it the waiter re-reads the completion count, which also covers a wake token lost
#: by a Redis restart without persistence. A missed wake-up costs at most this long, a normal one nothing. It stays
#: below redis-py's default socket timeout (5 s in redis-py 8), which would otherwise cut every idle wait.
BARRIER_RECHECK_SECONDS = 2.0
#: How often a waiter with no timeout logs which members it is still waiting for.
BARRIER_PROGRESS_LOG_SECONDS = 60.0
#: How long to wait for Redis to come back while waiting on a barrier before giving up.
REDIS_RECONNECT_BACKOFF_MAX = 2.0


class BarrierTimeoutError(GraflowError):
    """A distributed parallel group did not complete within its configured wait.

    Attributes:
        group_id: The group (barrier) id.
        missing: Member ids that had not completed.
        timeout: The configured wait in seconds.
    """

    def __init__(self, group_id: str, missing: list[str], timeout: float) -> None:
        self.group_id = group_id
        self.missing = list(missing)
        self.timeout = timeout
        super().__init__(
            f"Parallel group {group_id!r} did not complete within {timeout:g}s: "
            f"{len(missing)} member(s) still missing: {', '.join(missing)}"
        )


def completion_keys(key_prefix: str, barrier_id: str) -> list[str]:
    """The keys of one barrier: completions hash, expected counter, wake list (in script order)."""
    return [
        f"{key_prefix}:completions:{barrier_id}",
        f"{key_prefix}:barrier:{barrier_id}:expected",
        f"{key_prefix}:barrier:{barrier_id}:done",
    ]


#: Ends the id of a barrier whose group no task triggered: its members need not read the barrier's metadata.
UNFED_SUFFIX = ":unfed"


def fed_by_triggers(barrier_id: str) -> bool:
    """Whether members of ``barrier_id`` may have triggering tasks in the barrier's metadata (False only for ids the
    coordinator marked with :data:`UNFED_SUFFIX`; ids from other producers are read as fed)."""
    return not barrier_id.endswith(UNFED_SUFFIX)


def meta_key(key_prefix: str, barrier_id: str) -> str:
    """Key of a barrier's metadata (JSON written when it is armed)."""
    return f"{key_prefix}:barrier:{barrier_id}:meta"


def read_meta(redis_client: redis.Redis, key_prefix: str, barrier_id: str) -> dict[str, Any]:
    """The metadata a barrier was armed with (empty when none or expired)."""
    raw = redis_client.get(meta_key(key_prefix, barrier_id))
    return dict(json.loads(raw)) if raw else {}


def completion_json(
    task_id: str, success: bool, error_message: str | None, duration: float | None = None, worker: str | None = None
) -> str:
    """The completion record stored for one member: upstream's fields, plus ``duration`` and ``worker`` when known."""
    if error_message is None and isinstance(duration, float) and worker is not None:
        # Every task a worker finishes without error: the same JSON as below, without building a dict to encode.
        return (
            f'{{"task_id": {_escape(task_id)}, "success": {"true" if success else "false"}, '
            f'"timestamp": {time.time()!r}, "error_message": null, "duration": {_float(duration)}, '
            f'"worker": {_escape(worker)}}}'
        )
    body: dict[str, Any] = {
        "task_id": task_id,
        "success": bool(success),
        "timestamp": time.time(),
        "error_message": error_message,
    }
    if duration is not None:
        body["duration"] = duration
    if worker is not None:
        body["worker"] = worker
    return json.dumps(body)


_escape = json.encoder.encode_basestring_ascii


def _float(value: float) -> str:
    return repr(value) if value == value and value not in (float("inf"), float("-inf")) else json.dumps(value)


_SCRIPTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _script(client: redis.Redis, source: str) -> Any:
    per_client = _SCRIPTS.setdefault(client, {})
    script = per_client.get(source)
    if script is None:
        script = per_client[source] = client.register_script(source)
    return script


def record_completion(
    redis_client: redis.Redis,
    key_prefix: str,
    barrier_id: str,
    task_id: str,
    success: bool,
    error_message: str | None = None,
    *,
    ttl: int = defaults.RESULT_TTL_SECONDS,
    ack: tuple[str, str, str] | None = None,
    duration: float | None = None,
    worker: str | None = None,
) -> bool:
    """Record that member ``task_id`` finished; idempotent. Returns whether this call was the first to record it.

    Args:
        ack: ``(stream_key, group, entry_id)`` to acknowledge in the same atomic step.
        duration: Seconds the member ran (informational).
        worker: Id of the worker that ran it (informational).
    """
    keys = completion_keys(key_prefix, barrier_id)
    body = completion_json(task_id, success, error_message, duration, worker)
    if ack is None:
        added, _n = _script(redis_client, scripts.COMPLETE)(keys=keys, args=[task_id, body, ttl])
    else:
        stream_key, group, entry_id = ack
        added, _n = _script(redis_client, scripts.COMPLETE_AND_ACK)(
            keys=[*keys, stream_key], args=[task_id, body, ttl, group, entry_id]
        )
    return bool(int(added))


class GroupBarrier:
    """The producer's side of one barrier: arm it, wait for it, read the completions, clean up.

    Args:
        redis_client: Any redis-py client.
        key_prefix: Key prefix shared with the workers.
        barrier_id: Unique id of this group execution.
        ttl: Lifetime of the barrier keys in seconds (D26: nothing piles up).
    """

    def __init__(
        self, redis_client: redis.Redis, key_prefix: str, barrier_id: str, ttl: int = defaults.RESULT_TTL_SECONDS
    ) -> None:
        self.redis = redis_client
        self.key_prefix = key_prefix
        self.barrier_id = barrier_id
        self.ttl = ttl
        self.completions_key, self.expected_key, self.wake_key = completion_keys(key_prefix, barrier_id)
        self.meta_key = meta_key(key_prefix, barrier_id)
        # A blocking read must end before the client's socket timeout, or it fails as a lost connection.
        socket_timeout = getattr(redis_client, "connection_pool", None)
        socket_timeout = getattr(socket_timeout, "connection_kwargs", {}).get("socket_timeout")
        self._longest_block = BARRIER_RECHECK_SECONDS
        if isinstance(socket_timeout, (int, float)) and socket_timeout > 0:
            self._longest_block = min(BARRIER_RECHECK_SECONDS, socket_timeout * 0.8)

    def arm(self, expected: int, meta: dict[str, Any] | None = None) -> None:
        """Expect ``expected`` distinct member completions; ``meta`` is readable by the workers (:func:`read_meta`)."""
        _script(self.redis, scripts.ARM_BARRIER)(
            keys=[self.completions_key, self.expected_key, self.wake_key, self.meta_key],
            args=[expected, self.ttl, json.dumps(meta or {})],
        )

    def completed_count(self) -> int:
        """Distinct members completed so far."""
        return int(self.redis.hlen(self.completions_key))

    def is_member_completed(self, task_id: str) -> bool:
        """Whether ``task_id`` already recorded its completion."""
        return bool(self.redis.hexists(self.completions_key, task_id))

    def completions(self) -> dict[str, dict[str, Any]]:
        """Member id → completion record."""
        raw = self.redis.hgetall(self.completions_key)
        keys = [k.decode() if isinstance(k, bytes) else k for k in raw]
        values = [v.decode() if isinstance(v, bytes) else v for v in raw.values()]
        try:
            # One parse of a JSON array instead of one json.loads per member: a group may have many thousands.
            parsed = json.loads("[" + ",".join(values) + "]")
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or len(parsed) != len(values):
            parsed = [json.loads(v) for v in values]  # a record that breaks the array (cannot happen when valid)
        return dict(zip(keys, parsed, strict=True))

    def wait(self, member_ids: list[str], timeout: float | None = None) -> dict[str, dict[str, Any]]:
        """Block until every member completed; return the completions.

        Args:
            member_ids: The members expected (named in the error when they are missing).
            timeout: Seconds to wait; None waits until every member completed or was dead-lettered.

        Raises:
            BarrierTimeoutError: ``timeout`` passed first; the error names the missing members.
        """
        expected = len(member_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        next_log = time.monotonic() + BARRIER_PROGRESS_LOG_SECONDS
        backoff = 0.05
        while True:
            try:
                if self.completed_count() >= expected:
                    return self.completions()
                remaining = BARRIER_RECHECK_SECONDS if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = max(0.01, min(remaining, self._longest_block))
                # BLPOP takes whole or fractional seconds (Redis >= 6); the token is consumed by the only waiter.
                self.redis.blpop([self.wake_key], timeout=wait)
                backoff = 0.05
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                logger.warning("Redis unavailable while waiting on group %s (%s); retrying", self.barrier_id, exc)
                time.sleep(backoff)  # back off between reconnect attempts, not a poll for progress
                backoff = min(backoff * 2, REDIS_RECONNECT_BACKOFF_MAX)
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + BARRIER_PROGRESS_LOG_SECONDS
                logger.info(
                    "Group %s still waiting for %s", self.barrier_id, ", ".join(self.missing(member_ids)) or "-"
                )
        assert timeout is not None
        raise BarrierTimeoutError(self.barrier_id, self.missing(member_ids), timeout)

    def missing(self, member_ids: list[str]) -> list[str]:
        """Members that have not completed yet, in the given order."""
        try:
            done = set(self.completions())
        except (redis.ConnectionError, redis.TimeoutError):
            return list(member_ids)
        return [m for m in member_ids if m not in done]

    def cleanup(self) -> None:
        """Delete the barrier's keys."""
        self.redis.delete(self.completions_key, self.expected_key, self.wake_key, self.meta_key)


__all__ = [
    "BARRIER_RECHECK_SECONDS",
    "UNFED_SUFFIX",
    "fed_by_triggers",
    "BarrierTimeoutError",
    "GroupBarrier",
    "completion_json",
    "completion_keys",
    "meta_key",
    "read_meta",
    "record_completion",
]
