"""``RunRecorder``: the engine hook that records runs and task attempts into a run store.

The engine's side of recording is one ``deque.append`` per event. A writer thread (:mod:`graflow.runs.writer`)
turns the events into records and writes them in batches: when it wakes (every ``FLUSH_SECONDS``), at a run's end,
on :meth:`RunRecorder.flush` and at interpreter exit. The engine never waits on the store: when the writer falls
behind (the store is down) events past ``max_queued`` are dropped and counted.

A run's record can carry fields the engine does not know (the workflow spec of a run started by ``graflow run``,
the run it retries): :meth:`RunRecorder.annotate` them before the run starts. The writer also watches the store for
cancel requests of the runs it records (``graflow cancel``) and stops those runs at their next task boundary.

Events listened to: the run's start and end, ``on_task_timed`` (the cheapest per-task event, called by position),
retries and checkpoints. A task attempt is recorded as ``started`` by the writer, which samples the tasks running
now each time it wakes, so the engine pays nothing when a task starts; an attempt shorter than that appears once
it has ended.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from graflow.core.hooks import EngineHook
from graflow.runs import settings
from graflow.runs.errors import RunStoreError
from graflow.runs.writer import ATTEMPT, CHECKPOINT, FINISH, FLUSH, RETRY, START, FlushRequest, Writer

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.runs.base import RunStore

_perf = time.perf_counter
#: Fields of a run record that :meth:`RunRecorder.annotate` may set.
ANNOTATED_FIELDS = frozenset({"spec", "retry_of", "invocation"})
_live: weakref.WeakSet[RunRecorder] = weakref.WeakSet()


class RunRecorder(EngineHook):
    """Records every run and task attempt it sees into a run store, from a writer thread of its own.

    Add it to a workflow (``workflow(name, run_store=...)`` does, as does ``GRAFLOW_RUN_STORE``) or to a worker's
    hooks. One recorder serves any number of runs, in any threads.

    Args:
        store: A run store, or a URL for :func:`~graflow.runs.open_run_store` (opened by the writer thread on first
            use, so a store that is down never delays a run). None: ``GRAFLOW_RUN_STORE`` or the default SQLite
            file.
        worker_id: Written on the runs and attempts this process records (a worker's id).
        heartbeat_seconds: Heartbeat interval of running runs (``GRAFLOW_RUN_HEARTBEAT_SECONDS``, default 10).
        flush_seconds: How often the writer wakes to write what is queued.
        max_queued: Events that may wait for the writer; more are dropped and counted in :meth:`stats`.
    """

    def __init__(
        self,
        store: str | RunStore | None = None,
        *,
        worker_id: str | None = None,
        heartbeat_seconds: float | None = None,
        flush_seconds: float = settings.FLUSH_SECONDS,
        max_queued: int = settings.MAX_QUEUED_EVENTS,
    ) -> None:
        self.worker_id = worker_id
        self.heartbeat_seconds = settings.heartbeat_seconds() if heartbeat_seconds is None else heartbeat_seconds
        self.flush_seconds = flush_seconds
        self.max_queued = max_queued
        self.closed = False
        self._store_spec = store
        self._events: deque[tuple[Any, ...]] = deque()
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._annotations: dict[str, dict[str, Any]] = {}
        self._writer = self._start_writer()
        _live.add(self)

    def _start_writer(self) -> Writer:
        writer = Writer(self, self._store_spec, self._events)
        writer.start()
        return writer

    @property
    def store(self) -> RunStore | None:
        """The store, once the writer has opened it."""
        return self._writer.store

    # -- events (the engine's thread) -------------------------------------------------------------------------------
    def _put(self, event: tuple[Any, ...]) -> None:
        events = self._events
        if len(events) < self.max_queued:
            events.append(event)
        else:
            with self._drop_lock:
                self._dropped += 1

    def on_workflow_start(self, *, workflow_name: str, context: ExecutionContext) -> None:
        self._put((START, context, workflow_name, time.time(), _seed(context)))

    def on_workflow_end(self, *, workflow_name: str, context: ExecutionContext, result: Any = None) -> None:
        self._put((FINISH, context, workflow_name, time.time(), context.status, context.error, result,
                   context.last_checkpoint_path, dict(context.feedback_ids)))
        self._writer.wake.set()  # a run's end is written at once, not at the next tick

    def on_task_timed(
        self, task: Any, context: ExecutionContext, duration: float, error: BaseException | None = None
    ) -> None:
        # The hot path: one call per task attempt, by position. Everything else happens on the writer thread.
        events = self._events
        if len(events) < self.max_queued:
            events.append((ATTEMPT, task, context, duration, error, _perf()))
        else:
            with self._drop_lock:
                self._dropped += 1

    def on_task_retry(
        self, *, task: Any, context: ExecutionContext, attempt: int, delay: float, error: BaseException
    ) -> None:
        self._put((RETRY, task, context, attempt, delay))

    def on_checkpoint(self, *, context: ExecutionContext, path: str, duration: float) -> None:
        self._put((CHECKPOINT, context, path))

    # -- annotations ------------------------------------------------------------------------------------------------
    def annotate(self, run_id: str, **fields: Any) -> None:
        """Write ``fields`` on the record of run ``run_id`` (a context's ``session_id``) when it starts.

        Args:
            run_id: The run's id; call this before the run starts.
            **fields: ``spec``, ``retry_of`` and/or ``invocation`` (see :class:`~graflow.runs.RunRecord`).

        Raises:
            RunStoreError: A field that cannot be annotated.
        """
        unknown = sorted(set(fields) - ANNOTATED_FIELDS)
        if unknown:
            raise RunStoreError(f"Cannot annotate a run with {', '.join(map(repr, unknown))}; "
                                f"only {', '.join(sorted(ANNOTATED_FIELDS))}")
        self._annotations[run_id] = {**self._annotations.get(run_id, {}), **fields}

    def annotations(self, run_id: str) -> dict[str, Any]:
        """The fields :meth:`annotate` gave run ``run_id`` (empty when none)."""
        return dict(self._annotations.get(run_id) or {})

    def forget_annotations(self, run_id: str) -> None:
        """Drop the annotations of a run that ended."""
        self._annotations.pop(run_id, None)

    # -- control ----------------------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything queued so far has been written.

        Returns:
            True when it was written; False when the store failed (the records stay queued and are retried), or
            ``timeout`` passed first.
        """
        if self.closed or not self._writer.is_alive():
            return not self._events
        request = FlushRequest()
        self._events.append((FLUSH, request))  # past the bound on purpose: a flush must be answered
        self._writer.wake.set()
        return request.done.wait(timeout) and request.ok

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), stop the writer and close a store it
        opened from a URL."""
        if self.closed:
            return
        self.closed = True
        _live.discard(self)
        self._writer.stop(timeout)

    def stats(self) -> dict[str, Any]:
        """Counters: ``queued`` events, ``dropped_events`` (queue full), ``dropped_records`` (given up after store
        errors), ``written_runs``, ``written_attempts``, ``store_errors`` and ``last_error``."""
        return {"queued": len(self._events), "dropped_events": self._dropped, **self._writer.counters()}

    def _after_fork(self) -> None:
        # The writer thread is not copied into a child process: start one, without the parent's queued events.
        self._events.clear()
        self._dropped = 0
        self._drop_lock = threading.Lock()
        self._writer = self._start_writer()

    def __repr__(self) -> str:
        return f"RunRecorder(store={self._store_spec!r}, worker_id={self.worker_id!r})"


def _seed(context: ExecutionContext) -> dict[str, Any]:
    """The channel keys set before the run's first task (its parameters): taken at the start, bounded."""
    from graflow.core.results import task_id_of

    try:
        channel = context.channel
        listed = channel.keys()
        keys = [key for key in listed if task_id_of(key) is None][: settings.MAX_PARAMETERS]
        return {key: channel.get(key) for key in keys}
    except Exception:  # a channel that cannot list its keys records no parameters, and the run goes on
        return {}


def _close_all() -> None:
    deadline = time.monotonic() + settings.EXIT_FLUSH_SECONDS
    for recorder in list(_live):
        recorder.close(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    for recorder in list(_live):
        recorder._after_fork()


atexit.register(_close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["RunRecorder"]
