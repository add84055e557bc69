"""The recorder's writer thread: turns engine events into run and attempt records and writes them in batches.

Each time it wakes the writer (1) samples the tasks running now in the contexts it records, (2) takes the queued
events (at most ``MAX_BATCH_EVENTS``; a longer backlog is taken in the cycles that follow at once), (3) updates
its records from them, then from the sample (an attempt still running is written as ``started``), (4) adds the
heartbeats that are due, (5) writes everything in one ``RunStore.apply``, (6) at most every ``CANCEL_POLL_SECONDS``
stops the runs whose cancel was requested (``graflow cancel``). A batch the store refuses is kept and retried on
the next wake; past the recorder's bound it is dropped and counted.

Attempts are matched by context and task id: a context runs one attempt of a task at a time, and an attempt's
end event carries its start (end minus duration, on the monotonic clock), which tells a finished attempt from a
retry that started after it.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from graflow.exceptions import RunPausedError
from graflow.runs import settings
from graflow.runs.models import RunRecord, TaskAttempt, WriteBatch, expires_at, parameters_of, preview

if TYPE_CHECKING:
    from graflow.runs.base import RunStore
    from graflow.runs.recorder import RunRecorder

logger = logging.getLogger(__name__)

# Event kinds: the first item of every queued tuple.
START, FINISH, ATTEMPT, RETRY, CHECKPOINT, FLUSH = range(6)
_ERROR_STATUSES = frozenset({"failed", "canceled"})


class FlushRequest:
    """A marker in the event queue: ``done`` is set once every event before it has been written (or not)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class _Active:
    """A run this process records, from its start event to its end event."""

    __slots__ = ("canceled", "context", "feedback_ids", "next_beat", "record")

    def __init__(self, record: RunRecord, context: Any, next_beat: float) -> None:
        self.record = record
        self.context = context
        self.next_beat = next_beat
        self.feedback_ids: dict[Any, str] = {}
        self.canceled = False


