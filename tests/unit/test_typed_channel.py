"""TypedChannel and ChannelTypeRegistry (spec §3.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, NewType, NotRequired, Required, TypedDict

import pytest
import typing_extensions

from graflow.channels import schemas
from graflow.channels.base import Channel
from graflow.channels.memory_channel import MemoryChannel
from graflow.channels.typed import ChannelTypeRegistry, TypedChannel
from graflow.exceptions import ConfigError

UserId = NewType("UserId", int)


class Point(TypedDict):
    x: int
    y: float


class Event(TypedDict):
    name: str
    tags: list[str]
    attrs: dict[str, Any]
    note: str | None
    count: NotRequired[int]


class Loose(TypedDict, total=False):
    id: Required[str]
    label: str


class Shape(TypedDict):
    kind: Literal["circle", "square"]
    origin: Point
    owner: UserId
    flags: tuple[bool, ...]
    anything: Any


class LegacyStyle(typing_extensions.TypedDict):
    a: int
    b: typing_extensions.NotRequired[str]


class NotATypedDict:
    x: int


@pytest.fixture
def channel() -> MemoryChannel:
    return MemoryChannel("typed")


@pytest.fixture
def points(channel: MemoryChannel) -> TypedChannel[Point]:
    return TypedChannel(channel, Point)


@pytest.fixture
def registry_snapshot() -> Iterator[None]:
    saved = dict(ChannelTypeRegistry._types)
    yield
    ChannelTypeRegistry._types.clear()
    ChannelTypeRegistry._types.update(saved)


def test_conforming_value_is_stored_in_the_underlying_channel(
    channel: MemoryChannel, points: TypedChannel[Point]
) -> None:
    points.set("p", {"x": 1, "y": 2.5})
    points.send("q", {"x": 3, "y": 4.0})
    assert channel.get("p") == {"x": 1, "y": 2.5}
    assert points.get("q") == {"x": 3, "y": 4.0}
    assert points.receive("p") == {"x": 1, "y": 2.5}


def test_typed_channel_is_a_channel_with_the_same_name(channel: MemoryChannel, points: TypedChannel[Point]) -> None:
    assert isinstance(points, Channel)
    assert points.name == "typed"
    assert points.channel is channel
    assert points.message_type is Point


@pytest.mark.parametrize(
    "value",
    [
        {"x": 1},  # missing required key
        {"x": 1, "y": 2.0, "z": 3},  # extra key
        {"x": "1", "y": 2.0},  # wrong type
        {"x": 1.5, "y": 2.0},  # float where int is declared
        [1, 2.0],  # not a dict
        None,
    ],
    ids=["missing", "extra", "wrong-type", "float-for-int", "not-a-dict", "none"],
)
def test_set_rejects_a_non_conforming_value(channel: MemoryChannel, points: TypedChannel[Point], value: Any) -> None:
    with pytest.raises(TypeError) as raised:
        points.set("p", value)
    assert str(raised.value) == "Value does not conform to Point"
    assert not channel.exists("p")


def test_send_names_the_message_and_notes_the_reason(points: TypedChannel[Point]) -> None:
    with pytest.raises(TypeError) as raised:
        points.send("p", {"x": 1})  # type: ignore[typeddict-item]
    assert str(raised.value) == "Message does not conform to Point"
    assert any("missing required keys ['y']" in note for note in raised.value.__notes__)


def test_int_is_accepted_where_float_is_declared(points: TypedChannel[Point]) -> None:
    points.set("p", {"x": 1, "y": 2})
    assert points.get("p") == {"x": 1, "y": 2}


def test_get_returns_default_for_missing_or_invalid_values(channel: MemoryChannel, points: TypedChannel[Point]) -> None:
    channel.set("bad", {"x": "nope"})
    assert points.get("missing") is None
    assert points.get("bad") is None
    assert points.receive("bad") is None
    assert points.get("bad", "fallback") == "fallback"


def test_generic_optional_and_not_required_annotations(channel: MemoryChannel) -> None:
    events = TypedChannel(channel, Event)
    events.set("e", {"name": "n", "tags": ["a"], "attrs": {}, "note": None})
    events.set("e2", {"name": "n", "tags": [], "attrs": {"k": 1}, "note": "s", "count": 3})
    with pytest.raises(TypeError):
        events.set("e3", {"name": "n", "tags": ("a",), "attrs": {}, "note": None})  # tuple is not a list
    with pytest.raises(TypeError):
        events.set("e4", {"name": "n", "tags": [], "attrs": {}, "note": 5})
    with pytest.raises(TypeError):
        events.set("e5", {"name": "n", "tags": [], "attrs": {}})  # note is Optional but still required


def test_total_false_with_required_key(channel: MemoryChannel) -> None:
    loose = TypedChannel(channel, Loose)
    loose.set("a", {"id": "1"})
    loose.set("b", {"id": "1", "label": "x"})
    with pytest.raises(TypeError):
        loose.set("c", {"label": "x"})


def test_literal_nested_typeddict_newtype_and_any(channel: MemoryChannel) -> None:
    shapes = TypedChannel(channel, Shape)
    good = {"kind": "circle", "origin": {"x": 0, "y": 0.0}, "owner": 7, "flags": (True,), "anything": object()}
    shapes.set("s", good)
    for key, bad in [("kind", "triangle"), ("origin", {"x": 0}), ("owner", "7"), ("flags", [True])]:
        with pytest.raises(TypeError):
            shapes.set("s", {**good, key: bad})


def test_typing_extensions_typeddict_with_not_required(channel: MemoryChannel) -> None:
    legacy = TypedChannel(channel, LegacyStyle)
    legacy.set("a", {"a": 1})
    with pytest.raises(TypeError):
        legacy.set("a", {"b": "x"})


def test_class_defined_in_a_function_is_validated() -> None:
    class Local(TypedDict):
        n: int
        maybe: NotRequired[str]

    local = TypedChannel(MemoryChannel("local"), Local)
    local.set("k", {"n": 1})
    with pytest.raises(TypeError):
        local.set("k", {"n": "one"})


@pytest.mark.parametrize("bad", [NotATypedDict, dict, int, "Point"])
def test_non_typeddict_message_type_raises_value_error(channel: MemoryChannel, bad: Any) -> None:
    with pytest.raises(ValueError, match="message_type must be a TypedDict"):
        TypedChannel(channel, bad)


def test_list_ops_and_atomic_add_pass_through_unchecked(channel: MemoryChannel, points: TypedChannel[Point]) -> None:
    assert points.append("log", "not a point") == 1
    assert points.prepend("log", 0) == 2
    assert points.atomic_add("n", 2) == 2
    assert channel.get("log") == [0, "not a point"]
    assert channel.get("n") == 2


def test_other_operations_delegate(channel: MemoryChannel, points: TypedChannel[Point]) -> None:
    points.set("p", {"x": 1, "y": 1.0})
    assert points.exists("p")
    assert points.keys() == ["p"]
    with points.lock("p", timeout=1):
        assert points.delete("p")
    points.set("q", {"x": 1, "y": 1.0})
    points.clear()
    assert channel.keys() == []


def test_ttl_is_passed_to_the_channel(channel: MemoryChannel, points: TypedChannel[Point]) -> None:
    points.send("p", {"x": 1, "y": 1.0}, ttl=60)
    assert "p" in channel._expiry


def test_builtin_schemas_are_registered_by_name() -> None:
    expected = {
        "task_result": schemas.TaskResultMessage,
        "task_progress": schemas.TaskProgressMessage,
        "task_error": schemas.TaskErrorMessage,
        "workflow_state": schemas.WorkflowStateMessage,
        "data_transfer": schemas.DataTransferMessage,
        "cycle_notification": schemas.CycleNotificationMessage,
    }
    for name, message_type in expected.items():
        assert ChannelTypeRegistry.get(name) is message_type


def test_builtin_task_result_schema_validates(channel: MemoryChannel) -> None:
    results = ChannelTypeRegistry.create_channel(channel, "task_result")
    results.send("r", {"task_id": "t", "result": {"any": "thing"}, "timestamp": 1.0, "status": "completed"})
    with pytest.raises(TypeError, match="Message does not conform to TaskResultMessage"):
        results.send("r", {"task_id": "t", "result": 1})
    states = ChannelTypeRegistry.create_channel(channel, "workflow_state")
    states.send(
        "s",
        {"workflow_id": "w", "state": "running", "current_task": "a", "completed_tasks": ["x"], "timestamp": 0.0},
    )


def test_registry_registers_and_creates_channels(channel: MemoryChannel, registry_snapshot: None) -> None:
    ChannelTypeRegistry.register("point", Point)
    assert ChannelTypeRegistry.get("point") is Point
    typed = ChannelTypeRegistry.create_channel(channel, "point")
    assert isinstance(typed, TypedChannel)
    assert typed.message_type is Point
    assert ChannelTypeRegistry.unregister("point")
    assert ChannelTypeRegistry.get("point") is None


def test_registry_rejects_non_typeddict(registry_snapshot: None) -> None:
    with pytest.raises(ValueError):
        ChannelTypeRegistry.register("bad", NotATypedDict)
    assert ChannelTypeRegistry.get("bad") is None


def test_unknown_registry_name_raises_config_error(channel: MemoryChannel) -> None:
    with pytest.raises(ConfigError, match="Message type 'nope' not registered"):
        ChannelTypeRegistry.create_channel(channel, "nope")
