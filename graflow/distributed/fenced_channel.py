"""The channel of a task running on a worker: a Redis channel whose writes are fenced by the task's lease.

Delivery is at-least-once (D19): a worker cut off from Redis longer than its lease has its task reclaimed and run
by another worker. When the cut-off worker reconnects, a write it had in flight (redis-py retries a failed command)
must not overwrite what the new owner wrote. So every write of a worker task goes through one script that first
checks that the task's stream entry is still pending and owned by this worker's consumer; if not, nothing is
written and :class:`LeaseLostError` stops the stale run. Results therefore come from the delivery that completes
the task.

A parallel group's member runs *buffered*: its ``set`` calls (without an explicit TTL) are kept in the process (its
own reads see them) and reach Redis together with its completion and acknowledgement, in one atomic step
(:meth:`~graflow.distributed.streams.RedisStreamQueue.finish_many`). That saves a round trip per task, and a member's
results become visible exactly when the member counts as done, never from a delivery that lost its lease. Any
other operation (``append``, ``atomic_add``, ``delete``, ``lock``, listing keys ...) first flushes the buffer
through the fence, so the order of a task's own operations is kept. Anything else a worker runs (a whole workflow
from ``submit_workflow``, a task queued without a group) writes through at once: other processes may watch it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from graflow.channels.redis_channel import RedisChannel
from graflow.exceptions import GraflowError

# KEYS: stream, channel key... ARGV: group, entry id, consumer, then (encoded value, ttl ms or "") per key.
_FENCED_SET = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
for i = 2, #KEYS do
  local value, px = ARGV[2 * i], ARGV[2 * i + 1]
  if px ~= '' then
    redis.call('SET', KEYS[i], value, 'PX', px)
  else
    redis.call('SET', KEYS[i], value)
  end
end
return 1
"""

