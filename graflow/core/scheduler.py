"""The ready queue of one run: FIFO order, delayed retries (D9) and fan-in joins (D3).

Pure bookkeeping: the engine asks it for the next ready task id and tells it what completed. It never runs
anything and never sleeps while something is ready.
"""

from __future__ import annotations

import heapq
import itertools
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from graflow.core.digraph import DiGraph


class Scheduler:
    """Ready tasks, tasks waiting out a retry backoff, and fan-in joins waiting for their wave to finish.

    Args:
        graph_source: Returns the run's graph (it may be replaced when the run copies its graph).
        clock: Monotonic clock, injectable for tests.
    """

    __slots__ = ("_ancestors", "_ancestors_key", "_clock", "_graph_source", "_seq", "delayed", "joins", "ready",
                 "retrying", "triggers")

    def __init__(self, graph_source: Callable[[], DiGraph], clock: Callable[[], float] = time.monotonic) -> None:
        self._graph_source = graph_source
        self._clock = clock
        self.ready: deque[str] = deque()
        self.delayed: list[tuple[float, int, str]] = []  # (due, seq, task_id)
        self._seq: itertools.count[int] | None = None  # created when the first retry is delayed
        self.retrying: set[str] = set()  # ids whose next run is a retry (no new cycle is counted)
        self.joins: dict[str, None] = {}  # triggered fan-in nodes waiting for their wave, in trigger order
        self.triggers: dict[str, list[str]] = {}  # task id -> ids of the tasks whose completion queued it
        self._ancestors: dict[str, frozenset[str]] = {}
        self._ancestors_key: tuple[int, int] = (-1, -1)

    # -- queueing ---------------------------------------------------------------------------------------------------
    def push(self, task_id: str, trigger: str | None = None) -> None:
        """Make ``task_id`` ready (at the back)."""
        self.ready.append(task_id)
        if trigger is not None:
            self.triggers[task_id] = [trigger]

    def push_front(self, task_id: str) -> None:
        """Make ``task_id`` ready before everything else."""
        self.ready.appendleft(task_id)

    def push_successor(self, task_id: str, trigger: str, in_degree: int) -> None:
        """Queue a static successor; a node with several predecessors becomes a join (D3)."""
        if in_degree <= 1:
            self.ready.append(task_id)
            self.triggers[task_id] = [trigger]
            return
        previous = self.triggers.get(task_id) if task_id in self.joins else None
        if previous is None:
            self.triggers[task_id] = [trigger]
        elif trigger not in previous:
            previous.append(trigger)
        self.joins[task_id] = None

    def delay(self, task_id: str, seconds: float) -> None:
        """Re-run ``task_id`` after ``seconds``; with no delay it keeps its place at the front (D9)."""
        if seconds <= 0:
            self.ready.appendleft(task_id)
        else:
            heapq.heappush(self.delayed, (self._clock() + seconds, self._next_seq(), task_id))

    def _next_seq(self) -> int:
        if self._seq is None:
            self._seq = itertools.count()
        return next(self._seq)

    # -- taking -----------------------------------------------------------------------------------------------------
    def next_ready(self, sleep: Callable[[float], None] = time.sleep) -> str | None:
        """The next task id to run, or None when nothing is left. Sleeps only when nothing else is ready."""
        while True:
            if self.delayed and self.delayed[0][0] <= self._clock():
                # A due retry runs before queued work: it keeps its place (D9).
                return heapq.heappop(self.delayed)[2]
            if self.ready:
                return self.ready.popleft()
            if self.joins:
                self.release_joins()
                if self.ready:
                    continue
            if self.delayed:
                sleep(max(0.0, self.delayed[0][0] - self._clock()))
                continue
            return None

    def has_pending(self) -> bool:
        """Whether anything is ready, delayed or waiting as a join."""
        return bool(self.ready or self.delayed or self.joins)

    # -- joins (D3) -------------------------------------------------------------------------------------------------
    def _ancestors_of(self, node: str) -> frozenset[str]:
        graph = self._graph_source()
        key = (id(graph), graph.version)
        if key != self._ancestors_key:
            self._ancestors = {}
            self._ancestors_key = key
        found = self._ancestors.get(node)
        if found is None:
            found = frozenset(graph.ancestors(node)) if node in graph else frozenset()
            self._ancestors[node] = found
        return found

    def release_joins(self, running: Iterable[str] = ()) -> list[str]:
        """Queue every waiting join that nothing pending can still reach; returns the released ids."""
        released: list[str] = []
        progress = True
        while self.joins and progress:
            progress = False
            blockers = set(self.ready)
            blockers.update(item[2] for item in self.delayed)
            blockers.update(running)
            for join in list(self.joins):
                others = blockers | (self.joins.keys() - {join})
                if others.isdisjoint(self._ancestors_of(join)):
                    del self.joins[join]
                    self.ready.append(join)
                    released.append(join)
                    blockers.add(join)
                    progress = True
        if not released and self.joins and not self.ready and not self.delayed:
            # Joins that can reach each other (a loop of fan-ins): release the earliest triggered.
            first = next(iter(self.joins))
            del self.joins[first]
            self.ready.append(first)
            released.append(first)
        return released

    # -- state ------------------------------------------------------------------------------------------------------
    def pending_ids(self) -> list[str]:
        """Every id still to run: ready first, then delayed (by due time), then waiting joins."""
        return [*self.ready, *(item[2] for item in sorted(self.delayed)), *self.joins]

    def get_state(self) -> dict[str, Any]:
        """A plain-data snapshot (for checkpoints); delays are stored as remaining seconds."""
        now = self._clock()
        return {
            "ready": list(self.ready),
            "delayed": [(max(0.0, due - now), task_id) for due, _, task_id in sorted(self.delayed)],
            "joins": list(self.joins),
            "retrying": sorted(self.retrying),
            "triggers": {k: list(v) for k, v in self.triggers.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output."""
        self.ready = deque(state.get("ready", ()))
        self.delayed = []
        for remaining, task_id in state.get("delayed", ()):
            heapq.heappush(self.delayed, (self._clock() + float(remaining), self._next_seq(), task_id))
        self.joins = dict.fromkeys(state.get("joins", ()))
        self.retrying = set(state.get("retrying", ()))
        self.triggers = {k: list(v) for k, v in state.get("triggers", {}).items()}

    def clear(self) -> None:
        """Drop everything pending."""
        self.ready.clear()
        self.delayed.clear()
        self.joins.clear()


def weak_graph_source(owner: Any) -> Callable[[], DiGraph]:
    """A ``graph_source`` that reads ``owner.graph.digraph`` through a weak reference.

    The owner (an execution context) holds its scheduler; a bound method as the source would make a cycle, and every
    finished context would then wait for the cyclic garbage collector instead of going with its last reference.
    """
    ref = weakref.ref(owner)

    def current_graph() -> DiGraph:
        alive = ref()
        if alive is None:
            raise ReferenceError("the owner of this scheduler no longer exists")
        graph: DiGraph = alive.graph.digraph
        return graph

    return current_graph


__all__ = ["Scheduler", "weak_graph_source"]
