"""RedisChannel against the shared channel contract, on every kind of client and signer it supports.

The suite runs three times: a bytes client with unsigned frames (loopback, no secret), a ``decode_responses=True``
client (upstream's default, D21), and a signed channel (D20). Each run uses its own key prefix, removed afterwards.
"""

from __future__ import annotations

import json
import pickle
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow.channels.base import Channel
from graflow.channels.redis_channel import RedisChannel
from graflow.core import serialization
from graflow.exceptions import ConfigError
from graflow.security.signing import SIGNED_MAGIC, UNSIGNED_MAGIC, BadSignatureError, NullSigner, PayloadSigner
from graflow.testing.contracts import ChannelContract
from graflow.testing.contracts.channel import assert_same


class TestRedisChannelContract(ChannelContract):
    keys_in_insertion_order = False  # Redis keeps no insertion order; keys() is sorted
    reentrant_lock = True
    supports_pickle = True  # the data lives in Redis; a pickled channel reconnects to it
    short_ttl = 0.05

    @pytest.fixture(autouse=True)
    def _redis(self, redis_client: Any, key_prefix: str) -> None:
        self.client = redis_client
        self.prefix = key_prefix

    def channel_kwargs(self) -> dict[str, Any]:
        return {"redis_client": self.client, "key_prefix": self.prefix}

    def make_channel(self, name: str) -> Channel:
        return RedisChannel(name, **self.channel_kwargs())