_SCRIPTS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _fenced_set_script(client: Any) -> Any:
    script = _SCRIPTS.get(client)
    if script is None:
        script = _SCRIPTS[client] = client.register_script(_FENCED_SET)
    return script


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
    """A :class:`RedisChannel` whose writes only land while ``entry_id`` is owned by ``consumer``.

    Args:
        name: The producer's session id.
        fence: ``(stream_key, group, entry_id, consumer)`` of the delivery being run.
        buffered: Keep ``set`` writes until :meth:`take_writes` (the worker then writes them with the completion).
        **kwargs: As :class:`RedisChannel` (``redis_client``, ``key_prefix``, ``default_ttl`` ...).
    """

    def __init__(self, name: str, *, fence: tuple[str, str, str, str], buffered: bool = False, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._fence(fence, buffered)

    @classmethod
    def for_delivery(
        cls, base: RedisChannel, fence: tuple[str, str, str, str], *, buffered: bool = False
    ) -> FencedRedisChannel:
        """A fenced view of ``base`` (same session, client, signer and TTL) for one delivery.

        Cheap: nothing is connected or registered again, which matters when every task gets its own channel.
        """
        channel = cls.__new__(cls)
        channel.__dict__.update(base.__dict__)
        channel._fence(fence, buffered)
        return channel

    def _fence(self, fence: tuple[str, str, str, str], buffered: bool) -> None:
        self.fence = fence
        self.buffered = buffered
        self._pending: dict[str, tuple[bytes, int | None]] = {}
        if "_fenced_set" not in self.__dict__:  # a view of a fenced channel has it already
            self._fenced_set = _fenced_set_script(self._redis)

    # -- writes -------------------------------------------------------------------------------------------------------
    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Store ``value`` under ``key`` unless the delivery lost its lease (buffered: when the task finishes).

        A write with an explicit ``ttl`` is never buffered: its expiry starts now, for every reader.

        Raises:
            LeaseLostError: The delivery is no longer this worker's; nothing was written.
        """
        ms = self._ttl_ms(ttl if ttl is not None else self.default_ttl)
        data = self._encode(value)
        if self.buffered and ttl is None:
            self._pending[key] = (data, ms)
        else:
            self._pending.pop(key, None)
            self._write({key: (data, ms)})

    def set_many(self, mapping: Mapping[str, Any], ttl: int | float | None = None) -> None:
        """Store several keys at once (all or none), fenced; buffered as :meth:`set` is."""
        ms = self._ttl_ms(ttl if ttl is not None else self.default_ttl)
        encoded = {key: (self._encode(value), ms) for key, value in mapping.items()}
        if self.buffered and ttl is None:
            self._pending.update(encoded)
        elif encoded:
            for key in encoded:
                self._pending.pop(key, None)
            self._write(encoded)

    def _write(self, writes: Mapping[str, tuple[bytes, int | None]]) -> None:
        stream_key, group, entry_id, consumer = self.fence
        keys = [stream_key]
        args: list[Any] = [group, entry_id, consumer]
        for key, (data, ms) in writes.items():
            keys.append(self.redis_key(key))
            args += (data, "" if ms is None else ms)
        if not int(self._fenced_set(keys=keys, args=args)):
            raise LeaseLostError(entry_id, next(iter(writes)))

    def flush(self) -> None:
        """Write the buffered keys now, through the fence.

        Raises:
            LeaseLostError: The delivery is no longer this worker's; nothing was written.
        """
        if self._pending:
            pending, self._pending = self._pending, {}
            self._write(pending)

    def take_writes(self) -> list[tuple[str, bytes, int | None]]:
        """Hand over the buffered writes as ``(redis key, encoded value, ttl ms or None)`` and forget them."""
        pending, self._pending = self._pending, {}
        return [(self.redis_key(key), data, ms) for key, (data, ms) in pending.items()]

    # -- reads see the task's own buffered writes ------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (a buffered write of this task first)."""
        pending = self._pending.get(key)
        if pending is not None:
            return self._decode(pending[0], key, default)
        return super().get(key, default)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """Values of ``keys`` (buffered writes of this task first)."""
        missing = [key for key in keys if key not in self._pending]
        found = super().get_many(missing) if missing else {}
        return {key: (self.get(key) if key in self._pending else found.get(key)) for key in keys}

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value (a buffered write of this task counts)."""
        return key in self._pending or super().exists(key)

    # -- everything else sees Redis after the buffer -------------------------------------------------------------------
    def delete(self, key: str) -> bool:
        """Remove ``key`` (after writing the buffer); return whether it existed."""
        self.flush()
        return super().delete(key)

    def keys(self) -> list[str]:
        """All live keys (after writing the buffer)."""
        self.flush()
        return super().keys()

    def clear(self) -> None:
        """Remove every key of the channel, buffered ones included."""
        self._pending.clear()
        super().clear()

    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """As :meth:`RedisChannel.append`, after writing the buffer."""
        self.flush()
        return super().append(key, value, ttl)

    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """As :meth:`RedisChannel.prepend`, after writing the buffer."""
        self.flush()
        return super().prepend(key, value, ttl)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        """As :meth:`RedisChannel.atomic_add`, after writing the buffer."""
        self.flush()
        return super().atomic_add(key, amount)

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        """As :meth:`RedisChannel.lock`; writes made under the lock land before it is released."""
        self.flush()
        with super().lock(key, timeout):
            try:
                yield
            finally:
                self.flush()

    def snapshot(self) -> dict[str, Any]:
        """Every key and value (after writing the buffer)."""
        self.flush()
        return super().snapshot()

    def __reduce__(self) -> Any:
        # A pickled worker channel (e.g. in a checkpoint) comes back as a plain Redis channel of the same session,
        # so whatever the task wrote must be in Redis first.
        self.flush()
        return (_plain_channel, (self.__getstate__(),))


def _plain_channel(state: dict[str, Any]) -> RedisChannel:
    channel = RedisChannel.__new__(RedisChannel)
    channel.__setstate__(state)
    return channel


__all__ = ["FencedRedisChannel", "LeaseLostError"]