class Writer(threading.Thread):
    """The thread behind one :class:`~graflow.runs.recorder.RunRecorder`."""

    def __init__(self, recorder: RunRecorder, store: str | RunStore | None, events: deque[tuple[Any, ...]]) -> None:
        super().__init__(name="graflow-run-recorder", daemon=True)
        self.recorder = recorder
        self.wake = threading.Event()
        self.store: RunStore | None = None if store is None or isinstance(store, str) else store
        self._store_url = store if isinstance(store, str) or store is None else None
        self._events = events
        self._stopping = False
        self._interval = recorder.heartbeat_seconds
        self._tick = min(recorder.flush_seconds, self._interval / 2)
        prefix = uuid.uuid4().hex[:12]  # attempt ids: unique across processes, cheap within one
        self._ids = (f"{prefix}-{n}" for n in itertools.count(1))
        self._host = socket.gethostname()
        self._offset = time.time() - time.perf_counter()  # wall clock = monotonic clock + offset
        self._active: dict[str, _Active] = {}
        self._running: dict[tuple[int, str], tuple[TaskAttempt, float, Any]] = {}  # sampled, not ended yet
        self._next_attempt: dict[tuple[int, str], tuple[str, int]] = {}  # after a retry: (run id, number)
        self._failed: dict[int, TaskAttempt] = {}  # the last failed attempt per context (a retry event follows)
        self._failed_before: dict[int, TaskAttempt] = {}
        self._runs: dict[str, RunRecord] = {}  # pending writes
        self._attempts: dict[str, TaskAttempt] = {}
        self._beats: dict[str, tuple[float, float]] = {}
        self._counters = {"written_runs": 0, "written_attempts": 0, "dropped_records": 0, "store_errors": 0}
        self._last_error: str | None = None
        self._next_cancel_poll = 0.0

    def counters(self) -> dict[str, Any]:
        """What was written, dropped and refused so far."""
        return {**self._counters, "last_error": self._last_error}

    def stop(self, timeout: float | None) -> None:
        """Write what is queued, then end the thread (waiting at most ``timeout``) and close an opened store."""
        self._stopping = True
        self.wake.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        if self._store_url is not None and self.store is not None and not self.is_alive():
            self.store.close()

    # -- the loop ---------------------------------------------------------------------------------------------------
    def run(self) -> None:
        backlog = False
        while True:
            if not backlog:
                self.wake.wait(self._tick)
                self.wake.clear()
            stopping = self._stopping
            try:
                backlog = self.cycle()
            except Exception:  # the writer must outlive any surprise; the engine never sees it
                logger.exception("Run recorder: a write cycle failed")
                backlog = False
            if stopping and not backlog:
                return

    def cycle(self) -> bool:
        """One wake-up: sample, take up to one batch of events, update records, write.

        Returns:
            Whether more events are waiting and the store took this batch (the next cycle then starts at once).
            A backlog never holds up heartbeats: each cycle writes the ones that are due.
        """
        sample = self._sample()
        self._offset = time.time() - time.perf_counter()
        ended: dict[tuple[int, str], float] = {}
        flushes: list[FlushRequest] = []
        events = self._events
        queued = len(events)  # every event older than the sample is among these
        taken = min(queued, settings.MAX_BATCH_EVENTS)
        for _ in range(taken):
            event = events.popleft()
            if event[0] == FLUSH:
                flushes.append(event[1])
            else:
                self._handle(event, ended)
        if taken == queued:  # the sample is newer than every event handled: what it shows still runs
            self._sampled(sample, ended)
        self._heartbeats()
        ok = self._write()
        if self._active:
            self._poll_cancels()
        self._failed_before, self._failed = self._failed, {}
        for request in flushes:
            request.ok = ok
            request.done.set()
        return ok and bool(events)  # a store that refuses writes is not hammered: the next cycle waits

    def _handle(self, event: tuple[Any, ...], ended: dict[tuple[int, str], float]) -> None:
        kind = event[0]
        try:
            if kind == ATTEMPT:
                self._attempt_ended(*event[1:], ended=ended)
            elif kind == START:
                self._run_started(*event[1:])
            elif kind == FINISH:
                self._run_ended(*event[1:])
            elif kind == RETRY:
                self._retry(*event[1:])
            elif kind == CHECKPOINT:
                self._checkpoint(*event[1:])
        except Exception:
            logger.exception("Run recorder: could not record event %r", kind)

    # -- runs -------------------------------------------------------------------------------------------------------
    def _run_started(self, context: Any, workflow: str, at: float, seed: dict[str, Any]) -> None:
        run_id = context.session_id
        record = RunRecord(
            run_id, workflow, "created", created_at=at, started_at=at, heartbeat_at=at,
            expires_at=expires_at(at, self._interval), worker_id=self.recorder.worker_id, host=self._host,
            pid=os.getpid(), parameters=parameters_of(seed), history=[["created", at]],
        )
        previous = self._previous(run_id)
        if previous is not None:  # resumed: keep what the earlier part of the run recorded
            record.created_at, record.history = previous.created_at, list(previous.history)
            record.parameters = previous.parameters or record.parameters
            record.checkpoints = list(previous.checkpoints)
            record.spec, record.retry_of, record.invocation = previous.spec, previous.retry_of, previous.invocation
        for name, value in self.recorder.annotations(run_id).items():
            setattr(record, name, value)
        record.transition("running", at)
        self._active[run_id] = _Active(record, context, at + self._interval)
        self._runs[run_id] = record

    def _previous(self, run_id: str) -> RunRecord | None:
        active = self._active.get(run_id)
        if active is not None:
            return active.record
        store = self._open()
        try:
            return None if store is None else store.get_run(run_id)
        except Exception:  # recording goes on without the earlier history
            return None

    def _run_ended(self, context: Any, workflow: str, at: float, status: str, error: BaseException | None,
                   result: Any, checkpoint: str | None, feedback_ids: dict[Any, str]) -> None:
        run_id = context.session_id
        active = self._active.pop(run_id, None)
        if active is None:  # its start was dropped, or the recorder was added while it ran
            self._run_started(context, workflow, at, {})
            active = self._active.pop(run_id)
        record = active.record
        record.ended_at = at
        record.expires_at = None
        record.transition(status or "completed", at)
        if error is not None and status in _ERROR_STATUSES:
            record.error_type, record.error_message, record.traceback = _error_fields(error)
        record.result_preview = None if result is None else preview(result)
        if checkpoint and checkpoint not in record.checkpoints:
            record.checkpoints.append(checkpoint)
        if feedback_ids or record.feedback:
            record.feedback = _feedback(context, feedback_ids)
        self._runs[run_id] = record
        self._forget(run_id)
        self.recorder.forget_annotations(run_id)

    def _forget(self, run_id: str) -> None:
        """Drop the per-context state of a run that ended."""
        self._running = {k: v for k, v in self._running.items() if v[0].run_id != run_id}
        self._next_attempt = {k: v for k, v in self._next_attempt.items() if v[0] != run_id}

    def _checkpoint(self, context: Any, path: str) -> None:
        active = self._active.get(_run_id(context))
        if active is not None and path not in active.record.checkpoints:
            active.record.checkpoints.append(path)
            self._runs[active.record.run_id] = active.record

    def _heartbeats(self) -> None:
        now = time.time()
        for run_id, active in self._active.items():
            if now >= active.next_beat:
                active.next_beat = now + self._interval
                record = active.record
                record.heartbeat_at, record.expires_at = now, expires_at(now, self._interval)
                self._beats[run_id] = (now, record.expires_at)
            feedback_ids = active.context.feedback_ids
            if feedback_ids != active.feedback_ids:  # a task waits on a person (or stopped waiting)
                active.feedback_ids = dict(feedback_ids)
                active.record.feedback = _feedback(active.context, active.feedback_ids)
                self._runs[run_id] = active.record

    def _poll_cancels(self) -> None:
        """Stop the runs whose cancel was requested after their latest start (at most every CANCEL_POLL_SECONDS)."""
        now = time.monotonic()
        store = self._open() if now >= self._next_cancel_poll else None
        if store is None:
            return
        self._next_cancel_poll = now + settings.CANCEL_POLL_SECONDS
        try:
            requests = store.cancel_requests(list(self._active))
        except Exception as exc:  # the next poll tries again
            logger.debug("Run recorder: could not read cancel requests: %s", exc)
            return
        for run_id, request in requests.items():
            active = self._active.get(run_id)
            if active is None or active.canceled or request.requested_at < (active.record.started_at or 0.0):
                continue
            active.canceled = True
            logger.info("Run %s: cancel requested (%s); stopping at the next task boundary", run_id, request.reason)
            active.context.run.request_cancel(request.reason)

    # -- attempts ---------------------------------------------------------------------------------------------------
    def _attempt_ended(self, task: Any, context: Any, duration: float, error: BaseException | None, end: float,
                       *, ended: dict[tuple[int, str], float]) -> None:
        task_id = getattr(task, "task_id", None) or str(task)
        key = (id(context), task_id)
        start = end - duration
        number = self._next_attempt.pop(key, ("", 1))[1]
        sampled = self._running.pop(key, None)
        if sampled is not None and sampled[1] <= start:
            attempt = sampled[0]
        else:
            if sampled is not None:  # a later attempt was sampled already: keep it
                self._running[key] = sampled
            attempt = TaskAttempt(next(self._ids), _run_id(context), task_id, number,
                                  started_at=start + self._offset, worker_id=self.recorder.worker_id)
        attempt.ended_at = end + self._offset
        attempt.duration = duration
        if error is None:
            attempt.status = "completed"
            attempt.result_preview = _result_preview(context, task_id)
        else:
            attempt.status = "paused" if isinstance(error, RunPausedError) else "failed"
            attempt.error_type, attempt.error_message, attempt.traceback = _error_fields(error)
            self._failed[id(context)] = attempt
        ended[key] = start
        self._attempts[attempt.attempt_id] = attempt

    def _retry(self, task: Any, context: Any, retry: int, delay: float) -> None:
        task_id = getattr(task, "task_id", None) or str(task)
        attempt = self._failed.get(id(context)) or self._failed_before.get(id(context))
        if attempt is not None and attempt.task_id == task_id:
            attempt.status = "retrying"
            attempt.retry_delay = delay
            self._attempts[attempt.attempt_id] = attempt
        self._next_attempt[(id(context), task_id)] = (_run_id(context), retry + 1)

    def _sample(self) -> list[tuple[Any, str, float]]:
        """The task attempts running now in contexts this recorder listens to: (context, task id, start)."""
        from graflow.core.engine import running_contexts

        recorder = self.recorder
        sample: list[tuple[Any, str, float]] = []
        for context in running_contexts():
            if recorder in context.hooks:
                sample.extend((context, tctx.task_id, tctx._started) for tctx in list(context._task_stack))
        return sample

    def _sampled(self, sample: list[tuple[Any, str, float]], ended: dict[tuple[int, str], float]) -> None:
        """Record the sampled attempts that are still running and not recorded yet as ``started``."""
        for context, task_id, start in sample:
            key = (id(context), task_id)
            if key in self._running or ended.get(key, float("-inf")) >= start:
                continue
            number = self._next_attempt.get(key, ("", 1))[1]
            attempt = TaskAttempt(next(self._ids), _run_id(context), task_id, number,
                                  started_at=start + self._offset, worker_id=self.recorder.worker_id)
            self._running[key] = (attempt, start, context)
            self._attempts[attempt.attempt_id] = attempt

    # -- writing ----------------------------------------------------------------------------------------------------
    def _open(self) -> RunStore | None:
        if self.store is None:
            from graflow.runs.factory import open_run_store

            try:
                self.store = open_run_store(self._store_url)
            except Exception as exc:
                self._refused(exc)
        return self.store

    def _write(self) -> bool:
        """Write the pending records; True when nothing is left pending."""
        if not (self._runs or self._attempts or self._beats):
            return True
        store = self._open()
        if store is not None:
            batch = WriteBatch(list(self._runs.values()), list(self._attempts.values()),
                               [(run_id, at, exp) for run_id, (at, exp) in self._beats.items()])
            try:
                store.apply(batch)
            except Exception as exc:
                self._refused(exc)
            else:
                self._counters["written_runs"] += len(batch.runs)
                self._counters["written_attempts"] += len(batch.attempts)
                self._runs, self._attempts, self._beats = {}, {}, {}
                return True
        pending = len(self._runs) + len(self._attempts) + len(self._beats)
        if pending > self.recorder.max_queued:  # the store stays away: give up on these instead of growing
            self._counters["dropped_records"] += pending
            self._runs, self._attempts, self._beats = {}, {}, {}
        return False

    def _refused(self, exc: Exception) -> None:
        self._counters["store_errors"] += 1
        first = self._last_error is None
        self._last_error = f"{type(exc).__name__}: {exc}"
        if first or self._counters["store_errors"] % 100 == 0:
            logger.warning("Run recorder: the run store refused a write (%s); retrying, %d error(s) so far",
                           self._last_error, self._counters["store_errors"])


