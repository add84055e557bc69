"""ChannelFactory: backends by name, lazily imported adapters (spec §3.1)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from graflow.channels.base import Channel
from graflow.channels.factory import ChannelBackend, ChannelFactory
from graflow.channels.memory_channel import MemoryChannel
from graflow.exceptions import ConfigError


@pytest.fixture(autouse=True)
def isolated_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ChannelFactory, "_backends", dict(ChannelFactory._backends))
    yield


@pytest.fixture
def redis_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "redis" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    # An earlier test may have loaded the Redis backend already (the factory then keeps the class): start from the
    # registration a fresh process has.
    from graflow.channels import factory

    monkeypatch.setitem(
        ChannelFactory._backends, "redis",
        factory._LazyBackend("graflow.channels.redis_channel:RedisChannel", "redis", "redis"),
    )


class RecordingChannel(MemoryChannel):
    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name)
        self.kwargs = kwargs


def test_memory_backend_creates_a_named_memory_channel() -> None:
    channel = ChannelFactory.create_channel("memory", name="session-1", redis_client=None)
    assert type(channel) is MemoryChannel
    assert channel.name == "session-1"


def test_backend_enum_and_case_are_accepted() -> None:
    assert ChannelBackend.MEMORY == "memory"
    assert ChannelBackend("redis") is ChannelBackend.REDIS
    assert isinstance(ChannelFactory.create_channel(ChannelBackend.MEMORY, "x"), MemoryChannel)
    assert isinstance(ChannelFactory.create_channel("Memory", "x"), MemoryChannel)


def test_unknown_backend_raises_config_error_listing_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unsupported backend 'etcd'\. Available backends: \['memory'"):
        ChannelFactory.create_channel("etcd", "x")


def test_redis_is_unavailable_without_redis_py(redis_not_installed: None) -> None:
    assert ChannelFactory.get_available_backends() == ["memory"]
    assert not ChannelFactory.is_backend_available("redis")
    with pytest.raises(ConfigError, match=r"Unsupported backend 'redis'.*graflow\[redis\]"):
        ChannelFactory.create_channel("redis", "x")


def test_redis_is_available_when_redis_py_is_installed() -> None:
    if importlib.util.find_spec("redis") is None:
        pytest.skip("redis-py is not installed")
    assert ChannelFactory.is_backend_available("redis")
    assert ChannelFactory.get_available_backends() == ["memory", "redis"]


def test_registered_backend_receives_name_and_keyword_arguments() -> None:
    ChannelFactory.register_backend("recording", RecordingChannel)
    channel = ChannelFactory.create_channel("recording", "n", option=1)
    assert isinstance(channel, RecordingChannel)
    assert channel.kwargs == {"option": 1}
    assert ChannelFactory.is_backend_available("recording")
    assert "recording" in ChannelFactory.get_available_backends()


def test_backend_registered_by_path_is_imported_on_first_use() -> None:
    ChannelFactory.register_backend("lazy", f"{__name__}:RecordingChannel")
    assert isinstance(ChannelFactory.create_channel("lazy", "n"), RecordingChannel)
    assert ChannelFactory._backends["lazy"] is RecordingChannel


def test_backend_whose_module_is_missing_raises_config_error() -> None:
    ChannelFactory.register_backend("ghost", "graflow.channels.no_such_module:Ghost")
    with pytest.raises(ConfigError, match="Channel backend 'ghost' could not be loaded") as raised:
        ChannelFactory.create_channel("ghost", "n")
    assert isinstance(raised.value.cause, ImportError)


def test_backend_path_must_name_a_channel_class() -> None:
    ChannelFactory.register_backend("notchannel", "graflow.exceptions:ConfigError")
    with pytest.raises(TypeError, match="Channel class must extend Channel"):
        ChannelFactory.create_channel("notchannel", "n")


@pytest.mark.parametrize("bad", [dict, object(), "no-colon"])
def test_register_backend_rejects_what_is_not_a_channel_class(bad: Any) -> None:
    with pytest.raises(TypeError):
        ChannelFactory.register_backend("bad", bad)
    assert not ChannelFactory.is_backend_available("bad")


def test_unregister_backend() -> None:
    ChannelFactory.register_backend("temp", RecordingChannel)
    assert ChannelFactory.unregister_backend("temp")
    assert not ChannelFactory.unregister_backend("temp")
    with pytest.raises(ConfigError):
        ChannelFactory.create_channel("temp", "n")


def test_channel_subclasses_are_channels() -> None:
    assert issubclass(MemoryChannel, Channel)


def test_importing_channels_does_not_import_redis() -> None:
    code = (
        "import sys, graflow.channels, graflow.channels.factory as f\n"
        "f.ChannelFactory.get_available_backends()\n"
        "f.ChannelFactory.create_channel('memory', 'x')\n"
        "assert 'redis' not in sys.modules, 'redis was imported'\n"
        "assert 'graflow.channels.redis_channel' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
