"""Parallel-group error policies (spec section 5): pure decisions over the members' results."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graflow.exceptions import ParallelGroupError

if TYPE_CHECKING:
    from graflow.core.handler import TaskResult

logger = logging.getLogger(__name__)


class GroupExecutionPolicy(ABC):
    """Decides whether a parallel group succeeded. Raise :class:`ParallelGroupError` to fail it."""

    @abstractmethod
    def on_group_finished(
        self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult], context: Any
    ) -> None:
        """Inspect the members' results; raise ``ParallelGroupError`` to fail the group."""

    def get_name(self) -> str:
        """The policy's serialised name."""
        return type(self).__name__

    # Helpers for subclasses ----------------------------------------------------------------------------------------
    def _validate_group_results(self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult]) -> None:
        expected = {t.task_id for t in tasks}
        got = set(results)
        if expected != got:
            missing = sorted(expected - got)
            extra = sorted(got - expected)
            raise ParallelGroupError(
                f"Parallel group {group_id} results do not match its members (missing: {missing}, unexpected: {extra})",
                group_id=group_id,
                failed_tasks=[(m, "no result") for m in missing],
                successful_tasks=[k for k, r in results.items() if r.success],
            )

    @staticmethod
    def _partition_group_results(results: Mapping[str, TaskResult]) -> tuple[list[str], list[tuple[str, str]]]:
        successful = [k for k, r in results.items() if r.success]
        failed = [(k, r.error_message or str(r.error)) for k, r in results.items() if not r.success]
        return successful, failed

    @staticmethod
    def _errors(results: Mapping[str, TaskResult]) -> dict[str, BaseException]:
        return {k: r.error for k, r in results.items() if not r.success and r.error is not None}


class StrictGroupPolicy(GroupExecutionPolicy):
    """Any failed member fails the group (the default, ``"strict"``)."""

    def on_group_finished(
        self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult], context: Any
    ) -> None:
        self._validate_group_results(group_id, tasks, results)
        successful, failed = self._partition_group_results(results)
        if failed:
            raise ParallelGroupError(
                f"Parallel group {group_id} failed: {len(failed)} task(s) failed",
                group_id=group_id, failed_tasks=failed, successful_tasks=successful,
                member_errors=self._errors(results),
            )

    def get_name(self) -> str:
        return "strict"


class BestEffortGroupPolicy(GroupExecutionPolicy):
    """Never fails the group; logs the failed members (``"best_effort"``)."""

    def on_group_finished(
        self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult], context: Any
    ) -> None:
        self._validate_group_results(group_id, tasks, results)
        _, failed = self._partition_group_results(results)
        if failed:
            logger.warning("Parallel group %s: %d member(s) failed (best effort): %s", group_id, len(failed),
                           [k for k, _ in failed])

    def get_name(self) -> str:
        return "best_effort"


class CriticalGroupPolicy(GroupExecutionPolicy):
    """Fails the group only when one of ``critical_task_ids`` failed."""

    def __init__(self, critical_task_ids: Iterable[str]) -> None:
        ids = list(critical_task_ids)
        if not ids:
            raise ValueError("CriticalGroupPolicy needs at least one critical task id")
        self.critical_task_ids = ids

    def on_group_finished(
        self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult], context: Any
    ) -> None:
        self._validate_group_results(group_id, tasks, results)
        members = {t.task_id for t in tasks}
        unknown = [c for c in self.critical_task_ids if c not in members]
        if unknown:
            raise ValueError(f"Critical task ids not in group {group_id}: {unknown}")
        successful, failed = self._partition_group_results(results)
        critical_failed = [(k, m) for k, m in failed if k in self.critical_task_ids]
        if critical_failed:
            raise ParallelGroupError(
                f"Critical tasks failed: {[k for k, _ in critical_failed]}",
                group_id=group_id, failed_tasks=failed, successful_tasks=successful,
                member_errors=self._errors(results),
            )
        if failed:
            logger.warning("Parallel group %s: optional member(s) failed: %s", group_id, [k for k, _ in failed])

    def get_name(self) -> str:
        return "critical"


