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
        for name in ("max_retries", "initial_interval", "backoff_factor", "max_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"RetryPolicy.{name} must be a number, got {value!r}")
        if not isinstance(self.max_retries, int):
            raise TypeError(f"RetryPolicy.max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_interval", "max_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")
        if self.backoff_factor <= 0:
            raise ValueError(f"RetryPolicy.backoff_factor must be > 0, got {self.backoff_factor}")

    def get_delay(self, retry_count: int) -> float:
        """Delay in seconds before the retry that follows ``retry_count`` earlier retries (0 for the first)."""
        delay = min(self.initial_interval * self.backoff_factor**retry_count, self.max_interval)
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
    """Counts retries per task id within one run (the engine asks it whether a failed task may run again)."""

    def __init__(self, default_max_retries: int = defaults.DEFAULT_MAX_RETRIES) -> None:
        self.default_max_retries = default_max_retries
        self.retry_counts: dict[str, int] = {}
        self.max_retries: dict[str, int] = {}
        self.policies: dict[str, RetryPolicy] = {}
        self.last_errors: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def set_node_max_retries(self, node_id: str, max_retries: int) -> None:
        """Override the retry budget of one task."""
        self.max_retries[node_id] = max_retries

    set_max_retries = set_node_max_retries

    def set_node_policy(self, node_id: str, policy: RetryPolicy) -> None:
        """Give one task a backoff policy (its ``max_retries`` becomes the task's budget)."""
        self.policies[node_id] = policy
        self.max_retries[node_id] = policy.max_retries

    def get_policy_for_node(self, node_id: str) -> RetryPolicy | None:
        """The policy set for ``node_id``, if any."""
        return self.policies.get(node_id)

    def get_max_retries_for_node(self, node_id: str) -> int:
        """The budget of ``node_id``."""
        return self.max_retries.get(node_id, self.default_max_retries)

    get_max_retries = get_max_retries_for_node

    def get_retry_count(self, node_id: str) -> int:
        """Retries performed so far for ``node_id``."""
        return self.retry_counts.get(node_id, 0)

    def accept_retry(self, node_id: str) -> bool:
        """Whether ``node_id`` may be retried once more."""
        return self.get_retry_count(node_id) < self.get_max_retries_for_node(node_id)

    def increment(self, node_id: str, error: BaseException | None = None) -> int:
        """Record one more retry (and the error that caused it); returns the new count."""
        with self._lock:
            count = self.retry_counts.get(node_id, 0) + 1
            self.retry_counts[node_id] = count
            if error is not None:
                self.last_errors[node_id] = error
            return count

    def check_retry_limit(self, node_id: str) -> None:
        """Raise :class:`RetryLimitExceededError` when ``node_id`` has no retry left."""
        if not self.accept_retry(node_id):
            from graflow.exceptions import RetryLimitExceededError

            raise RetryLimitExceededError(
                node_id, self.get_retry_count(node_id), self.get_max_retries_for_node(node_id),
                self.last_errors.get(node_id),
            )

    def get_delay(self, node_id: str) -> float:
        """Backoff before the next retry of ``node_id`` (0 without a policy)."""
        policy = self.policies.get(node_id)
        return policy.get_delay(self.get_retry_count(node_id)) if policy is not None else 0.0

    def get_last_error(self, node_id: str) -> BaseException | None:
        """The error of the last failed attempt of ``node_id``."""
        return self.last_errors.get(node_id)

    def reset(self, node_id: str) -> None:
        """Forget the retries of ``node_id`` (after it succeeds)."""
        self.retry_counts.pop(node_id, None)
        self.last_errors.pop(node_id, None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state["last_errors"] = {}  # exceptions may not pickle; counts are what resume needs
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("policies", {})
        state.setdefault("last_errors", {})
        self.__dict__.update(state)
        self._lock = threading.Lock()


__all__ = ["RetryController", "RetryPolicy"]
