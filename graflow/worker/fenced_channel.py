"""The channel of a task running on a worker: a Redis channel whose writes are fenced by the task's lease.

Delivery is at-least-once (D19): a worker cut off from Redis longer than its lease has its task reclaimed and run
by another worker. When the cut-off worker reconnects, a write it had in flight (redis-py retries a failed command)
must not overwrite what the new owner wrote. So every ``set`` of a worker task runs as one script that first checks
that the task's stream entry is still pending and owned by this worker's consumer; if not, nothing is written and
:class:`LeaseLostError` stops the stale run. Results therefore come from the delivery that completes the task.
"""

from __future__ import annotations

from typing import Any

from graflow.channels.redis_channel import RedisChannel
from graflow.exceptions import GraflowError

# KEYS: channel key, stream. ARGV: encoded value, ttl ms or "", group, entry id, consumer.
_FENCED_SET = """
local p = redis.call('XPENDING', KEYS[2], ARGV[3], ARGV[4], ARGV[4], 1)
if #p == 0 or p[1][2] ~= ARGV[5] then return 0 end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"""


class LeaseLostError(GraflowError):
    """A worker task lost its lease (its entry was reclaimed or finished elsewhere); its writes are refused.

    Attributes:
        entry_id: The stream entry of the stale delivery.
        key: The channel key whose write was refused.
    """

    def __init__(self, entry_id: str, key: str) -> None:
        self.entry_id = entry_id
        self.key = key
        super().__init__(
            f"Write of channel key {key!r} refused: this worker no longer holds task entry {entry_id} "
            "(it was reclaimed by another worker or already completed)"
        )


class FencedRedisChannel(RedisChannel):
    """A :class:`RedisChannel` whose ``set`` only writes while ``entry_id`` is owned by ``consumer``.

    Args:
        name: The producer's session id.
        fence: ``(stream_key, group, entry_id, consumer)`` of the delivery being run.
        **kwargs: As :class:`RedisChannel` (``redis_client``, ``key_prefix``, ``default_ttl`` ...).
    """

    def __init__(self, name: str, *, fence: tuple[str, str, str, str], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.fence = fence
        self._fenced_set = self._redis.register_script(_FENCED_SET)

    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Store ``value`` under ``key`` unless the delivery lost its lease.

        Raises:
            LeaseLostError: The delivery is no longer this worker's; nothing was written.
        """
        ms = self._ttl_ms(ttl if ttl is not None else self.default_ttl)
        stream_key, group, entry_id, consumer = self.fence
        written = self._fenced_set(
            keys=[self.redis_key(key), stream_key],
            args=[self._encode(value), "" if ms is None else ms, group, entry_id, consumer],
        )
        if not int(written):
            raise LeaseLostError(entry_id, key)

    def __reduce__(self) -> Any:
        # A pickled worker channel (e.g. in a checkpoint) comes back as a plain Redis channel of the same session.
        return (_plain_channel, (self.__getstate__(),))


def _plain_channel(state: dict[str, Any]) -> RedisChannel:
    channel = RedisChannel.__new__(RedisChannel)
    channel.__setstate__(state)
    return channel


__all__ = ["FencedRedisChannel", "LeaseLostError"]
