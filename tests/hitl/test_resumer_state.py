"""The resume records' policy (graflow.hitl.resume_state), without a store: claims, leases, takeovers, final states."""

from __future__ import annotations

from typing import Any

import pytest

from graflow.hitl import resume_state as rs
from graflow.hitl.types import CANCELLED, COMPLETED, TIMEOUT, FeedbackRequest, FeedbackType

NOW = 1_000_000.0
LEASE = 30.0


def paused_request(status: str = COMPLETED, **metadata: Any) -> FeedbackRequest:
    return FeedbackRequest(
        feedback_id="fb-1",
        task_id="ask",
        session_id="run-1",
        feedback_type=FeedbackType.APPROVAL,
        prompt="Deploy?",
        status=status,
        metadata={"checkpoint_path": "checkpoints/run-1/ck.pkl", "working_dir": "/srv/app", **metadata},
    )


def apply(step: rs.Step, request: FeedbackRequest) -> FeedbackRequest | None:
    change = step(request)
    return None if change is None else request.model_copy(update=change)


def test_the_checkpoint_is_resolved_against_the_recorded_working_dir() -> None:
    assert rs.paused_checkpoint(paused_request()) == "/srv/app/checkpoints/run-1/ck.pkl"
    assert rs.paused_checkpoint(paused_request(checkpoint_path="/abs/ck.pkl")) == "/abs/ck.pkl"
    assert rs.paused_checkpoint(paused_request(checkpoint_path="redis://h:6379/0/ck")) == "redis://h:6379/0/ck"
    assert rs.paused_checkpoint(paused_request(checkpoint_path=None)) is None


@pytest.mark.parametrize("status", [TIMEOUT, CANCELLED, "pending"])
def test_only_answered_requests_need_resuming(status: str) -> None:
    assert not rs.needs_resume(paused_request(status), NOW)
    assert rs.needs_resume(paused_request(), NOW)


def test_a_request_without_checkpoint_never_needs_resuming() -> None:
    request = paused_request()
    request.metadata.pop("checkpoint_path")
    assert not rs.needs_resume(request, NOW)


def test_a_fresh_claim_records_owner_lease_and_attempt() -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    meta = claimed.metadata
    assert meta[rs.RESUME_STATE] == rs.CLAIMED and meta[rs.RESUMED_BY] == "a"
    assert meta[rs.LEASE_UNTIL] == NOW + LEASE and meta[rs.ATTEMPTS] == 1
    assert rs.TAKEN_OVER_FROM not in meta and rs.INTERRUPTED_AT not in meta  # nothing to report yet
    assert meta["checkpoint_path"] == "checkpoints/run-1/ck.pkl"  # the engine's records stay


def test_a_live_claim_cannot_be_claimed_again() -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    assert apply(rs.claim("b", NOW + LEASE - 1, LEASE, 3), claimed) is None
    assert apply(rs.claim("a", NOW + 1, LEASE, 3), claimed) is None  # not even by its owner


def test_a_lapsed_claim_is_taken_over_and_a_lapsed_run_remembers_when_it_started() -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    taken = apply(rs.claim("b", NOW + LEASE, LEASE, 3), claimed)
    assert taken is not None and taken.metadata[rs.RESUMED_BY] == "b"
    assert taken.metadata[rs.TAKEN_OVER_FROM] == "a" and rs.INTERRUPTED_AT not in taken.metadata
    assert taken.metadata[rs.ATTEMPTS] == 2
    running = apply(rs.start("b", NOW + LEASE + 1, LEASE), taken)
    assert running is not None and running.metadata[rs.RESUME_STATE] == rs.RUNNING
    again = apply(rs.claim("c", NOW + 3 * LEASE, LEASE, 3), running)
    assert again is not None
    assert again.metadata[rs.INTERRUPTED_AT] == running.metadata[rs.STARTED_AT]
    assert again.metadata[rs.TAKEN_OVER_FROM] == "b" and again.metadata[rs.ATTEMPTS] == 3
    assert rs.STARTED_AT not in again.metadata  # the new claim has not started yet


def test_after_max_attempts_a_lapsed_claim_is_given_up() -> None:
    request = paused_request(**{rs.RESUME_STATE: rs.RUNNING, rs.RESUMED_BY: "a", rs.ATTEMPTS: 3,
                                rs.LEASE_UNTIL: NOW - 1})  # fmt: skip
    given_up = apply(rs.claim("b", NOW, LEASE, 3), request)
    assert given_up is not None and given_up.metadata[rs.RESUME_STATE] == rs.FAILED
    assert "gave up after 3 attempt(s)" in given_up.metadata[rs.ERROR]
    assert not rs.needs_resume(given_up, NOW + 10 * LEASE)


def test_only_the_owner_renews_starts_and_finishes() -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    for step in (rs.renew("b", NOW, LEASE), rs.start("b", NOW, LEASE),
                 rs.finish("b", NOW, rs.ResumeOutcome("completed"))):  # fmt: skip
        assert apply(step, claimed) is None
    renewed = apply(rs.renew("a", NOW + 10, LEASE), claimed)
    assert renewed is not None and renewed.metadata[rs.LEASE_UNTIL] == NOW + 10 + LEASE


def test_a_claim_cannot_start_twice() -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    running = apply(rs.start("a", NOW, LEASE), claimed)
    assert running is not None
    assert apply(rs.start("a", NOW, LEASE), running) is None


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (rs.ResumeOutcome("completed"), rs.DONE),
        (rs.ResumeOutcome("paused", checkpoint_path="ck2.pkl"), rs.DONE),
        (rs.ResumeOutcome("failed", error="TaskFailedError: boom"), rs.FAILED),
    ],
)
def test_finishing_is_final(outcome: rs.ResumeOutcome, state: str) -> None:
    claimed = apply(rs.claim("a", NOW, LEASE, 3), paused_request())
    assert claimed is not None
    running = apply(rs.start("a", NOW, LEASE), claimed)
    assert running is not None
    finished = apply(rs.finish("a", NOW + 1, outcome), running)
    assert finished is not None
    meta = finished.metadata
    assert meta[rs.RESUME_STATE] == state and meta[rs.RUN_STATUS] == outcome.status
    assert meta.get(rs.NEXT_CHECKPOINT) == outcome.checkpoint_path and meta.get(rs.ERROR) == outcome.error
    assert rs.FINISHED_AT in meta
    # a final record is never resumed again, however old its lease, nor renewed
    assert not rs.needs_resume(finished, NOW + 100 * LEASE)
    assert apply(rs.claim("b", NOW + 100 * LEASE, LEASE, 3), finished) is None
    assert apply(rs.renew("a", NOW, LEASE), finished) is None
