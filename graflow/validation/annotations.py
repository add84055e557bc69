"""What a task's source says about it without running it: the keys its result may hold, the strings it names.

Keyword resolution (D11) fills a parameter from a triggering task's result when that result is a mapping holding
the parameter's name. Whether it will is known only when the return annotation names the keys (a ``TypedDict``) or
says the result is no mapping at all (``int``, ``list[str]``, a dataclass). Anything else (no annotation, ``dict``,
``Any``, an annotation that cannot be evaluated) may hold any key, and the checks assume it does.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResultShape:
    """What a task's result may hold.

    Attributes:
        keys: The keys it can hold: a TypedDict's keys, the empty set for a result that is no mapping, or None when
            unknown (any key may be there).
        described: The annotation in words, for messages (``"int"``, ``"Totals (a TypedDict)"``).
    """

    keys: frozenset[str] | None
    described: str

    def may_hold(self, key: str) -> bool:
        """Whether the result may hold ``key``."""
        return self.keys is None or key in self.keys


UNKNOWN = ResultShape(None, "an unknown value")
_NOTHING = ResultShape(frozenset(), "None")


def result_shape(task: Any) -> ResultShape:
    """The shape of ``task``'s result, from its function's return annotation.

    A parallel group's result is ``{member id: result}``; a placeholder task's is None.
    """
    if getattr(task, "is_parallel_group", False):
        return ResultShape(frozenset(m.task_id for m in task.tasks), "a dict of its members' results")
    func = getattr(task, "func", None)
    if func is None:
        return _NOTHING
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an annotation that names something not importable here: assume anything
        return UNKNOWN
    if "return" not in hints:
        return UNKNOWN
    return shape_of(hints["return"])


def shape_of(annotation: Any) -> ResultShape:
    """The :class:`ResultShape` of a return annotation."""
    if annotation is None or annotation is type(None):
        return _NOTHING
    if annotation is Any or annotation is object:
        return UNKNOWN
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return shape_of(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return _union([shape_of(a) for a in typing.get_args(annotation) if a is not type(None)])
    if origin is typing.Literal:
        return ResultShape(frozenset(), _name(annotation))
    if typing.is_typeddict(annotation):
        keys = frozenset(annotation.__required_keys__) | frozenset(annotation.__optional_keys__)
        return ResultShape(keys, f"{annotation.__name__} (a TypedDict)")
    cls = origin if origin is not None else annotation
    if isinstance(cls, type):
        if issubclass(cls, Mapping):
            return UNKNOWN
        return ResultShape(frozenset(), _name(annotation))
    return UNKNOWN  # a TypeVar, a NewType, a string that stayed a string ...


def _union(parts: list[ResultShape]) -> ResultShape:
    if not parts:
        return _NOTHING
    if any(p.keys is None for p in parts):
        return UNKNOWN
    keys: frozenset[str] = frozenset().union(*(p.keys or () for p in parts))
    return ResultShape(keys, " | ".join(p.described for p in parts))


def _name(annotation: Any) -> str:
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


@functools.lru_cache(maxsize=1024)
def _string_constants(func: Any) -> frozenset[str] | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    return frozenset(
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def may_write_channel_key(task: Any, key: str) -> bool:
    """Whether ``task`` may set the channel key ``key`` when it runs.

    Only a task that takes its context can reach the channel. It is taken to write ``key`` when the string ``key``
    appears in its function's source, or when that source cannot be read.
    """
    if not getattr(task, "inject_context", False):
        return False
    func = inspect.unwrap(task.func)
    try:
        names = _string_constants(func)
    except TypeError:  # an unhashable callable
        return True
    return names is None or key in names


__all__ = ["UNKNOWN", "ResultShape", "may_write_channel_key", "result_shape", "shape_of"]
