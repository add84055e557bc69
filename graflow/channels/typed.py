"""Typed channels: a channel view that checks messages against a ``TypedDict`` before writing them."""

from __future__ import annotations

import collections.abc
import threading
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Generic, TypeVar

import typing_extensions
from typing_extensions import is_typeddict

from graflow.channels.base import Channel
from graflow.exceptions import ConfigError

T = TypeVar("T")


class _Schema(typing.NamedTuple):
    hints: dict[str, Any]
    required: frozenset[str]


_REQUIRED = {typing.Required, typing_extensions.Required}
_NOT_REQUIRED = {typing.NotRequired, typing_extensions.NotRequired}


def _unwrap(annotation: Any) -> tuple[Any, bool | None]:
    """Strip ``Required``/``NotRequired``/``Annotated``; also say which of the first two was present, if any."""
    required: bool | None = None
    while True:
        origin = typing.get_origin(annotation)
        if origin in _REQUIRED or origin in _NOT_REQUIRED:
            required = origin in _REQUIRED
        elif origin is not typing.Annotated:
            return annotation, required
        annotation = typing.get_args(annotation)[0]


@lru_cache(maxsize=256)
def _schema(message_type: type) -> _Schema:
    # Resolving hints is the costly part; a TypedDict class does not change, so do it once per class.
    declared_required = frozenset(getattr(message_type, "__required_keys__", ()))
    try:
        raw_hints = typing.get_type_hints(message_type, include_extras=True)
    except (NameError, TypeError):
        # Annotations that cannot be resolved (e.g. a class defined inside a function under postponed evaluation)
        # are checked for presence only.
        return _Schema({key: Any for key in getattr(message_type, "__annotations__", {})}, declared_required)
    hints: dict[str, Any] = {}
    required: set[str] = set()
    for key, raw in raw_hints.items():
        hints[key], marker = _unwrap(raw)
        # Python 3.11 misses Required/NotRequired written as strings (postponed annotations) when it computes
        # __required_keys__, so an explicit marker wins over the class's own bookkeeping.
        if marker if marker is not None else key in declared_required:
            required.add(key)
    return _Schema(hints, frozenset(required))


