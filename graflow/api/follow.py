"""Events of runs this server does not execute, derived from the run store.

A run recorded by another process (``graflow run``, a worker with a recorder, a server that has restarted since) has
no live log here. Its events are derived from its record and its task attempts: ``run.started`` / ``run.paused``
from its status history, ``task.*`` from its attempts, ``feedback.*`` from the questions it waits on, and
``run.finished`` once its status is final. A :class:`StoreFollower` polls the store while streams read the run, and
appends what is new to the run's log in time order; every derived event has a key, so nothing is appended twice.

The ids of derived events are positions in the log this server builds. Another server (or this one after a restart)
may order events that happened at nearly the same time differently, so a ``Last-Event-ID`` is exact within one
server's life.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from graflow.api.events import (
    FEEDBACK_ANSWERED,
    FEEDBACK_REQUESTED,
    RUN_PAUSED,
    RUN_STARTED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_RETRYING,
    TASK_STARTED,
    RunLog,
)
from graflow.runs.models import FINAL_RUN_STATUSES

if TYPE_CHECKING:
    from graflow.api.store import StoreHandle
    from graflow.runs.models import RunRecord, TaskAttempt

logger = logging.getLogger(__name__)

#: Seconds between two reads of a followed run.
POLL_SECONDS = 0.5
#: After a run's record says it ended, seconds to wait for attempts still shown as started (a worker's recorder may
#: write them after the producer wrote the run's end) before ``run.finished`` closes the log.
FINAL_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Derived:
    """One event derived from the store: its key (unique per run), when it happened, and the event."""

    key: str
    at: float
    rank: int
    name: str
    data: dict[str, Any]


def derive(run: RunRecord, attempts: list[TaskAttempt]) -> list[Derived]:
    """Every event the store shows for ``run``, in time order, without ``run.finished``."""
    out: list[Derived] = []
    for index, (status, at) in enumerate(run.history or [["running", run.started_at or run.created_at]]):
        if status == "running":
            out.append(Derived(f"run:{index}", float(at), 0, RUN_STARTED, {"workflow": run.workflow, "at": at}))
        elif status == "paused":
            out.append(Derived(f"run:{index}", float(at), 4, RUN_PAUSED, {"workflow": run.workflow, "at": at}))
    last_start: dict[str, float] = {}
    for attempt in attempts:
        out += _attempt_events(attempt)
        last_start[attempt.task_id] = attempt.started_at
    for request in run.feedback:
        feedback_id, task_id = str(request.get("feedback_id")), request.get("task_id")
        at = last_start.get(str(task_id), run.updated_at)
        data = {"feedback_id": feedback_id, "task_id": task_id, "at": at}
        out.append(Derived(f"fb:{feedback_id}:q", at, 2, FEEDBACK_REQUESTED, data))
        if request.get("status") == "completed":
            out.append(Derived(f"fb:{feedback_id}:a", at, 3, FEEDBACK_ANSWERED, dict(data)))
    out.sort(key=lambda d: (d.at, d.rank))
    return out


def _attempt_events(attempt: TaskAttempt) -> list[Derived]:
    key, task_id, number = attempt.attempt_id, attempt.task_id, attempt.attempt
    base = {"task_id": task_id, "attempt": number}
    out = [Derived(f"{key}:s", attempt.started_at, 1, TASK_STARTED, {**base, "at": attempt.started_at})]
    end = attempt.ended_at if attempt.ended_at is not None else attempt.started_at
    if attempt.status == "completed":
        out.append(Derived(f"{key}:c", end, 2, TASK_COMPLETED, {**base, "at": end, "duration": attempt.duration}))
    elif attempt.status in ("failed", "retrying"):
        out.append(Derived(f"{key}:f", end, 2, TASK_FAILED, {
            **base, "at": end, "duration": attempt.duration, "error_type": attempt.error_type,
            "error_message": attempt.error_message,
        }))  # fmt: skip
        if attempt.status == "retrying":
            out.append(Derived(f"{key}:r", end, 3, TASK_RETRYING, {
                **base, "at": end, "next_attempt": number + 1, "delay": attempt.retry_delay,
            }))  # fmt: skip
    return out


def finished_data(run: RunRecord) -> dict[str, Any]:
    """The data of a run's ``run.finished`` event."""
    return {"status": run.status, "workflow": run.workflow, "at": run.ended_at or run.updated_at,
            "error_type": run.error_type, "error_message": run.error_message}


@dataclass
class StoreFollower:
    """Keeps a run's log in step with the store while streams read it.

    Args:
        log: The run's log (source ``store``).
        store: Where the run is recorded.
    """

    log: RunLog
    store: StoreHandle
    poll_seconds: float = POLL_SECONDS
    seen: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Start polling on the running loop unless it polls already (called by each new stream)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._follow())

    def catch_up(self, run: RunRecord, attempts: list[TaskAttempt], now: float | None = None) -> bool:
        """Append what the store shows and the log lacks; close the log when the run has ended.

        Returns:
            Whether the log is closed now.
        """
        log = self.log
        for derived in derive(run, attempts):
            if derived.key not in self.seen:
                self.seen.add(derived.key)
                log.append(derived.name, {**derived.data})
        if run.status in FINAL_RUN_STATUSES:
            waiting = any(a.ended_at is None for a in attempts)
            ended = run.ended_at or run.updated_at
            if not waiting or (time.time() if now is None else now) - ended >= FINAL_GRACE_SECONDS:
                log.finish(run.status, **{k: v for k, v in finished_data(run).items() if k != "status"})
        return log.closed

    async def _follow(self) -> None:
        log = self.log
        while log.source == "store" and not log.closed:
            try:
                snapshot = await anyio.to_thread.run_sync(self._read)
            except Exception as exc:  # the store may answer on the next poll
                logger.warning("Following run %s in the store failed: %s", log.run_id, exc)
                snapshot = None
            if snapshot is not None and log.source == "store":
                run, attempts = snapshot
                if run is None:
                    log.finish("unknown", detail="the run is no longer in the store")
                    break
                if self.catch_up(run, attempts):
                    break
            if not log.subscribers:
                break  # nobody reads: the next stream starts polling again
            await asyncio.sleep(self.poll_seconds)

    def _read(self) -> tuple[RunRecord | None, list[TaskAttempt]]:
        store = self.store.get()
        run = store.get_run(self.log.run_id)
        return run, (store.list_tasks(self.log.run_id) if run is not None else [])


__all__ = ["FINAL_GRACE_SECONDS", "POLL_SECONDS", "Derived", "StoreFollower", "derive", "finished_data"]
