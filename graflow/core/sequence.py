"""``SequentialTask`` (what ``a >> b`` returns) and the ``chain`` / ``parallel`` helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from graflow.core.ambient import dsl_target
from graflow.core.task import Executable, _flatten_seq

if TYPE_CHECKING:
    from graflow.core.groups import ParallelGroup


class SequentialTask(Executable):
    """The value of ``a >> b``: an ordered list of executables. Never a graph node itself."""

    def __init__(self, tasks: Sequence[Executable], *, _connect: bool = True, _anchor_left: bool = False) -> None:
        if not tasks:
            raise ValueError("SequentialTask needs at least one task")
        self.tasks: list[Executable] = list(tasks)
        self._anchor_left = _anchor_left
        if _connect and len(self.tasks) > 1:
            wf = dsl_target()
            for t in self.tasks:
                t._register(wf)
            for a, b in zip(self.tasks, self.tasks[1:], strict=False):
                wf.graph.add_edge(a.rightmost.task_id, b.leftmost.task_id)

    @property
    def task_id(self) -> str:  # type: ignore[override]
        return self.leftmost.task_id

    @property
    def leftmost(self) -> Executable:
        return self.tasks[0].leftmost

    @property
    def rightmost(self) -> Executable:
        return self.tasks[-1].rightmost

    def __lshift__(self, other: Executable) -> SequentialTask:
        if not isinstance(other, Executable):
            return NotImplemented
        if self._anchor_left:
            # (c << b) << a: connect a to the leftmost-pending end, i.e. a >> b
            other >> self.tasks[0]
            return SequentialTask([*_flatten_seq(other), *self.tasks], _connect=False, _anchor_left=True)
        return super().__lshift__(other)

    def _node_executables(self) -> list[Executable]:
        nodes: list[Executable] = []
        for t in self.tasks:
            nodes.extend(t._node_executables())
        return nodes

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the tasks one after another; return the last result."""
        result = None
        for t in self.tasks:
            result = t.run()
        return result

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> Executable:
        return self.tasks[index]

    def __iter__(self) -> Iterator[Executable]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        return "SequentialTask([" + " >> ".join(t.task_id for t in self.tasks) + "])"


def chain(*tasks: Executable) -> SequentialTask:
    """``chain(a, b, c)`` is ``a >> b >> c``. Needs at least one task."""
    if not tasks:
        raise ValueError("chain() needs at least one task")
    _require_executables("chain", tasks)
    return SequentialTask(list(tasks))


def _require_executables(what: str, items: Sequence[Any]) -> None:
    for position, item in enumerate(items, 1):
        if not isinstance(item, Executable):
            raise TypeError(f"{what}() takes tasks; argument {position} is {type(item).__name__}: {item!r}")


def parallel(*tasks: Executable) -> ParallelGroup:
    """``parallel(a, b, c)`` is ``a | b | c``. Needs at least two tasks."""
    if len(tasks) < 2:
        raise ValueError("parallel() needs at least two tasks")
    _require_executables("parallel", tasks)
    from graflow.core.groups import ParallelGroup

    return ParallelGroup(list(tasks))


__all__ = ["SequentialTask", "chain", "parallel"]