def _conforms(value: Any, annotation: Any) -> bool:
    """Whether ``value`` matches ``annotation``; generic containers are checked by their origin type only."""
    if annotation is Any or annotation is object or isinstance(annotation, (str, typing.ForwardRef, TypeVar)):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    if is_typeddict(annotation):
        return _validation_error(value, annotation) is None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_conforms(value, arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin is typing.Annotated:
        return _conforms(value, typing.get_args(annotation)[0])
    if origin is type:
        return isinstance(value, type)
    if origin is collections.abc.Callable:
        return callable(value)
    if isinstance(origin, type):
        return isinstance(value, origin)
    supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _conforms(value, supertype)
    if annotation is float:
        # PEP 484 numeric tower: an int is acceptable where a float is expected.
        return isinstance(value, (int, float))
    if annotation is complex:
        return isinstance(value, (int, float, complex))
    if isinstance(annotation, type):
        try:
            return isinstance(value, annotation)
        except TypeError:  # e.g. a non-runtime-checkable Protocol
            return True
    return True  # anything we cannot check at runtime (ParamSpec, TypeGuard, ...) is accepted


def _validation_error(value: Any, message_type: type) -> str | None:
    """Why ``value`` does not conform to ``message_type``, or None when it does."""
    if not isinstance(value, dict):
        return f"expected a dict, got {type(value).__name__}"
    schema = _schema(message_type)
    missing = schema.required - value.keys()
    if missing:
        return f"missing required keys {sorted(missing)}"
    extra = value.keys() - schema.hints.keys()
    if extra:
        return f"unexpected keys {sorted(map(str, extra))}"
    for key, item in value.items():
        if not _conforms(item, schema.hints[key]):
            return f"key '{key}' expects {schema.hints[key]!r}, got {type(item).__name__}"
    return None


def _require_typeddict(message_type: Any) -> None:
    if not is_typeddict(message_type):
        raise ValueError(f"message_type must be a TypedDict, got {message_type!r}")


_MISSING: Any = object()


class TypedChannel(Channel, Generic[T]):
    """A view of a channel whose writes are validated against a ``TypedDict``.

    ``set``/``send`` reject a dict that lacks a required key, carries a key the ``TypedDict`` does not declare, or
    holds a value of the wrong type (generic containers such as ``list[int]`` are checked by their container type).
    ``get``/``receive`` return ``default`` (None) for a missing or non-conforming value. List operations,
    ``atomic_add`` and the other channel operations go to the underlying channel unchecked.

    Args:
        channel: The channel to read and write.
        message_type: A ``TypedDict`` class.

    Raises:
        ValueError: ``message_type`` is not a ``TypedDict``.
    """

    def __init__(self, channel: Channel, message_type: type[T]) -> None:
        _require_typeddict(message_type)
        super().__init__(channel.name)
        self.channel = channel
        self.message_type = message_type
        _schema(typing.cast(type, message_type))  # resolve the hints once, up front

    def _check(self, value: Any, what: str) -> None:
        reason = _validation_error(value, self.message_type)
        if reason is not None:
            error = TypeError(f"{what} does not conform to {self.message_type.__name__}")
            error.add_note(reason)  # keeps the message as documented while tracebacks show the cause
            raise error

    def _read(self, key: str, default: Any) -> Any:
        value = self.channel.get(key, _MISSING)
        if value is _MISSING or _validation_error(value, self.message_type) is not None:
            return default
        return value

    def set(self, key: str, value: Any, ttl: int | float | None = None) -> None:
        """Validate ``value`` and store it under ``key``.

        Raises:
            TypeError: ``Value does not conform to <Name>``.
        """
        self._check(value, "Value")
        self.channel.set(key, value, ttl)

    def send(self, key: str, message: T, ttl: int | float | None = None) -> None:
        """Validate ``message`` and store it under ``key``.

        Raises:
            TypeError: ``Message does not conform to <Name>``.
        """
        self._check(message, "Message")
        self.channel.set(key, message, ttl)

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` when it conforms to the type, else ``default``."""
        return self._read(key, default)

    def receive(self, key: str, default: T | None = None) -> T | None:
        """The message under ``key`` when it conforms to the type, else ``default``."""
        return typing.cast("T | None", self._read(key, default))

    def exists(self, key: str) -> bool:
        """Whether the channel holds ``key`` (whatever its value)."""
        return self.channel.exists(key)

    def delete(self, key: str) -> bool:
        """Remove ``key`` from the channel; return whether it existed."""
        return self.channel.delete(key)

    def keys(self) -> list[str]:
        """All live keys of the underlying channel."""
        return self.channel.keys()

    def clear(self) -> None:
        """Clear the underlying channel."""
        self.channel.clear()

    def append(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Passed to the channel unchecked."""
        return self.channel.append(key, value, ttl)

    def prepend(self, key: str, value: Any, ttl: int | float | None = None) -> int:
        """Passed to the channel unchecked."""
        return self.channel.prepend(key, value, ttl)

    def atomic_add(self, key: str, amount: int | float = 1) -> int | float:
        """Passed to the channel unchecked."""
        return self.channel.atomic_add(key, amount)

    @contextmanager
    def lock(self, key: str, timeout: float = 10.0) -> Iterator[None]:
        """The underlying channel's advisory lock on ``key``."""
        with self.channel.lock(key, timeout):
            yield

    def __repr__(self) -> str:
        return f"TypedChannel({self.channel!r}, {self.message_type.__name__})"


class ChannelTypeRegistry:
    """Message types by name, so configuration can refer to ``"task_result"`` instead of a class.

    The built-in schemas of :mod:`graflow.channels.schemas` are registered when ``graflow.channels`` is imported.
    """

    _types: dict[str, type] = {}
    _guard = threading.Lock()

    @classmethod
    def register(cls, name: str, message_type: type) -> None:
        """Register ``message_type`` under ``name``, replacing any earlier registration.

        Raises:
            ValueError: ``message_type`` is not a ``TypedDict``.
        """
        _require_typeddict(message_type)
        with cls._guard:
            cls._types[name] = message_type

    @classmethod
    def unregister(cls, name: str) -> bool:
        """Forget ``name``; return whether it was registered."""
        with cls._guard:
            return cls._types.pop(name, None) is not None

    @classmethod
    def get(cls, name: str) -> type | None:
        """The type registered under ``name``, or None."""
        return cls._types.get(name)

    @classmethod
    def registered_names(cls) -> list[str]:
        """Every registered name, sorted."""
        return sorted(cls._types)

    @classmethod
    def create_channel(cls, channel: Channel, type_name: str) -> TypedChannel[Any]:
        """A :class:`TypedChannel` over ``channel`` for the type registered as ``type_name``.

        Raises:
            ConfigError: No type is registered under ``type_name``.
        """
        message_type = cls._types.get(type_name)
        if message_type is None:
            raise ConfigError(f"Message type '{type_name}' not registered (registered: {sorted(cls._types)})")
        return TypedChannel(channel, message_type)


__all__ = ["ChannelTypeRegistry", "TypedChannel"]