class AtLeastNGroupPolicy(GroupExecutionPolicy):
    """Fails the group when fewer than ``min_success`` members succeeded."""

    def __init__(self, min_success: int) -> None:
        if min_success < 0:
            raise ValueError(f"min_success must be >= 0, got {min_success}")
        self.min_success = min_success

    def on_group_finished(
        self, group_id: str, tasks: Sequence[Any], results: Mapping[str, TaskResult], context: Any
    ) -> None:
        if self.min_success > len(tasks):
            raise ValueError(f"min_success={self.min_success} exceeds the size of group {group_id} ({len(tasks)})")
        self._validate_group_results(group_id, tasks, results)
        successful, failed = self._partition_group_results(results)
        if len(successful) < self.min_success:
            raise ParallelGroupError(
                f"Only {len(successful)}/{self.min_success} tasks succeeded in group {group_id}",
                group_id=group_id, failed_tasks=failed, successful_tasks=successful,
                member_errors=self._errors(results),
            )

    def get_name(self) -> str:
        return f"at_least_{self.min_success}"


POLICY_REGISTRY: dict[str, type[GroupExecutionPolicy]] = {
    "strict": StrictGroupPolicy,
    "best_effort": BestEffortGroupPolicy,
    "critical": CriticalGroupPolicy,
    "at_least_n": AtLeastNGroupPolicy,
}


def canonicalize_group_policy(policy: Any) -> Any:
    """The serialisable form of ``policy``: a name, a dict with arguments, or ``{"type": "__custom__", ...}``."""
    if policy is None:
        return "strict"
    if isinstance(policy, str):
        if policy not in POLICY_REGISTRY:
            raise ValueError(f"Unknown group policy '{policy}'. Known: {sorted(POLICY_REGISTRY)}")
        return policy
    if isinstance(policy, dict):
        if policy.get("type") not in (*POLICY_REGISTRY, "__custom__"):
            raise ValueError(f"Unknown group policy type: {policy.get('type')!r}")
        return dict(policy)
    if isinstance(policy, CriticalGroupPolicy):
        return {"type": "critical", "critical_task_ids": list(policy.critical_task_ids)}
    if isinstance(policy, AtLeastNGroupPolicy):
        return {"type": "at_least_n", "min_success": policy.min_success}
    if type(policy) is StrictGroupPolicy:
        return "strict"
    if type(policy) is BestEffortGroupPolicy:
        return "best_effort"
    if isinstance(policy, GroupExecutionPolicy):
        return {"type": "__custom__", "policy": policy}
    raise TypeError(f"A group policy must be a name, a dict or a GroupExecutionPolicy, got {type(policy).__name__}")


def resolve_group_policy(policy: Any) -> GroupExecutionPolicy:
    """A policy object from any accepted form."""
    if isinstance(policy, GroupExecutionPolicy):
        return policy
    canonical = canonicalize_group_policy(policy)
    if isinstance(canonical, str):
        cls = POLICY_REGISTRY[canonical]
        try:
            return cls()
        except TypeError as exc:
            raise ValueError(f"Group policy '{canonical}' needs arguments; pass {cls.__name__}(...) instead") from exc
    kind = canonical["type"]
    if kind == "__custom__":
        custom: GroupExecutionPolicy = canonical["policy"]
        return custom
    args = {k: v for k, v in canonical.items() if k != "type"}
    return POLICY_REGISTRY[kind](**args)


__all__ = [
    "POLICY_REGISTRY",
    "AtLeastNGroupPolicy",
    "BestEffortGroupPolicy",
    "CriticalGroupPolicy",
    "GroupExecutionPolicy",
    "StrictGroupPolicy",
    "canonicalize_group_policy",
    "resolve_group_policy",
]
