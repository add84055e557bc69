"""``MemoryRunStore``: the in-memory twin of the SQL stores, for tests and short-lived processes (``memory://``)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from graflow.runs import settings
from graflow.runs.audit import AuditEntry, AuditPage, audit_filter
from graflow.runs.base import ATTEMPT_FIELDS, RUN_FIELDS, RunStore, check_changes, run_changes
from graflow.runs.errors import RunStoreClosedError
from graflow.runs.models import (
    CancelRequest,
    RunPage,
    RunRecord,
    TaskAttempt,
    WriteBatch,
    age_seconds,
    before,
    check_limit,
    decode_cursor,
    effective_status,
    page_of,
    shown,
    statuses_of,
)


class MemoryRunStore(RunStore):
    """Runs and attempts in dictionaries of this process, behind one lock. Nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._attempts: dict[str, TaskAttempt] = {}
        self._cancels: dict[str, CancelRequest] = {}
        self._audit: dict[str, AuditEntry] = {}
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise RunStoreClosedError()

    # -- writes -----------------------------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        with self._lock:
            self._check()
            self._put_run(run)

    def _put_run(self, run: RunRecord) -> None:
        stored = run.copy()
        existing = self._runs.get(run.run_id)
        if existing is not None:
            stored.created_at = existing.created_at
        self._runs[run.run_id] = stored

    def update_run(self, run_id: str, **changes: Any) -> bool:
        check_changes(changes, RUN_FIELDS, "run")
        with self._lock:
            self._check()
            run = self._runs.get(run_id)
            if run is None:
                return False
            for name, value in run_changes(run, changes, time.time()).items():
                setattr(run, name, value)
            return True

    def add_task_attempt(self, attempt: TaskAttempt) -> None:
        with self._lock:
            self._check()
            self._attempts[attempt.attempt_id] = attempt.copy()

    def update_task_attempt(self, attempt_id: str, **changes: Any) -> bool:
        check_changes(changes, ATTEMPT_FIELDS, "task attempt")
        with self._lock:
            self._check()
            attempt = self._attempts.get(attempt_id)
            if attempt is None:
                return False
            for name, value in changes.items():
                setattr(attempt, name, value)
            return True

    def apply(self, batch: WriteBatch) -> None:
        with self._lock:
            self._check()
            for run in batch.runs:
                self._put_run(run)
            for attempt in batch.attempts:
                self._attempts[attempt.attempt_id] = attempt.copy()
            for run_id, at, expires in batch.heartbeats:
                self._beat_locked(run_id, at, expires)

    def _beat(self, run_id: str, at: float, expires: float) -> bool:
        with self._lock:
            self._check()
            return self._beat_locked(run_id, at, expires)

    def _beat_locked(self, run_id: str, at: float, expires: float) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.status not in ("running", "crashed"):
            return False
        run.status, run.heartbeat_at, run.expires_at, run.updated_at = "running", at, expires, at
        return True

    # -- reads ------------------------------------------------------------------------------------------------------
    def get_run(self, run_id: str, *, now: float | None = None) -> RunRecord | None:
        with self._lock:
            self._check()
            run = self._runs.get(run_id)
            return None if run is None else shown(run.copy(), now)

    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        workflow: str | None = None,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        now: float | None = None,
    ) -> RunPage:
        wanted = statuses_of(status)
        check_limit(limit)
        key = decode_cursor(cursor) if cursor is not None else None
        at = time.time() if now is None else now
        with self._lock:
            self._check()
            candidates = [
                run for run in self._runs.values()
                if (workflow is None or run.workflow == workflow)
                and (wanted is None or effective_status(run, at) in wanted)
                and (key is None or before(run, key))
            ]  # fmt: skip
            candidates.sort(key=lambda run: (run.created_at, run.run_id), reverse=True)
            return page_of([shown(run.copy(), at) for run in candidates[: limit + 1]], limit)

    def list_tasks(self, run_id: str) -> list[TaskAttempt]:
        with self._lock:
            self._check()
            found = [a.copy() for a in self._attempts.values() if a.run_id == run_id]
        found.sort(key=lambda a: (a.started_at, a.attempt_id))
        return found

    def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        with self._lock:
            self._check()
            return sorted(run_id for run_id in self._runs if run_id.startswith(prefix))[:limit]

    # -- stopping runs from elsewhere -------------------------------------------------------------------------------
    def request_cancel(self, run_id: str, reason: str, *, now: float | None = None) -> None:
        with self._lock:
            self._check()
            self._cancels[run_id] = CancelRequest(run_id, time.time() if now is None else now, reason)

    def cancel_requests(self, run_ids: Iterable[str]) -> dict[str, CancelRequest]:
        with self._lock:
            self._check()
            return {run_id: self._cancels[run_id] for run_id in run_ids if run_id in self._cancels}

    # -- the API's audit log ---------------------------------------------------------------------------------------
    def add_audit_entry(self, entry: AuditEntry) -> None:
        with self._lock:
            self._check()
            self._audit[entry.entry_id] = replace(entry, detail=copy.deepcopy(entry.detail))

    def list_audit(
        self,
        *,
        limit: int = settings.DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        idempotency_key: str | None = None,
    ) -> AuditPage:
        with self._lock:
            self._check()
            entries = [replace(e, detail=copy.deepcopy(e.detail)) for e in self._audit.values()]
        return audit_filter(entries, limit=limit, cursor=cursor, action=action, target=target,
                            idempotency_key=idempotency_key)

    # -- maintenance ------------------------------------------------------------------------------------------------
    def mark_crashed(self, older_than: timedelta | float | None = None, *, now: float | None = None) -> int:
        at = time.time() if now is None else now
        cutoff = None if older_than is None else at - age_seconds(older_than)
        marked = 0
        with self._lock:
            self._check()
            for run in self._runs.values():
                if run.status != "running":
                    continue
                alive = run.heartbeat_at or run.started_at or run.created_at
                dead = (run.expires_at is not None and run.expires_at < at) if cutoff is None else alive < cutoff
                if dead:
                    run.ended_at = run.heartbeat_at or at
                    run.expires_at = None
                    run.transition("crashed", at)
                    marked += 1
        return marked

    def prune(self, older_than: timedelta | float | str, *, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - age_seconds(older_than)
        with self._lock:
            self._check()
            doomed = {run_id for run_id, run in self._runs.items() if _prunable(run, cutoff)}
            for run_id in doomed:
                del self._runs[run_id]
                self._cancels.pop(run_id, None)
            for attempt_id, attempt in list(self._attempts.items()):
                orphan = attempt.run_id not in self._runs and (attempt.ended_at or attempt.started_at) < cutoff
                if attempt.run_id in doomed or orphan:
                    del self._attempts[attempt_id]
        return len(doomed)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __repr__(self) -> str:
        return f"MemoryRunStore(runs={len(self._runs)}, attempts={len(self._attempts)})"


def _prunable(run: RunRecord, cutoff: float) -> bool:
    """Whether a run ended (or, running, stopped sending heartbeats) before ``cutoff``."""
    if run.status == "running":
        return run.expires_at is not None and run.expires_at < cutoff
    return (run.ended_at or run.updated_at) < cutoff


__all__ = ["MemoryRunStore"]
