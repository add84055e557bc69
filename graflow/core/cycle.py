"""Cycle counting for ``next_iteration`` loops (spec section 4.2)."""

from __future__ import annotations

import re
import threading
from typing import Any

from graflow import defaults
from graflow.exceptions import CycleLimitExceededError

_CYCLE_SUFFIX = re.compile(r"(_cycle_\d+_[0-9a-f]+)+$")


def base_task_id(task_id: str) -> str:
    """``optimizer_cycle_2_1a2b3c4d`` → ``optimizer``."""
    if "_cycle_" not in task_id:
        return task_id
    return _CYCLE_SUFFIX.sub("", task_id)


class CycleController:
    """Counts executions per base task id and enforces ``max_cycles`` for ``next_iteration``."""

    def __init__(self, default_max_cycles: int = defaults.CYCLE_CONTROLLER_MAX_CYCLES) -> None:
        self.default_max_cycles = default_max_cycles
        self.cycle_counts: dict[str, int] = {}
        self.node_max_cycles: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_node_max_cycles(self, node_id: str, max_cycles: int) -> None:
        """Set the budget of one base task id."""
        self.node_max_cycles[node_id] = max_cycles

    def get_max_cycles(self, node_id: str) -> int:
        """The budget of ``node_id`` (its own, else the default)."""
        return self.node_max_cycles.get(base_task_id(node_id), self.default_max_cycles)

    def get_cycle_count(self, node_id: str) -> int:
        """Executions of ``node_id`` so far (1 during its first run)."""
        return self.cycle_counts.get(base_task_id(node_id), 0)

    def increment(self, node_id: str) -> int:
        """Count one more execution of ``node_id`` (an iteration counts for its base task); returns the new count."""
        base = base_task_id(node_id)
        with self._lock:
            count = self.cycle_counts.get(base, 0) + 1
            self.cycle_counts[base] = count
            return count

    def accept_next_cycle(self, node_id: str) -> bool:
        """Whether ``node_id`` may run one more cycle (same as :meth:`can_execute`)."""
        return self.can_execute(node_id)

    def get_max_cycles_for_node(self, node_id: str) -> int:
        """The cycle budget of ``node_id`` (same as :meth:`get_max_cycles`)."""
        return self.get_max_cycles(node_id)

    def can_execute(self, node_id: str) -> bool:
        """Whether another iteration fits the budget."""
        return self.get_cycle_count(node_id) < self.get_max_cycles(node_id)

    def check_cycle_limit(self, node_id: str) -> int:
        """Raise :class:`CycleLimitExceededError` when the budget is used up; return the current count."""
        base = base_task_id(node_id)
        count = self.cycle_counts.get(base, 0)
        limit = self.get_max_cycles(base)
        if count >= limit:
            raise CycleLimitExceededError(base, count, limit)
        return count

    def merge(self, other: CycleController) -> None:
        """Take the higher count per id from ``other``."""
        with self._lock:
            for key, value in other.cycle_counts.items():
                if value > self.cycle_counts.get(key, 0):
                    self.cycle_counts[key] = value

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


__all__ = ["CycleController", "base_task_id"]
