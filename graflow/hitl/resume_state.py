"""How the resumption of a paused run is recorded in the metadata of the feedback request it waited for.

A run paused by a feedback timeout (D23) leaves its checkpoint's location in the request (``checkpoint_path``, and
``working_dir`` when the path is relative). Once the request is answered, a resumer
(:class:`graflow.hitl.resumer.FeedbackResumer`) resumes the run. Several resumers may watch the same store (an API
server with several processes, a standalone ``graflow hitl resumer``), and any of them may die at any moment, so
each step is a compare-and-set on the request (``FeedbackBackend.transition`` with a function of the stored
request) and leaves a record:

``resume_state``
    absent: nobody has resumed the run yet;
    ``claimed``: a resumer owns it (``resumed_by``) until ``resume_lease_until`` (seconds since the epoch), a lease
    it renews while it works; an expired lease means the resumer died and another may take the claim over;
    ``running``: the run was loaded from its checkpoint and is executing (still under the lease);
    ``done``: the resumed run ended; ``resume_run_status`` is its status (``completed``, ``paused`` when it asked
    another question, whose request then carries the new checkpoint, ``terminated`` ...); final;
    ``failed``: the run could not be resumed or raised (``resume_error``); final.

Other keys: ``resume_attempts`` (claims so far), ``resume_claimed_at``, ``resume_started_at``,
``resume_finished_at`` (local ISO times), ``resume_checkpoint_path`` (the new checkpoint of a run that paused
again), and after a takeover ``resume_taken_over_from`` (the dead resumer) and ``resume_interrupted_at``.

The functions here are pure: they take the current time and return the change to apply (or None to refuse it), so
the policy is tested without a store and applied atomically by every backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graflow.hitl.types import COMPLETED, FeedbackRequest

RESUME_STATE = "resume_state"
CLAIMED = "claimed"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
#: States after which a request's run is never resumed again.
FINAL_STATES = frozenset({DONE, FAILED})

RESUMED_BY = "resumed_by"
LEASE_UNTIL = "resume_lease_until"
ATTEMPTS = "resume_attempts"
CLAIMED_AT = "resume_claimed_at"
STARTED_AT = "resume_started_at"
FINISHED_AT = "resume_finished_at"
RUN_STATUS = "resume_run_status"
NEXT_CHECKPOINT = "resume_checkpoint_path"
ERROR = "resume_error"
TAKEN_OVER_FROM = "resume_taken_over_from"
#: When a claim is taken over from a resumer that died while the run was executing: when that run had started.
INTERRUPTED_AT = "resume_interrupted_at"

#: The change a resume step applies to a request, or None to refuse it (see ``FeedbackBackend.transition``).
Step = Callable[[FeedbackRequest], dict[str, Any] | None]


@dataclass(frozen=True)
class ResumeOutcome:
    """How a resumption ended.

    Attributes:
        status: The resumed run's status (``completed``, ``paused``, ``terminated`` ...), or ``failed``.
        checkpoint_path: The new checkpoint when the resumed run paused again.
        error: Why the resumption failed (the run raised, or its checkpoint could not be loaded); None on success.
    """

    status: str
    checkpoint_path: str | None = None
    error: str | None = None


def paused_checkpoint(request: FeedbackRequest) -> str | None:
    """The checkpoint of the run paused on ``request``, resolved against the recorded ``working_dir``; or None."""
    path = request.metadata.get("checkpoint_path")
    if not isinstance(path, str) or not path:
        return None
    base = request.metadata.get("working_dir")
    if isinstance(base, str) and "://" not in path and not os.path.isabs(path):
        return os.path.join(base, path)
    return path


def lease_expired(request: FeedbackRequest, now: float) -> bool:
    """Whether the claim on ``request`` has lapsed (no lease recorded counts as lapsed)."""
    until = request.metadata.get(LEASE_UNTIL)
    return not isinstance(until, int | float) or until <= now


def needs_resume(request: FeedbackRequest, now: float) -> bool:
    """Whether ``request``'s paused run waits for a resumer: answered, checkpointed, never resumed to the end, and
    not held by a live claim."""
    if request.status != COMPLETED or paused_checkpoint(request) is None:
        return False
    state = request.metadata.get(RESUME_STATE)
    if state is None:
        return True
    return state in (CLAIMED, RUNNING) and lease_expired(request, now)


def claim(owner: str, now: float, lease: float, max_attempts: int) -> Step:
    """Claim a request whose run needs resuming (:func:`needs_resume`), or give up on it after ``max_attempts``
    claims whose resumers died.

    Taking over a claim whose resumer died while the run was executing records when that run started
    (``resume_interrupted_at``): the new resumer checks whether the run got further before resuming it again.
    """

    def step(request: FeedbackRequest) -> dict[str, Any] | None:
        if not needs_resume(request, now):
            return None
        meta = request.metadata
        attempts = int(meta.get(ATTEMPTS) or 0)
        update: dict[str, Any] = {TAKEN_OVER_FROM: None, INTERRUPTED_AT: None}
        if meta.get(RESUME_STATE) is not None:  # a lapsed claim: its resumer died
            update[TAKEN_OVER_FROM] = meta.get(RESUMED_BY)
            if meta.get(RESUME_STATE) == RUNNING:
                update[INTERRUPTED_AT] = meta.get(STARTED_AT)
        if attempts >= max_attempts:
            error = f"gave up after {attempts} attempt(s): the resumers died before the run's end was recorded"
            update.update({RESUME_STATE: FAILED, RUN_STATUS: None, ERROR: error, FINISHED_AT: _iso(now)})
            return _metadata(request, update)
        update.update({
            RESUME_STATE: CLAIMED,
            RESUMED_BY: owner,
            LEASE_UNTIL: now + lease,
            ATTEMPTS: attempts + 1,
            CLAIMED_AT: _iso(now),
            STARTED_AT: None,
            FINISHED_AT: None,
            RUN_STATUS: None,
            NEXT_CHECKPOINT: None,
            ERROR: None,
        })  # fmt: skip
        return _metadata(request, update)

    return step


def renew(owner: str, now: float, lease: float) -> Step:
    """Extend ``owner``'s live claim; refused when the claim is no longer ``owner``'s."""

    def step(request: FeedbackRequest) -> dict[str, Any] | None:
        if not _holds(request, owner, (CLAIMED, RUNNING)):
            return None
        return _metadata(request, {LEASE_UNTIL: now + lease})

    return step


def start(owner: str, now: float, lease: float) -> Step:
    """``claimed`` → ``running``: ``owner`` is about to load the checkpoint and execute the run."""

    def step(request: FeedbackRequest) -> dict[str, Any] | None:
        if not _holds(request, owner, (CLAIMED,)):
            return None
        return _metadata(request, {RESUME_STATE: RUNNING, STARTED_AT: _iso(now), LEASE_UNTIL: now + lease})

    return step


def finish(owner: str, now: float, outcome: ResumeOutcome) -> Step:
    """``claimed``/``running`` → ``done`` (the run ended with ``outcome.status``) or ``failed`` (``outcome.error``)."""

    def step(request: FeedbackRequest) -> dict[str, Any] | None:
        if not _holds(request, owner, (CLAIMED, RUNNING)):
            return None
        return _metadata(request, {
            RESUME_STATE: DONE if outcome.error is None else FAILED,
            RUN_STATUS: outcome.status,
            NEXT_CHECKPOINT: outcome.checkpoint_path,
            ERROR: outcome.error,
            FINISHED_AT: _iso(now),
        })  # fmt: skip

    return step


def _holds(request: FeedbackRequest, owner: str, states: tuple[str, ...]) -> bool:
    meta = request.metadata
    return request.status == COMPLETED and meta.get(RESUMED_BY) == owner and meta.get(RESUME_STATE) in states


def _metadata(request: FeedbackRequest, update: dict[str, Any]) -> dict[str, Any]:
    """The request's metadata with ``update`` applied; a None value removes its key."""
    merged = {**request.metadata, **update}
    return {"metadata": {key: value for key, value in merged.items() if key not in update or value is not None}}


def _iso(now: float) -> str:
    # Local time, like the requests' created_at.
    return datetime.fromtimestamp(now).isoformat()


__all__ = [
    "RESUME_STATE",
    "CLAIMED",
    "RUNNING",
    "DONE",
    "FAILED",
    "FINAL_STATES",
    "RESUMED_BY",
    "LEASE_UNTIL",
    "ATTEMPTS",
    "CLAIMED_AT",
    "STARTED_AT",
    "FINISHED_AT",
    "RUN_STATUS",
    "NEXT_CHECKPOINT",
    "ERROR",
    "TAKEN_OVER_FROM",
    "INTERRUPTED_AT",
    "ResumeOutcome",
    "Step",
    "paused_checkpoint",
    "lease_expired",
    "needs_resume",
    "claim",
    "renew",
    "start",
    "finish",
]
