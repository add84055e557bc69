"""Channels: the key-value stores through which the tasks of a workflow run share data.

Importing this package registers the built-in message schemas and never imports redis; the Redis backend is
reached through :class:`ChannelFactory` by name.
"""

from __future__ import annotations

# ``schemas`` is imported for its side effect: the built-in message types are registered by name.
from graflow.channels import schemas as schemas
from graflow.channels.base import Channel, result_key
from graflow.channels.factory import ChannelBackend, ChannelFactory
from graflow.channels.memory_channel import MemoryChannel
from graflow.channels.typed import ChannelTypeRegistry, TypedChannel

__all__ = [
    "Channel",
    "MemoryChannel",
    "TypedChannel",
    "ChannelTypeRegistry",
    "ChannelFactory",
    "ChannelBackend",
    "result_key",
]
