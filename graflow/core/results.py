"""Where task results live in the channel, and keyword resolution (D11) from them.

A task's result is stored under ``<task_id>.__result__``; this module is the only place that spells the suffix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graflow.channels.base import Channel

#: Suffix of the channel key that holds a task's result.
RESULT_SUFFIX = ".__result__"

_MISSING: Any = object()


def result_key(task_id: str) -> str:
    """The channel key under which ``task_id``'s result is stored."""
    return task_id + RESULT_SUFFIX


def task_id_of(key: str) -> str | None:
    """The task id a result key belongs to, or None for any other key."""
    return key[: -len(RESULT_SUFFIX)] if key.endswith(RESULT_SUFFIX) else None


class OutputRef:
    """A task's result, or a path into it, bound to another task's parameter when the graph is built.

    ``summarise(history=ask.outputs["metadata"]["messages"])`` binds ``history`` to
    ``result_of_ask["metadata"]["messages"]``, looked up when ``summarise`` runs (locally or on a worker). The
    referenced task must run before its user: the engine checks that it is upstream when the run starts.
    """

    __slots__ = ("path", "task_id")

    def __init__(self, task_id: str, path: tuple[Any, ...] = ()) -> None:
        self.task_id = task_id
        self.path = path

    def __getitem__(self, key: Any) -> OutputRef:
        return OutputRef(self.task_id, (*self.path, key))

    def resolve(self, results: ResultStore) -> Any:
        """The referenced value. Raises LookupError naming the task and the path when it is missing."""
        value = results.get(self.task_id, _MISSING)
        if value is _MISSING:
            raise LookupError(f"{self!r}: task '{self.task_id}' has no result (it has not run before this task)")
        for depth, key in enumerate(self.path):
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError) as exc:
                where = OutputRef(self.task_id, self.path[:depth])
                raise LookupError(f"{self!r}: {where!r} has no item {key!r}") from exc
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (OutputRef, (self.task_id, self.path))

    def __repr__(self) -> str:
        return f"{self.task_id}.outputs" + "".join(f"[{key!r}]" for key in self.path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputRef) and (self.task_id, self.path) == (other.task_id, other.path)

    def __hash__(self) -> int:
        return hash((self.task_id, self.path))


class ResultStore:
    """The results of one run, kept in its channel.

    Args:
        channel: The run's channel (shared with parallel branches, D10).
    """

    __slots__ = ("channel",)

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def set(self, task_id: str, result: Any) -> None:
        """Store ``result`` as ``task_id``'s result."""
        self.channel.set(task_id + RESULT_SUFFIX, result)

    def get(self, task_id: str, default: Any = None) -> Any:
        """``task_id``'s stored result, or ``default``."""
        return self.channel.get(task_id + RESULT_SUFFIX, default)

    def discard(self, task_id: str) -> None:
        """Forget ``task_id``'s result (a tolerated failed group member leaves none)."""
        self.channel.delete(task_id + RESULT_SUFFIX)

    def resolve(
        self, params: tuple[tuple[str, bool], ...], task_id: str, triggers: Mapping[str, list[str]]
    ) -> tuple[dict[str, Any], list[str] | None]:
        """D11: fill parameters from ``<param>.__result__``, then ``<param>``, then the triggering result(s).

        Args:
            params: ``(name, has_default)`` of each parameter resolution may fill.
            task_id: The task being called.
            triggers: The run's ``{task id: ids of the tasks whose completion queued it}``.

        Returns:
            The filled values, and the names of parameters with a default that nothing filled (None when none).
        """
        get = self.channel.get
        out: dict[str, Any] = {}
        defaulted: list[str] | None = None
        trigger_results: list[Any] | None = None
        for name, has_default in params:
            value = get(name + RESULT_SUFFIX, _MISSING)
            if value is _MISSING:
                value = get(name, _MISSING)
                if value is _MISSING:
                    if trigger_results is None:
                        trigger_results = [get(t + RESULT_SUFFIX) for t in triggers.get(task_id, ())]
                    value = _from_trigger_results(trigger_results, name)
            if value is not _MISSING:
                out[name] = value
            elif has_default:
                defaulted = [*(defaulted or []), name]
        return out, defaulted


def _from_trigger_results(results: list[Any], name: str) -> Any:
    for result in results:
        if isinstance(result, Mapping) and name in result:
            return result[name]
    return _MISSING


__all__ = ["RESULT_SUFFIX", "OutputRef", "ResultStore", "result_key", "task_id_of"]
