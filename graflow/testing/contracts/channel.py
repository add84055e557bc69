"""The behaviour every :class:`~graflow.channels.base.Channel` backend must show.

Subclass :class:`ChannelContract` in a test module (the subclass name must start with ``Test``) and override
:meth:`ChannelContract.make_channel`; declare what the backend cannot do with the class attributes::

    class TestRedisChannelContract(ChannelContract):
        keys_in_insertion_order = False

        @pytest.fixture(autouse=True)
        def _client(self, redis_client):
            self.client = redis_client  # autouse fixtures run before the contract's own fixtures

        def make_channel(self, name):
            return RedisChannel(name, redis_client=self.client)

Every channel made through the ``new_channel``/``channel`` fixtures gets a unique name and is cleared and closed
after the test.
"""

from __future__ import annotations

import datetime
import decimal
import pickle
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from graflow.channels.base import Channel, result_key

_ABSENT = object()


@dataclass(frozen=True)
class ContractPoint:
    """A picklable user object used by the round-trip tests."""

    x: int
    y: int


# Values every backend must return unchanged, type for type (D13: tuples included).
PLAIN_VALUES: list[Any] = [
    "text",
    "",
    "unicode ✓ ключ",
    0,
    -7,
    10**20,
    3.5,
    0.1,
    True,
    False,
    None,
    [],
    {},
    [1, "a", None, 2.5, False],
    {"a": {"b": [1, {"c": None}]}, "d": 1.0},
    (1, "a"),
    (),
    {"t": (1, [2, (3,)])},
    [(1, 2), (3, 4)],
]

# Values only a backend that keeps arbitrary Python objects returns unchanged.
PYTHON_OBJECTS: list[Any] = [
    {1: "int key", 2.5: "float key"},
    {(1, 2): "tuple key"},
    {1, 2, 3},
    frozenset({"a"}),
    b"\x00bytes\xff",
    datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.UTC),
    decimal.Decimal("1.10"),
    1 + 2j,
    ContractPoint(1, 2),
    {"nested": [ContractPoint(3, 4), {5, 6}]},
]

SPECIAL_KEYS = ["a:b", "with space", "ключ", "task.__result__", "glob*?[x]", "{brace}", "a/b\\c"]


def assert_same(expected: Any, actual: Any) -> None:
    """Assert equality *and* identical types all the way down (so ``1 == 1.0 == True`` cannot hide a change)."""
    assert type(actual) is type(expected), f"{actual!r} is a {type(actual).__name__}, expected {expected!r}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_same(expected[key], actual[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{actual!r} != {expected!r}"
        for e, a in zip(expected, actual, strict=True):
            assert_same(e, a)
    else:
        assert actual == expected


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)  # polling interval against a deadline, not a synchronisation sleep


def run_threads(count: int, target: Callable[[int], None], timeout: float = 60.0) -> None:
    """Run ``target(i)`` in ``count`` threads released together by a barrier; re-raise the first failure.

    The interpreter's switch interval is shortened meanwhile, so lost updates show up even in pure Python code.
    """
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout)
            target(index)
        except BaseException as e:  # reported to the test thread below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
    finally:
        sys.setswitchinterval(old_interval)
    assert not any(t.is_alive() for t in threads), "worker threads did not finish"
    if errors:
        raise errors[0]


