"""MemoryChannel against the shared channel contract, plus what only the in-process channel promises."""

from __future__ import annotations

import gc
import pickle
import threading

import pytest

from graflow.channels import memory_channel
from graflow.channels.base import Channel
from graflow.channels.memory_channel import MemoryChannel
from graflow.testing.contracts import ChannelContract


class TestMemoryChannelContract(ChannelContract):
    reentrant_lock = True
    supports_pickle = True
    # In-process operations are so quick that 100 per thread rarely overlap; more work makes lost updates show.
    ops_per_thread = 1000
    contention_rounds = 10

    def make_channel(self, name: str) -> Channel:
        return MemoryChannel(name)


def _no_clock() -> float:
    raise AssertionError("the clock was read although no key has a TTL")


def test_channel_without_ttl_keys_never_reads_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a channel none of whose keys has a TTL, and a clock that fails when read
    channel = MemoryChannel("hot")
    monkeypatch.setattr(memory_channel, "_now", _no_clock)
    # when the hot-path operations run, then none of them reads the clock
    channel.set("a", 1)
    assert channel.get("a") == 1
    assert channel.exists("a")
    assert channel.keys() == ["a"]
    assert channel.delete("a")


def test_clock_is_read_again_once_a_key_has_a_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a channel with one TTL key whose deadline has passed by the fake clock
    now = [100.0]
    monkeypatch.setattr(memory_channel, "_now", lambda: now[0])
    channel = MemoryChannel("ttl")
    channel.set("plain", 1)
    channel.set("short", 2, ttl=5)
    now[0] = 105.0
    # when the channel is read, then the expired key is gone and the channel is clock-free again
    assert channel.get("short") is None
    assert channel.keys() == ["plain"]
    monkeypatch.setattr(memory_channel, "_now", _no_clock)
    assert channel.get("plain") == 1


def test_rewriting_an_expired_key_moves_it_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # given an expired key that has not been evicted yet
    now = [0.0]
    monkeypatch.setattr(memory_channel, "_now", lambda: now[0])
    channel = MemoryChannel("order")
    channel.set("first", 1, ttl=1)
    channel.set("second", 2)
    now[0] = 2.0
    # when it is written again, then it counts as a new key
    channel.set("first", 3)
    assert channel.keys() == ["second", "first"]


def test_get_returns_the_stored_object_itself() -> None:
    channel = MemoryChannel("identity")
    value = {"big": list(range(10))}
    channel.set("k", value)
    assert channel.get("k") is value


def test_released_key_locks_are_not_retained() -> None:
    # given many keys locked and released once
    channel = MemoryChannel("locks")
    for i in range(100):
        with channel.lock(f"k{i}"):
            pass
    gc.collect()
    # then the lock table does not keep a lock per key forever
    assert len(channel._locks) == 0


def test_lock_with_zero_timeout_fails_at_once_when_held_elsewhere() -> None:
    channel = MemoryChannel("zero")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with channel.lock("k"):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(TimeoutError, match="Could not acquire lock on key 'k'"), channel.lock("k", timeout=0):
            pass
    finally:
        release.set()
        thread.join(30)


def test_atomic_add_rejects_a_bool_amount() -> None:
    channel = MemoryChannel("bool")
    with pytest.raises(TypeError, match="amount"):
        channel.atomic_add("n", True)
    assert not channel.exists("n")


def test_type_error_names_the_key_and_the_held_type() -> None:
    channel = MemoryChannel("errors")
    channel.set("k", "text")
    with pytest.raises(TypeError, match="key 'k' of channel 'errors': it holds a str, not a list"):
        channel.append("k", 1)


def test_pickle_keeps_remaining_ttl_not_the_absolute_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a key with 10 s left on this process's monotonic clock
    monkeypatch.setattr(memory_channel, "_now", lambda: 1000.0)
    channel = MemoryChannel("ttl")
    channel.set("k", "v", ttl=10)
    state = pickle.dumps(channel)
    # when it is restored where the monotonic clock reads something else entirely
    monkeypatch.setattr(memory_channel, "_now", lambda: 5.0)
    restored = pickle.loads(state)
    # then it still has 10 s left there
    assert restored.get("k") == "v"
    monkeypatch.setattr(memory_channel, "_now", lambda: 14.9)
    assert restored.exists("k")
    monkeypatch.setattr(memory_channel, "_now", lambda: 15.0)
    assert not restored.exists("k")


def test_extra_keyword_arguments_are_accepted() -> None:
    channel = MemoryChannel("kw", redis_client=None, key_prefix="x")
    assert channel.name == "kw"
