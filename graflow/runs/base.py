"""The run store contract: where runs and their task attempts are recorded, listed and pruned.

Every backend (memory, SQLite, PostgreSQL) implements :class:`RunStore` and passes the shared contract suite in
``graflow.testing.contracts.run_store``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import fields
from datetime import timedelta
from typing import Any

from graflow.runs import settings
from graflow.runs.audit import AuditEntry, AuditPage
from graflow.runs.errors import RunStoreError
from graflow.runs.models import CancelRequest, RunPage, RunRecord, TaskAttempt, WriteBatch

#: Fields of a run that ``update_run`` may change.
RUN_FIELDS = frozenset(f.name for f in fields(RunRecord)) - {"run_id"}
#: Fields of an attempt that ``update_task_attempt`` may change.
ATTEMPT_FIELDS = frozenset(f.name for f in fields(TaskAttempt)) - {"attempt_id"}


class RunStore(ABC):
    """Records workflow runs and their task attempts.

    Reads show a ``running`` run whose heartbeat expired as ``crashed`` (computed when read, at ``now``, the
    current time by default); :meth:`mark_crashed` records that for good. Listings are newest first and paged by
    keyset: a cursor stands for the ``(created_at, run_id)`` of the last run of a page, so pages stay stable
    while new runs arrive.
    """

    # -- writes -----------------------------------------------------------------------------------------------------
    @abstractmethod
    def create_run(self, run: RunRecord) -> None:
        """Record ``run``; when a run with its id exists (a resumed run), replace it, keeping its ``created_at``."""

    @abstractmethod
    def update_run(self, run_id: str, **changes: Any) -> bool:
        """Change fields of a run. ``updated_at`` becomes now unless given; a new ``status`` is appended to the
        run's history unless ``history`` is given.

        Returns:
            Whether the run exists.

        Raises:
            RunStoreError: A field a run does not have.
        """

    @abstractmethod
    def add_task_attempt(self, attempt: TaskAttempt) -> None:
        """Record ``attempt``; when one with its id exists, replace it."""

    @abstractmethod
    def update_task_attempt(self, attempt_id: str, **changes: Any) -> bool:
        """Change fields of an attempt.

        Returns:
            Whether the attempt exists.

        Raises:
            RunStoreError: A field an attempt does not have.
        """

    def apply(self, batch: WriteBatch) -> None:
        """Apply every write of ``batch``; a store with transactions applies them in one."""
        for run in batch.runs:
            self.create_run(run)
        for attempt in batch.attempts:
            self.add_task_attempt(attempt)
        for run_id, at, expires in batch.heartbeats:
            self._beat(run_id, at, expires)

    @abstractmethod
    def _beat(self, run_id: str, at: float, expires: float) -> bool:
        """Write one heartbeat: a ``running`` (or ``crashed``) run becomes ``running`` until ``expires``."""

    def heartbeat(self, run_id: str, *, interval: float | None = None, now: float | None = None) -> bool:
        """Say that a running run is alive at ``now``: it is shown as running until ``MISSED_HEARTBEATS``
        intervals (``GRAFLOW_RUN_HEARTBEAT_SECONDS`` by default) have passed without another heartbeat.

        Returns:
            Whether a running run with that id exists (a run that has ended is left alone).
        """
        at = time.time() if now is None else now
        interval = settings.heartbeat_seconds() if interval is None else interval
        return self._beat(run_id, at, at + settings.MISSED_HEARTBEATS * interval)

    # -- reads ------------------------------------------------------------------------------------------------------
    @abstractmethod
    def get_run(self, run_id: str, *, now: float | None = None) -> RunRecord | None:
        """The run with that id, or None."""

    @abstractmethod
    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        workflow: str | None = None,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        now: float | None = None,
    ) -> RunPage:
        """Runs newest first (by ``created_at``, then ``run_id``), at most ``limit`` of them.

        Args:
            status: Only runs in this status (or any of these); ``crashed`` includes running runs whose heartbeat
                expired, ``running`` excludes them.
            workflow: Only runs of the workflow with this name.
            limit: Page size.
            cursor: ``next_cursor`` of the previous page.
            now: The time at which heartbeats are judged (default: now).

        Raises:
            RunStoreError: An unknown status, a bad cursor or limit.
        """

    @abstractmethod
    def list_tasks(self, run_id: str) -> list[TaskAttempt]:
        """The task attempts of a run in the order they started (empty for an unknown run)."""

    @abstractmethod
    def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Ids of runs that start with ``prefix``, in id order, at most ``limit`` (what a short id names)."""

    # -- stopping runs from elsewhere -------------------------------------------------------------------------------
    @abstractmethod
    def request_cancel(self, run_id: str, reason: str, *, now: float | None = None) -> None:
        """Ask the process running ``run_id`` to stop it at its next task boundary, as canceled.

        A later request replaces an earlier one. The recorder that records the run polls for requests
        (:meth:`cancel_requests`) and calls ``RunState.request_cancel``.
        """

    @abstractmethod
    def cancel_requests(self, run_ids: Iterable[str]) -> dict[str, CancelRequest]:
        """The cancel requests recorded for any of ``run_ids``, by run id."""

    # -- the API's audit log ---------------------------------------------------------------------------------------
    @abstractmethod
    def add_audit_entry(self, entry: AuditEntry) -> None:
        """Record one mutating API call (:class:`~graflow.runs.audit.AuditEntry`)."""

    @abstractmethod
    def list_audit(
        self,
        *,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        idempotency_key: str | None = None,
    ) -> AuditPage:
        """Audit entries newest first (by ``at``, then ``entry_id``), at most ``limit``, optionally only those of
        one ``action``, ``target`` or ``idempotency_key``; ``cursor`` is the previous page's ``next_cursor``.

        Raises:
            RunStoreError: A bad cursor or limit.
        """

    # -- maintenance ------------------------------------------------------------------------------------------------
    @abstractmethod
    def mark_crashed(self, older_than: timedelta | float | None = None, *, now: float | None = None) -> int:
        """Record as ``crashed`` the running runs that stopped sending heartbeats: those whose heartbeat expired
        (``older_than`` None) or whose last sign of life is older than ``older_than``.

        Returns:
            How many runs were marked.
        """

    @abstractmethod
    def prune(self, older_than: timedelta | float | str, *, now: float | None = None) -> int:
        """Delete the runs that ended more than ``older_than`` ago (running runs whose heartbeat expired that
        long ago included), their task attempts, and attempts of unrecorded runs as old.

        Returns:
            How many runs were deleted.
        """

    def close(self) -> None:  # noqa: B027 - a store holding no resources keeps this default
        """Release connections. The store cannot be used afterwards."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_changes(changes: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    """Raise RunStoreError when ``changes`` names a field ``what`` does not have."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise RunStoreError(f"A {what} has no field {', '.join(map(repr, unknown))}")


def run_changes(current: RunRecord, changes: dict[str, Any], now: float) -> dict[str, Any]:
    """``changes`` of ``update_run`` completed with ``updated_at`` and the history entry of a new status."""
    out = dict(changes)
    out.setdefault("updated_at", now)
    if "status" in out and "history" not in out and out["status"] != current.status:
        out["history"] = [*current.history, [out["status"], out["updated_at"]]]
    return out


__all__ = ["ATTEMPT_FIELDS", "RUN_FIELDS", "RunStore"]
