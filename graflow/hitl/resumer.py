"""Resume paused runs when their question is answered.

A feedback request that times out inside a workflow pauses the run (D23) and records the checkpoint in the
request. :class:`FeedbackResumer` watches a feedback store for such requests once they are answered and resumes
their runs: it loads the checkpoint (``CheckpointManager.resume_from_checkpoint``), gives the run a feedback manager
on the same store, and executes it; the waiting task gets the stored answer at once. If the run asks another
question that times out, it pauses again, the new request carries the new checkpoint, and the cycle repeats.

Each run is resumed on a thread of its own (at most ``max_concurrent`` at a time), so a long run does not hold up
the others; the resumer's own thread only finds work, claims it and renews leases. Wake-ups are event-driven where
the backend allows: Redis pub/sub announces every answer (``<prefix>:<id>``) to every process; the filesystem
announces answers given in the same process (the API server that runs the resumer), and the resumer reads the
folder every ``poll_interval`` seconds for the rest.

Crash safety comes from the records kept in the request (:mod:`graflow.hitl.resume_state`): a resumer claims a
request atomically before resuming it, so of several resumers exactly one wins; it renews the claim's lease while
the run goes on; a claim whose lease lapsed (its resumer died) is taken over; ``done`` and ``failed`` are final.
The answer itself is stored before any of this happens and is never touched. A resumer that died while the run was
executing leaves that run's tasks after the checkpoint to run again when the claim is taken over (at least once,
as with any resume from a checkpoint) unless the run had already paused on a new question, which is detected.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime

from graflow.exceptions import ConfigError, GraflowRuntimeError
from graflow.hitl import resume_state as rs
from graflow.hitl.backend.base import FeedbackBackend
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.resume_state import ResumeOutcome
from graflow.hitl.types import COMPLETED, FeedbackRequest

logger = logging.getLogger(__name__)

#: Seconds between full reads of the store (a safety net where notifications arrive).
DEFAULT_POLL_INTERVAL = 2.0
#: Seconds a claim stays valid without renewal; renewed every third of it. It must exceed the clock skew between
#: the hosts of the resumers.
DEFAULT_LEASE = 30.0
#: Runs resumed at the same time by one resumer.
DEFAULT_MAX_CONCURRENT = 4
#: Claims of one request (each by a resumer that then died) before it is marked failed.
DEFAULT_MAX_ATTEMPTS = 3
#: Most requests read by one full scan of the store.
SCAN_LIMIT = sys.maxsize

#: Resumes the run paused on a request, with a manager on the store the request lives in.
ResumeFunction = Callable[[FeedbackRequest, FeedbackManager], ResumeOutcome]
#: Told of each step of a resumption: ``claimed``, ``running``, ``executed``, ``recorded``.
StepObserver = Callable[[str, FeedbackRequest], None]


def resume_locally(request: FeedbackRequest, manager: FeedbackManager) -> ResumeOutcome:
    """Resume the run paused on ``request`` in this process and execute it to its end (or its next pause).

    The run's feedback requests go to ``manager`` (the store the answer is in), whichever store the run used before.

    Raises:
        CheckpointError: The checkpoint is missing, torn or tampered with.
        GraflowError: The resumed run failed.
    """
    from graflow.core.checkpoint import CheckpointManager
    from graflow.exceptions import CheckpointError

    path = rs.paused_checkpoint(request)
    if path is None:
        raise CheckpointError("missing", f"feedback {request.feedback_id} records no checkpoint")
    context, _ = CheckpointManager.resume_from_checkpoint(path)
    context.feedback_manager = manager
    context.execute()
    status = str(context.status)
    if status != "paused" or not context.last_checkpoint_path:
        return ResumeOutcome(status)
    again = str(context.last_checkpoint_path)
    return ResumeOutcome(status, again if "://" in again else os.path.abspath(again))


class FeedbackResumer:
    """Watches a feedback store and resumes the runs paused on requests that got answered.

    Args:
        manager_or_backend: The store: a :class:`FeedbackManager` or a :class:`FeedbackBackend`.
        poll_interval: Seconds between full reads of the store.
        resume: Resumes one run (default :func:`resume_locally`); its exceptions mark the resumption failed.
        lease: Seconds a claim stays valid without renewal.
        max_concurrent: Runs resumed at the same time.
        max_attempts: Claims of one request before it is given up (see :func:`graflow.hitl.resume_state.claim`).
        name: This resumer's name in the records (default ``<host>:<pid>:<random>``); unique per resumer.
        on_step: Told of each step of each resumption, on the resumption's thread (for logs, metrics and tests).

    Raises:
        ConfigError: A setting is out of range.
    """

    def __init__(
        self,
        manager_or_backend: FeedbackManager | FeedbackBackend,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        resume: ResumeFunction = resume_locally,
        lease: float = DEFAULT_LEASE,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        name: str | None = None,
        on_step: StepObserver | None = None,
    ) -> None:
        if not (poll_interval > 0 and lease > 0 and max_concurrent >= 1 and max_attempts >= 1):
            raise ConfigError(
                "FeedbackResumer: poll_interval and lease must be positive, max_concurrent and max_attempts at least "
                f"1 (got {poll_interval}, {lease}, {max_concurrent}, {max_attempts})"
            )
        manager = manager_or_backend
        self.manager = manager if isinstance(manager, FeedbackManager) else FeedbackManager(manager)
        self.backend = self.manager.backend
        self.poll_interval = float(poll_interval)
        self.lease = float(lease)
        self.max_concurrent = max_concurrent
        self.max_attempts = max_attempts
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._resume = resume
        self._on_step = on_step
        self._lock = threading.Lock()
        self._active: dict[str, threading.Thread] = {}
        self._notified: set[str] = set()
        self._rescan = True
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> FeedbackResumer:
        """Start watching on a background thread; returns self.

        Raises:
            GraflowRuntimeError: It was started before.
        """
        if self._thread is not None:
            raise GraflowRuntimeError(f"FeedbackResumer {self.name} was already started")
        self._stopping.clear()
        self.backend.start_watcher(self._notify)
        self._thread = threading.Thread(target=self._loop, name="graflow-feedback-resumer", daemon=True)
        self._thread.start()
        logger.info("Feedback resumer %s watching %s", self.name, type(self.backend).__name__)
        return self

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop watching and wait up to ``timeout`` seconds for the runs being resumed.

        A run still going when the time is up keeps going on its thread; if the process ends first, its claim lapses
        and another resumer takes it over.

        Returns:
            True when no resumption is still running.
        """
        self._stopping.set()
        self._wake.set()
        self.backend.stop_watcher(self._notify)
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(_remaining(deadline))
            self._thread = None
        for thread in self._threads():
            thread.join(_remaining(deadline))
        return not self.active()

    def __enter__(self) -> FeedbackResumer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wake(self) -> None:
        """Read the whole store now instead of at the next poll."""
        with self._lock:
            self._rescan = True
        self._wake.set()

    def active(self) -> list[str]:
        """Ids of the requests whose runs this resumer is resuming now."""
        with self._lock:
            return list(self._active)

    # -- one pass, for a resumer that was not started --------------------------------------------------------------
    def run_once(self, timeout: float | None = None) -> list[FeedbackRequest]:
        """Resume every run that waits now, wait for them (renewing their leases), and return their final records.

        Runs that wait for a free slot (more than ``max_concurrent``) are taken as slots free up. Do not call it on a
        started resumer.

        Args:
            timeout: Seconds to wait at most; runs still going then are left to their threads.

        Returns:
            The records of the requests whose runs this call resumed (or gave up on), as the store holds them now.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._stopping.clear()
        seen: set[str] = set()
        next_renewal = time.monotonic() + self.lease / 3
        while True:
            self._wake.clear()
            started = self._dispatch(self._candidates(None, exclude=seen))
            seen.update(started)
            if not self.active():
                if started:
                    continue  # those ended already; candidates left over for want of a slot may remain
                break
            now = time.monotonic()
            if now >= next_renewal:
                self._renew_leases()
                next_renewal = now + self.lease / 3
            wait = next_renewal - now if deadline is None else min(next_renewal - now, deadline - now)
            if wait <= 0:
                break
            self._wake.wait(wait)
        records = [self.backend.get_request(feedback_id) for feedback_id in sorted(seen)]
        return [record for record in records if record is not None]

    # -- the watching thread ---------------------------------------------------------------------------------------
    def _notify(self, feedback_id: str) -> None:
        with self._lock:
            self._notified.add(feedback_id)
        self._wake.set()

    def _loop(self) -> None:
        next_scan = next_renewal = time.monotonic()
        while not self._stopping.is_set():
            self._wake.clear()  # before reading, so a notification that arrives meanwhile is not lost
            now = time.monotonic()
            try:
                with self._lock:
                    scan, self._rescan = self._rescan or now >= next_scan, False
                    notified, self._notified = self._notified, set()
                if scan:
                    next_scan = now + self.poll_interval
                self._dispatch(self._candidates(None if scan else notified))
                if now >= next_renewal:
                    self._renew_leases()
                    next_renewal = now + self.lease / 3
            except Exception:  # a store that fails now may answer on the next pass; never stop watching
                logger.exception("Feedback resumer %s: a pass over the store failed", self.name)
            self._wake.wait(max(0.0, min(next_scan, next_renewal) - time.monotonic()))

    def _candidates(self, ids: set[str] | None, exclude: set[str] | None = None) -> list[FeedbackRequest]:
        """Requests whose runs wait for a resumer: all of the store (``ids`` None) or the given ones; oldest first."""
        if ids is None:
            found = list(reversed(self.backend.list_requests(None, SCAN_LIMIT)))
        else:
            found = [r for r in map(self.backend.get_request, sorted(ids)) if r is not None]
        now = time.time()
        active = set(self.active())
        skip = active | (exclude or set())
        return [r for r in found if r.feedback_id not in skip and rs.needs_resume(r, now)]

    def _dispatch(self, candidates: list[FeedbackRequest]) -> list[str]:
        """Claim candidates while slots are free and resume each claimed one on its own thread; returns their ids."""
        started: list[str] = []
        for request in candidates:
            if self._stopping.is_set():
                break
            if len(self.active()) >= self.max_concurrent:
                with self._lock:
                    self._rescan = True  # the rest waits for a free slot
                break
            step = rs.claim(self.name, time.time(), self.lease, self.max_attempts)
            claimed = self.backend.transition(request.feedback_id, {COMPLETED}, None, changes=step)
            if claimed is None:
                continue  # another resumer was first, or the run no longer waits
            if claimed.metadata.get(rs.RESUME_STATE) == rs.FAILED:
                logger.error("Feedback %s: %s", claimed.feedback_id, claimed.metadata.get(rs.ERROR))
                started.append(claimed.feedback_id)
                continue
            thread = threading.Thread(
                target=self._run, args=(claimed,), name=f"graflow-resume-{claimed.feedback_id}", daemon=True
            )
            with self._lock:
                self._active[claimed.feedback_id] = thread
            started.append(claimed.feedback_id)
            thread.start()
        return started

    def _renew_leases(self) -> None:
        for feedback_id in self.active():
            step = rs.renew(self.name, time.time(), self.lease)
            if self.backend.transition(feedback_id, {COMPLETED}, None, changes=step) is None:
                logger.error("Feedback %s: this resumer's claim was lost (its lease lapsed)", feedback_id)

    # -- one resumption, on its own thread -------------------------------------------------------------------------
    def _run(self, request: FeedbackRequest) -> None:
        feedback_id = request.feedback_id
        final: FeedbackRequest | None = None
        try:
            self._observe("claimed", request)
            outcome = self._moved_on(request)
            if outcome is None:
                step = rs.start(self.name, time.time(), self.lease)
                running = self.backend.transition(feedback_id, {COMPLETED}, None, changes=step)
                if running is None:
                    logger.error("Feedback %s: the claim was lost before the run started; not resuming", feedback_id)
                    return
                self._observe("running", running)
                logger.info("Feedback %s answered: resuming run %s", feedback_id, running.session_id)
                outcome = self._execute(running)
                self._observe("executed", running)
            final = self.backend.transition(
                feedback_id, {COMPLETED}, None, changes=rs.finish(self.name, time.time(), outcome)
            )
            if final is None:
                logger.error("Feedback %s: the claim was lost before the run's end was recorded", feedback_id)
                return
            logger.info("Feedback %s: resumed run %s ended %s", feedback_id, final.session_id, outcome.status)
            self._observe("recorded", final)
        finally:
            with self._lock:
                self._active.pop(feedback_id, None)
                self._rescan = True
            self._wake.set()

    def _execute(self, request: FeedbackRequest) -> ResumeOutcome:
        try:
            return self._resume(request, self.manager)
        except Exception as exc:
            logger.exception("Feedback %s: resuming run %s failed", request.feedback_id, request.session_id)
            return ResumeOutcome("failed", error=f"{type(exc).__name__}: {exc}")

    def _moved_on(self, request: FeedbackRequest) -> ResumeOutcome | None:
        """After taking over from a resumer that died while the run executed: the outcome if that run had already
        paused on a new question (a request of the same session, created since, that records a checkpoint)."""
        interrupted = request.metadata.get(rs.INTERRUPTED_AT)
        if not isinstance(interrupted, str):
            return None
        since = _timestamp(interrupted)
        later = [
            r
            for r in self.backend.list_requests(request.session_id, SCAN_LIMIT)
            if r.feedback_id != request.feedback_id
            and rs.paused_checkpoint(r) is not None
            and _timestamp(r.created_at) >= since
        ]
        if not later:
            return None
        newest = max(later, key=lambda r: _timestamp(r.created_at))
        logger.info(
            "Feedback %s: the interrupted run had paused again (on %s)", request.feedback_id, newest.feedback_id
        )
        return ResumeOutcome("paused", rs.paused_checkpoint(newest))

    def _observe(self, step: str, request: FeedbackRequest) -> None:
        if self._on_step is None:
            return
        try:
            self._on_step(step, request)
        except Exception:
            logger.exception("Feedback resumer %s: the step observer failed at %s", self.name, step)

    def _threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._active.values())


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _timestamp(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return float("-inf")


__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_POLL_INTERVAL",
    "FeedbackResumer",
    "ResumeFunction",
    "ResumeOutcome",
    "StepObserver",
    "resume_locally",
]
