"""Retry policies and the per-run retry bookkeeping (spec section 6, D9)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from graflow import defaults


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed task is tried again.

    Args:
        max_retries: Retries after the first failure (0 = no retry).
        initial_interval: Delay before the first retry, in seconds.
        backoff_factor: Each further delay is multiplied by this.
        max_interval: Upper bound of a delay.
        jitter: Multiply each delay by a random factor in [0.5, 1.5).
    """

    max_retries: int = 0
    initial_interval: float = defaults.RETRY_INITIAL_INTERVAL
    backoff_factor: float = defaults.RETRY_BACKOFF_FACTOR
    max_interval: float = defaults.RETRY_MAX_INTERVAL
    jitter: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must be >= 0, got {self.max_retries}")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("RetryPolicy intervals must be >= 0")
        if self.backoff_factor < 1:
            raise ValueError(f"RetryPolicy.backoff_factor must be >= 1, got {self.backoff_factor}")

    def get_delay(self, retry_number: int) -> float:
        """Delay in seconds before retry ``retry_number`` (0-based)."""
        delay = min(self.initial_interval * self.backoff_factor**retry_number, self.max_interval)
        if self.jitter:
            delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        return float(delay)

    def should_retry(self, retry_count: int) -> bool:
        """Whether another retry is allowed after ``retry_count`` retries."""
        return retry_count < self.max_retries

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "max_retries": self.max_retries,
            "initial_interval": self.initial_interval,
            "backoff_factor": self.backoff_factor,
            "max_interval": self.max_interval,
            "jitter": self.jitter,
        }


class RetryController:
    """Counts retries per task id within one run."""

    def __init__(self, default_max_retries: int = defaults.DEFAULT_MAX_RETRIES) -> None:
        self.default_max_retries = default_max_retries
        self.retry_counts: dict[str, int] = {}
        self.max_retries: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_max_retries(self, task_id: str, max_retries: int) -> None:
        """Override the budget of one task."""
        self.max_retries[task_id] = max_retries

    def get_max_retries(self, task_id: str) -> int:
        """The budget of ``task_id``."""
        return self.max_retries.get(task_id, self.default_max_retries)

    def get_retry_count(self, task_id: str) -> int:
        """Retries performed so far for ``task_id``."""
        return self.retry_counts.get(task_id, 0)

    def accept_retry(self, task_id: str) -> bool:
        """Whether ``task_id`` may be retried once more."""
        return self.get_retry_count(task_id) < self.get_max_retries(task_id)

    def increment(self, task_id: str) -> int:
        """Record one more retry; returns the new count."""
        with self._lock:
            count = self.retry_counts.get(task_id, 0) + 1
            self.retry_counts[task_id] = count
            return count

    def reset(self, task_id: str) -> None:
        """Forget the retries of ``task_id`` (after it succeeds)."""
        self.retry_counts.pop(task_id, None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


__all__ = ["RetryController", "RetryPolicy"]