def _run_id(context: Any) -> str:
    """The id of the run a context belongs to: a parallel branch's is its root's."""
    while context.parent_context is not None:
        context = context.parent_context
    return str(context.session_id)


def _error_fields(error: BaseException) -> tuple[str, str, str]:
    text = "".join(traceback.format_exception(error))
    return type(error).__name__, str(error), text[-settings.MAX_TRACEBACK_CHARS:]


def _result_preview(context: Any, task_id: str) -> str | None:
    """A preview of a task's result, read from an in-process channel (another channel would cost a round trip)."""
    if context.channel_backend != "memory":
        return None
    try:
        value = context.get_result(task_id)
    except Exception:
        return None
    return None if value is None else preview(value)


def _feedback(context: Any, feedback_ids: dict[Any, str]) -> list[dict[str, Any]]:
    """The run's feedback requests, with their status when the run has a feedback manager."""
    manager = context.services.get("feedback_manager")
    out = []
    for key, feedback_id in feedback_ids.items():
        status = "pending"
        if manager is not None:
            try:
                request = manager.get_request(feedback_id)
                status = request.status if request is not None else "unknown"
            except Exception:
                status = "unknown"
        task_id = key[0] if isinstance(key, tuple) else str(key)
        out.append({"feedback_id": feedback_id, "task_id": task_id, "status": status})
    return out


__all__ = ["ATTEMPT", "CHECKPOINT", "FINISH", "FLUSH", "RETRY", "START", "FlushRequest", "Writer"]