@contextmanager
def held_in_another_thread(channel: Channel, key: str) -> Iterator[None]:
    """Hold ``channel.lock(key)`` in a helper thread for the duration of the ``with`` block."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with channel.lock(key, timeout=10):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    try:
        assert held.wait(10), "helper thread could not take the lock"
        yield
    finally:
        release.set()
        thread.join(60)


class ChannelContract:
    """The shared channel test suite. Override :meth:`make_channel`; adjust the capability flags below."""

    #: The backend returns arbitrary (picklable) Python objects unchanged, not only JSON values and tuples.
    preserves_python_objects: ClassVar[bool] = True
    #: ``keys()`` lists keys in insertion order (otherwise only the set of keys is checked).
    keys_in_insertion_order: ClassVar[bool] = True
    #: The thread holding ``lock(key)`` may take it again (an ``RLock``).
    reentrant_lock: ClassVar[bool] = False
    #: A pickled channel carries its data and TTLs.
    supports_pickle: ClassVar[bool] = False
    #: TTL used by expiry tests: short enough to wait for, long enough for the backend's clock resolution.
    short_ttl: ClassVar[float] = 0.05
    #: How long an expiry test waits for a key to disappear before failing.
    expiry_timeout: ClassVar[float] = 5.0
    #: Lock timeout used where a lock is expected to be unavailable.
    short_lock_timeout: ClassVar[float] = 0.1
    #: Concurrency tests (D10): ``threads`` threads each doing ``ops_per_thread`` operations, repeated
    #: ``contention_rounds`` times on fresh keys, because a lost update is a matter of luck in any single round.
    threads: ClassVar[int] = 5
    ops_per_thread: ClassVar[int] = 100
    contention_rounds: ClassVar[int] = 3

    def make_channel(self, name: str) -> Channel:
        """Return a new, empty channel called ``name``. Every backend's test class overrides this."""
        raise NotImplementedError(f"{type(self).__name__} must override make_channel(name)")

    @pytest.fixture
    def new_channel(self) -> Iterator[Callable[[], Channel]]:
        """A factory of channels with unique names, cleared and closed after the test."""
        created: list[Channel] = []

        def factory() -> Channel:
            channel = self.make_channel(f"contract-{uuid.uuid4().hex}")
            created.append(channel)
            return channel

        yield factory
        for channel in created:
            channel.clear()
            channel.close()

    @pytest.fixture
    def channel(self, new_channel: Callable[[], Channel]) -> Channel:
        """One fresh channel."""
        return new_channel()

    def _expire(self, predicate: Callable[[], bool]) -> None:
        assert wait_until(predicate, self.expiry_timeout), f"key did not expire within {self.expiry_timeout}s"

    # get / set ----------------------------------------------------------------------------------------------------
    def test_get_returns_default_for_missing_key(self, channel: Channel) -> None:
        assert channel.get("missing") is None
        assert channel.get("missing", "fallback") == "fallback"

    @pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
    def test_set_then_get_returns_equal_value_of_same_type(self, channel: Channel, value: Any) -> None:
        channel.set("k", value)
        assert_same(value, channel.get("k"))

    @pytest.mark.parametrize("value", PYTHON_OBJECTS, ids=repr)
    def test_python_objects_round_trip(self, channel: Channel, value: Any) -> None:
        if not self.preserves_python_objects:
            pytest.skip("backend stores JSON values only")
        channel.set("k", value)
        assert_same(value, channel.get("k"))

    def test_set_overwrites_previous_value(self, channel: Channel) -> None:
        channel.set("k", 1)
        channel.set("k", {"new": True})
        assert channel.get("k") == {"new": True}

    def test_stored_none_is_a_value_not_a_missing_key(self, channel: Channel) -> None:
        channel.set("k", None)
        assert channel.get("k", "fallback") is None
        assert channel.exists("k")

    def test_special_key_names_round_trip(self, channel: Channel) -> None:
        for i, key in enumerate(SPECIAL_KEYS):
            channel.set(key, i)
        assert sorted(channel.keys()) == sorted(SPECIAL_KEYS)
        assert [channel.get(key) for key in SPECIAL_KEYS] == list(range(len(SPECIAL_KEYS)))

    def test_get_result_reads_the_result_key(self, channel: Channel) -> None:
        channel.set(result_key("calc"), 42)
        assert channel.get_result("calc") == 42
        assert channel.get_result("other", "none") == "none"

    def test_snapshot_holds_every_live_item(self, channel: Channel) -> None:
        channel.set("a", 1)
        channel.set("b", [1, 2])
        channel.append("c", "x")
        assert channel.snapshot() == {"a": 1, "b": [1, 2], "c": ["x"]}

    # exists / delete / keys / clear --------------------------------------------------------------------------------
    def test_exists_follows_set_and_delete(self, channel: Channel) -> None:
        assert not channel.exists("k")
        channel.set("k", 0)
        assert channel.exists("k")
        channel.delete("k")
        assert not channel.exists("k")

    def test_delete_returns_whether_the_key_existed(self, channel: Channel) -> None:
        channel.set("k", "v")
        assert channel.delete("k") is True
        assert channel.delete("k") is False
        assert channel.get("k", "gone") == "gone"

    def test_keys_lists_live_keys(self, channel: Channel) -> None:
        for key in ["zeta", "alpha", "mid", "beta"]:
            channel.set(key, key)
        channel.delete("mid")
        keys = channel.keys()
        if self.keys_in_insertion_order:
            assert keys == ["zeta", "alpha", "beta"]
        else:
            assert sorted(keys) == ["alpha", "beta", "zeta"]

    def test_keys_of_empty_channel_is_empty_list(self, channel: Channel) -> None:
        assert channel.keys() == []

    def test_clear_removes_every_key_and_channel_stays_usable(self, channel: Channel) -> None:
        channel.set("a", 1)
        channel.append("b", 2)
        channel.atomic_add("c", 3)
        channel.clear()
        assert channel.keys() == []
        assert channel.get("a") is None
        channel.set("a", "again")
        assert channel.get("a") == "again"

    def test_channels_with_different_names_are_isolated(self, new_channel: Callable[[], Channel]) -> None:
        first, second = new_channel(), new_channel()
        first.set("shared-name", 1)
        second.set("other", 2)
        assert second.get("shared-name") is None
        assert first.keys() == ["shared-name"]
        second.clear()
        assert first.get("shared-name") == 1

    # append / prepend ---------------------------------------------------------------------------------------------
    def test_append_creates_list_and_returns_new_length(self, channel: Channel) -> None:
        assert channel.append("log", "a") == 1
        assert channel.append("log", "b") == 2
        assert channel.get("log") == ["a", "b"]

    def test_prepend_inserts_at_the_front(self, channel: Channel) -> None:
        assert channel.prepend("log", "b") == 1
        assert channel.prepend("log", "a") == 2
        assert channel.get("log") == ["a", "b"]

    def test_append_and_prepend_mix_on_one_key_readable_with_get(self, channel: Channel) -> None:
        channel.append("log", 2)
        channel.prepend("log", 1)
        channel.append("log", 3)
        assert channel.get("log") == [1, 2, 3]
        assert channel.exists("log")
        assert channel.keys().count("log") == 1

    def test_append_extends_a_list_stored_with_set(self, channel: Channel) -> None:
        channel.set("log", [1, 2])
        assert channel.append("log", 3) == 3
        assert channel.prepend("log", 0) == 4
        assert channel.get("log") == [0, 1, 2, 3]

    def test_list_items_round_trip(self, channel: Channel) -> None:
        items: list[Any] = [{"a": (1, 2)}, None, 1.5, "s", [True]]
        for item in items:
            channel.append("log", item)
        assert_same(items, channel.get("log"))

    def test_set_replaces_a_list_built_by_append(self, channel: Channel) -> None:
        channel.append("log", 1)
        channel.set("log", "plain")
        assert channel.get("log") == "plain"
        channel.delete("log")
        assert channel.append("log", 2) == 1

    @pytest.mark.parametrize("value", ["text", 5, {"a": 1}])
    def test_append_to_a_non_list_raises_type_error(self, channel: Channel, value: Any) -> None:
        channel.set("k", value)
        with pytest.raises(TypeError):
            channel.append("k", 1)
        with pytest.raises(TypeError):
            channel.prepend("k", 1)
        assert channel.get("k") == value

    # atomic_add -----------------------------------------------------------------------------------------------------
    def test_atomic_add_counts_a_missing_key_as_zero(self, channel: Channel) -> None:
        assert channel.atomic_add("n") == 1
        assert channel.atomic_add("n") == 2
        assert channel.atomic_add("m", 5) == 5

    def test_atomic_add_result_is_readable_as_int(self, channel: Channel) -> None:
        channel.atomic_add("n", 2)
        channel.atomic_add("n", 3)
        assert_same(5, channel.get("n"))

    def test_atomic_add_supports_floats_and_negative_amounts(self, channel: Channel) -> None:
        assert channel.atomic_add("n", 0.5) == pytest.approx(0.5)
        assert channel.atomic_add("n", 0.25) == pytest.approx(0.75)
        assert channel.atomic_add("n", -1) == pytest.approx(-0.25)
        assert channel.get("n") == pytest.approx(-0.25)

    def test_atomic_add_adds_to_a_number_stored_with_set(self, channel: Channel) -> None:
        channel.set("n", 10)
        assert channel.atomic_add("n", 5) == 15
        assert channel.get("n") == 15

    @pytest.mark.parametrize("value", ["text", "5", [1], {"a": 1}, True])
    def test_atomic_add_on_a_non_number_raises_type_error(self, channel: Channel, value: Any) -> None:
        channel.set("k", value)
        with pytest.raises(TypeError):
            channel.atomic_add("k", 1)
        assert_same(value, channel.get("k"))

    # concurrency (D10) ----------------------------------------------------------------------------------------------
    def test_concurrent_atomic_adds_lose_no_update(self, channel: Channel) -> None:
        for round_ in range(self.contention_rounds):
            key = f"counter-{round_}"

            def work(_: int, key: str = key) -> None:
                for _ in range(self.ops_per_thread):
                    channel.atomic_add(key, 1)

            run_threads(self.threads, work)
            assert channel.get(key) == self.threads * self.ops_per_thread

    def test_concurrent_appends_and_prepends_lose_no_item(self, channel: Channel) -> None:
        expected = {f"{t}-{i}" for t in range(self.threads) for i in range(self.ops_per_thread)}
        for round_ in range(self.contention_rounds):
            key = f"items-{round_}"

            def work(index: int, key: str = key) -> None:
                op = channel.append if index % 2 == 0 else channel.prepend
                for i in range(self.ops_per_thread):
                    op(key, f"{index}-{i}")

            run_threads(self.threads, work)
            items = channel.get(key)
            assert len(items) == len(expected)
            assert set(items) == expected

    # lock -------------------------------------------------------------------------------------------------------------
    def test_lock_makes_read_modify_write_exclusive(self, channel: Channel) -> None:
        rounds = max(1, self.ops_per_thread // 2)

        def work(_: int) -> None:
            for _ in range(rounds):
                with channel.lock("counter", timeout=30):
                    value = channel.get("counter", 0)
                    time.sleep(0)  # yield the interpreter here, so a lock that does not exclude loses updates
                    channel.set("counter", value + 1)

        run_threads(self.threads, work)
        assert channel.get("counter") == self.threads * rounds

    def test_lock_held_by_another_thread_times_out(self, channel: Channel) -> None:
        with (
            held_in_another_thread(channel, "res"),
            pytest.raises(TimeoutError),
            channel.lock("res", timeout=self.short_lock_timeout),
        ):
            pytest.fail("lock was acquired while another thread held it")
        with channel.lock("res", timeout=10):
            pass  # free again once the holder released it

    def test_locks_on_different_keys_are_independent(self, channel: Channel) -> None:
        with held_in_another_thread(channel, "a"), channel.lock("b", timeout=5):
            channel.set("b", "written")
        assert channel.get("b") == "written"

    def test_lock_is_advisory_for_plain_operations(self, channel: Channel) -> None:
        with held_in_another_thread(channel, "k"):
            channel.set("k", 1)
            assert channel.get("k") == 1
            assert channel.delete("k")

    def test_lock_is_released_when_the_block_raises(self, channel: Channel) -> None:
        with pytest.raises(RuntimeError), channel.lock("k", timeout=5):
            raise RuntimeError("boom")
        acquired = threading.Event()

        def other() -> None:
            with channel.lock("k", timeout=5):
                acquired.set()

        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        thread.join(30)
        assert acquired.is_set()

    def test_lock_is_reentrant_in_the_holding_thread(self, channel: Channel) -> None:
        if not self.reentrant_lock:
            pytest.skip("backend lock is not re-entrant")
        with channel.lock("k", timeout=5), channel.lock("k", timeout=5):
            channel.set("k", "inner")
        assert channel.get("k") == "inner"

    # TTL ------------------------------------------------------------------------------------------------------------
    def test_key_with_ttl_is_live_before_it_expires(self, channel: Channel) -> None:
        channel.set("k", "v", ttl=60)
        assert channel.get("k") == "v"
        assert channel.exists("k")
        assert channel.keys() == ["k"]

    def test_expired_key_reads_as_default(self, channel: Channel) -> None:
        channel.set("k", "v", ttl=self.short_ttl)
        self._expire(lambda: channel.get("k", _ABSENT) is _ABSENT)

    def test_expired_key_does_not_exist(self, channel: Channel) -> None:
        channel.set("k", "v", ttl=self.short_ttl)
        self._expire(lambda: not channel.exists("k"))

    def test_expired_key_leaves_keys(self, channel: Channel) -> None:
        channel.set("stay", 1)
        channel.set("k", "v", ttl=self.short_ttl)
        self._expire(lambda: channel.keys() == ["stay"])

    def test_delete_of_expired_key_returns_false(self, channel: Channel) -> None:
        channel.set("k", "v", ttl=self.short_ttl)
        channel.set("probe", "v", ttl=self.short_ttl)
        self._expire(lambda: not channel.exists("probe"))
        assert channel.delete("k") is False

    def test_set_without_ttl_removes_an_earlier_ttl(self, channel: Channel) -> None:
        channel.set("k", 1, ttl=self.short_ttl)
        channel.set("k", 2)
        channel.set("probe", 0, ttl=self.short_ttl)  # set later with the same TTL: once it is gone, k's TTL passed
        self._expire(lambda: not channel.exists("probe"))
        assert channel.get("k") == 2

    def test_append_with_ttl_expires_the_list(self, channel: Channel) -> None:
        channel.append("log", 1, ttl=self.short_ttl)
        self._expire(lambda: not channel.exists("log"))
        assert channel.append("log", 2) == 1
        assert channel.get("log") == [2]

    def test_atomic_add_after_expiry_starts_from_zero(self, channel: Channel) -> None:
        channel.set("n", 10, ttl=self.short_ttl)
        self._expire(lambda: not channel.exists("n"))
        assert channel.atomic_add("n", 1) == 1

    @pytest.mark.parametrize("ttl", [0, -1])
    def test_non_positive_ttl_raises_value_error(self, channel: Channel, ttl: int) -> None:
        with pytest.raises(ValueError):
            channel.set("k", 1, ttl=ttl)
        with pytest.raises(ValueError):
            channel.append("k", 1, ttl=ttl)
        assert not channel.exists("k")

    # pickling -------------------------------------------------------------------------------------------------------
    def test_pickled_channel_keeps_values_and_ttls(self, channel: Channel) -> None:
        if not self.supports_pickle:
            pytest.skip("backend channels are not pickled")
        channel.set("plain", {"a": (1, 2)})
        channel.append("log", 1)
        channel.set("long", "v", ttl=60)
        channel.set("short", "v", ttl=self.short_ttl)
        restored = pickle.loads(pickle.dumps(channel))
        try:
            assert restored.name == channel.name
            assert_same({"a": (1, 2)}, restored.get("plain"))
            assert restored.append("log", 2) == 2
            assert restored.get("long") == "v"
            self._expire(lambda: not restored.exists("short"))
            with restored.lock("plain", timeout=5):
                pass
        finally:
            restored.clear()
            restored.close()