class TestRedisChannelContractWithDecodingClient(TestRedisChannelContract):
    """Clients made with ``decode_responses=True`` (as upstream made them) must not change any behaviour."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis_url: str, key_prefix: str) -> Any:
        import redis

        self.client = redis.Redis.from_url(redis_url, decode_responses=True)
        self.prefix = key_prefix
        yield
        self.client.close()


class TestSignedRedisChannelContract(TestRedisChannelContract):
    """With a secret, non-JSON values are signed frames; behaviour is the same."""

    def channel_kwargs(self) -> dict[str, Any]:
        return {**super().channel_kwargs(), "signer": PayloadSigner(secrets.token_bytes(32))}

    # A pickled channel never carries its secret; the restored one reads the environment.
    supports_pickle = False


class TestFencedChannelContract(TestRedisChannelContract):
    """A worker task's channel (writes fenced by the task's lease) keeps every promise while the lease is held."""

    supports_pickle = False  # a pickled worker channel comes back as a plain Redis channel
    buffered = False

    def make_channel(self, name: str) -> Channel:
        from graflow.distributed.fenced_channel import FencedRedisChannel

        stream, group, consumer = f"{self.prefix}:tasks", "workers", "owner"
        entry = self.client.xadd(stream, {"p": b"x"})
        try:
            self.client.xgroup_create(stream, group, id="0")
        except Exception:  # noqa: BLE001 - the group exists already
            pass
        self.client.xreadgroup(group, consumer, {stream: ">"}, count=100)
        entry_id = entry.decode() if isinstance(entry, bytes) else entry
        return FencedRedisChannel(
            name, fence=(stream, group, entry_id, consumer), buffered=self.buffered, **self.channel_kwargs()
        )


class TestFencedBufferedChannelContract(TestFencedChannelContract):
    """Buffered (a group member's writes land with its completion), the task sees the same channel."""

    buffered = True


# What only the Redis channel promises ---------------------------------------------------------------------------------
SECRET = b"c" * 32


class Tripwire:
    """Unpickling it creates a file, so a test can tell whether a stored value was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.fixture(autouse=True)
def _no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFLOW_SECRET_KEY", raising=False)
    monkeypatch.delenv("GRAFLOW_INSECURE", raising=False)


@pytest.fixture
def make(redis_client: Any, key_prefix: str) -> Iterator[Callable[..., RedisChannel]]:
    created: list[RedisChannel] = []

    def factory(name: str = "run", **kwargs: Any) -> RedisChannel:
        kwargs.setdefault("key_prefix", key_prefix)
        channel = RedisChannel(name, redis_client=redis_client, **kwargs)
        created.append(channel)
        return channel

    yield factory
    for channel in created:
        channel.clear()


def test_default_key_layout_is_upstreams(redis_client: Any) -> None:
    name = f"layout-{uuid.uuid4().hex}"
    channel = RedisChannel(name, redis_client=redis_client)
    try:
        channel.set("calc.__result__", 1)
        assert redis_client.get(f"graflow:channel:{name}:calc.__result__") == b"1"
        assert channel.redis_key("x") == f"graflow:channel:{name}:x"
    finally:
        channel.clear()


def test_plain_json_is_stored_as_readable_json(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make()
    value = {"users": 1200, "names": ["a", "ключ"], "ok": True, "none": None}
    channel.set("k", value)
    assert json.loads(redis_client.get(channel.redis_key("k"))) == value


def test_tuples_and_tag_lookalikes_round_trip_exactly(make: Callable[..., RedisChannel]) -> None:
    channel = make()
    values = [
        {"__tuple__": [1, 2]},
        {"__dict__": [["a", 1]]},
        ({"__tuple__": (1,)}, [{"__dict__": {}}]),
        {"x": {"__tuple__": "not a list"}},
    ]
    for value in values:
        channel.set("k", value)
        assert_same(value, channel.get("k"))
        channel.delete("k")
        channel.append("k", value)
        assert_same([value], channel.get("k"))


def test_non_json_values_are_unsigned_frames_on_loopback_without_secret(
    make: Callable[..., RedisChannel], redis_client: Any
) -> None:
    channel = make()
    channel.set("k", {1, 2})
    assert redis_client.get(channel.redis_key("k")).startswith(UNSIGNED_MAGIC)
    assert channel.get("k") == {1, 2}


def test_secret_from_the_environment_signs_non_json_values(
    make: Callable[..., RedisChannel], redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET.decode())
    channel = make()
    channel.set("k", {1, 2})
    assert redis_client.get(channel.redis_key("k")).startswith(SIGNED_MAGIC)
    assert channel.get("k") == {1, 2}


@pytest.mark.parametrize("kind", ["forged_tag", "other_secret", "unsigned", "truncated"])
def test_forged_values_raise_and_are_never_unpickled(
    make: Callable[..., RedisChannel], redis_client: Any, tmp_path: Path, kind: str
) -> None:
    # given a signed channel and an attacker who writes a pickle into one of its keys
    tripwire = tmp_path / "unpickled.txt"
    channel = make(signer=PayloadSigner(SECRET))
    evil = serialization.dumps(Tripwire(tripwire))
    blob = {
        "forged_tag": SIGNED_MAGIC + b"\x00" * 32 + evil,
        "other_secret": PayloadSigner(b"o" * 32).sign(evil),
        "unsigned": NullSigner().sign(evil),
        "truncated": PayloadSigner(SECRET).sign(evil)[:12],
    }[kind]
    redis_client.set(channel.redis_key("k"), blob)
    redis_client.rpush(channel.redis_key("list"), b"1", blob)
    # when the channel reads them, then it refuses, and nothing was unpickled
    with pytest.raises(BadSignatureError):
        channel.get("k")
    with pytest.raises(BadSignatureError):
        channel.get("list")
    assert not tripwire.exists()


def test_a_channel_without_the_secret_refuses_signed_values(make: Callable[..., RedisChannel], tmp_path: Path) -> None:
    tripwire = tmp_path / "unpickled.txt"
    make(signer=PayloadSigner(SECRET)).set("k", Tripwire(tripwire))  # unpickling it would create the file
    assert not tripwire.exists()
    with pytest.raises(BadSignatureError, match="GRAFLOW_SECRET_KEY"):
        make().get("k")
    assert not tripwire.exists()
    make(signer=PayloadSigner(SECRET)).get("k")  # the control: with the secret it is unpickled
    assert tripwire.exists()


def test_foreign_bytes_read_as_default(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make()
    for foreign in (b"\x80\x05not json", b"GFoo is not a frame", b"plain text"):
        redis_client.set(channel.redis_key("k"), foreign)
        assert channel.get("k", "fallback") == "fallback"


def test_a_frame_of_an_unknown_version_raises(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make()
    redis_client.set(channel.redis_key("k"), b"GFS9" + b"\x00" * 40)
    with pytest.raises(BadSignatureError) as info:
        channel.get("k")
    assert info.value.reason == "bad_magic"


def test_remote_redis_without_secret_refuses_non_json_but_keeps_json() -> None:
    # a client of a remote host is built but never connects: only the refusal path runs
    import redis

    channel = RedisChannel("remote", redis_client=redis.Redis(host="redis.invalid"))
    with pytest.raises(ConfigError, match="GRAFLOW_SECRET_KEY"):
        channel._encode({1, 2})
    assert channel._encode({"a": (1,)}).startswith(b"GFJ1")


def test_default_ttl_expires_keys_written_without_a_ttl(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make(default_ttl=100)
    channel.set("plain", 1)
    channel.append("log", 1)
    channel.atomic_add("n", 1)
    for key in ("plain", "log", "n"):
        assert 0 < redis_client.pttl(channel.redis_key(key)) <= 100_000, key


def test_default_ttl_never_extends_an_explicit_shorter_ttl(
    make: Callable[..., RedisChannel], redis_client: Any
) -> None:
    channel = make(default_ttl=1000)
    channel.append("log", 1, ttl=10)
    channel.append("log", 2)
    channel.set("n", 1, ttl=10)
    channel.atomic_add("n", 1)
    assert redis_client.pttl(channel.redis_key("log")) <= 10_000
    assert redis_client.pttl(channel.redis_key("n")) <= 10_000


def test_without_default_ttl_keys_do_not_expire(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make()
    channel.set("plain", 1)
    channel.atomic_add("n", 1)
    assert redis_client.pttl(channel.redis_key("plain")) == -1
    assert redis_client.pttl(channel.redis_key("n")) == -1


@pytest.mark.parametrize("bad", [0, -5, "10", True])
def test_invalid_default_ttl_is_refused(redis_client: Any, bad: Any) -> None:
    with pytest.raises(ValueError, match="default_ttl"):
        RedisChannel("x", redis_client=redis_client, default_ttl=bad)


def test_converting_a_set_list_keeps_its_ttl(make: Callable[..., RedisChannel], redis_client: Any) -> None:
    channel = make()
    channel.set("log", [1, (2, 3)], ttl=100)
    assert channel.append("log", {4}) == 3
    assert channel.get("log") == [1, (2, 3), {4}]
    assert 0 < redis_client.pttl(channel.redis_key("log")) <= 100_000


def test_set_many_writes_all_keys_in_one_transaction(make: Callable[..., RedisChannel]) -> None:
    channel = make()
    channel.set_many({"a": 1, "b": (2,), "c": {3}}, ttl=60)
    assert [channel.get(k) for k in "abc"] == [1, (2,), {3}]


def test_atomic_add_keeps_large_integers_exact(make: Callable[..., RedisChannel]) -> None:
    channel = make()
    channel.set("n", 2**62)
    assert channel.atomic_add("n", 1) == 2**62 + 1
    assert_same(2**62 + 1, channel.get("n"))


def test_atomic_add_mixing_floats_gives_floats_like_python(make: Callable[..., RedisChannel]) -> None:
    channel = make()
    channel.set("n", 1.5)
    assert_same(3.0, channel.atomic_add("n", 1.5))
    assert_same(3.0, channel.get("n"))
    assert_same(4.0, channel.atomic_add("n", 1))


def test_lock_of_a_dead_holder_frees_itself_after_the_lease(make: Callable[..., RedisChannel]) -> None:
    # given a lock whose holder vanished without releasing it (its lease is short)
    holder = make(lock_lease=0.2)
    lock_context = holder.lock("k", timeout=1)
    lock_context.__enter__()  # never exited: the holder "died"
    # then another holder gets it once the lease has run out, well within its timeout
    other = make()
    with other.lock("k", timeout=10):
        pass


def test_ping_and_close(redis_url: str, key_prefix: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    db = int(parts.path.strip("/") or 0)
    channel = RedisChannel(
        "own", host=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=db, key_prefix=key_prefix
    )
    assert channel.ping()
    channel.set("k", "v")
    assert channel.get("k") == "v"
    channel.clear()
    channel.close()


def test_pickled_signed_channel_takes_its_secret_from_the_environment(
    make: Callable[..., RedisChannel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFLOW_SECRET_KEY", SECRET.decode())
    channel = make(signer=PayloadSigner(SECRET))
    channel.set("k", {1, 2})
    state = pickle.dumps(channel)
    assert SECRET not in state
    restored = pickle.loads(state)
    assert restored.get("k") == {1, 2}


def test_get_many_reads_every_kind_of_key_as_get_does(make: Callable[..., RedisChannel]) -> None:
    channel = make()
    channel.set("json", {"a": [1, 2]})
    channel.set("tuple", (1, "x"))
    channel.set("object", {1, 2})
    channel.append("list", "x")
    keys = ["json", "tuple", "object", "list", "missing"]
    assert channel.get_many(keys) == {key: channel.get(key) for key in keys}
    assert channel.get_many(keys)["missing"] is None


# A worker task's channel ----------------------------------------------------------------------------------------------
@pytest.fixture
def task_channel(redis_client: Any, key_prefix: str) -> Iterator[Callable[..., Any]]:
    """Makes the buffered, fenced channel of a delivery owned by consumer ``owner``; ``.steal()`` moves the entry
    to another consumer (the lease was lost)."""
    from graflow.distributed.fenced_channel import FencedRedisChannel

    stream, group = f"{key_prefix}:tasks", "workers"
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    created: list[Any] = []

    def factory(name: str = "run") -> Any:
        redis_client.xadd(stream, {"p": b"x"})
        ((_, ((entry, _),)),) = redis_client.xreadgroup(group, "owner", {stream: ">"}, count=1)
        entry_id = entry.decode() if isinstance(entry, bytes) else entry
        channel = FencedRedisChannel(
            name,
            fence=(stream, group, entry_id, "owner"),
            buffered=True,
            redis_client=redis_client,
            key_prefix=key_prefix,
        )
        channel.steal = lambda: redis_client.xclaim(stream, group, "thief", 0, [entry_id], justid=True)
        created.append(channel)
        return channel

    yield factory
    for channel in created:
        channel.clear()


def test_a_task_s_writes_reach_redis_only_when_the_worker_takes_them(
    task_channel: Callable[..., Any], make: Callable[..., RedisChannel]
) -> None:
    # given a task channel and another reader of the same session
    channel, reader = task_channel(), make()
    channel.set("k", {"v": 1})
    # then the task sees its write at once, other processes do not yet
    assert channel.get("k") == {"v": 1} and channel.exists("k")
    assert reader.get("k") is None
    # and the worker takes the writes (to store them with the completion): encoded, with the default TTL
    ((key, data, ttl),) = channel.take_writes()
    assert key == channel.redis_key("k") and json.loads(data) == {"v": 1} and ttl is None
    assert channel.take_writes() == []


def test_other_operations_see_the_task_s_earlier_writes(
    task_channel: Callable[..., Any], make: Callable[..., RedisChannel]
) -> None:
    channel, reader = task_channel(), make()
    channel.set("a", 1)
    channel.append("log", "x")  # any operation other than set/get writes the buffer first, in order
    assert reader.get("a") == 1 and reader.get("log") == ["x"]
    channel.set("b", 2)
    with channel.lock("b"):
        channel.set("c", 3)
    assert reader.get("b") == 2 and reader.get("c") == 3  # writes under a lock land before its release
    assert channel.take_writes() == []


def test_a_task_that_lost_its_lease_cannot_write(
    task_channel: Callable[..., Any], make: Callable[..., RedisChannel]
) -> None:
    from graflow.distributed.fenced_channel import LeaseLostError

    channel, reader = task_channel(), make()
    channel.set("k", "stale")
    channel.steal()
    with pytest.raises(LeaseLostError):
        channel.flush()
    with pytest.raises(LeaseLostError):
        channel.set("t", 1, ttl=60)  # an explicit TTL writes through at once
    assert reader.get("k") is None and reader.get("t") is None


def test_a_pickled_task_channel_writes_its_buffer_and_comes_back_plain(
    task_channel: Callable[..., Any], make: Callable[..., RedisChannel]
) -> None:
    channel = task_channel()
    channel.set("k", 1)
    restored = pickle.loads(pickle.dumps(channel))
    assert type(restored) is RedisChannel
    assert restored.get("k") == 1 and make().get("k") == 1
