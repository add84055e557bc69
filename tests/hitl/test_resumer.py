"""FeedbackResumer in one process: an answer resumes the paused run once, on both backends; races, leases and
takeovers, runs that pause again, failures, and the API server that resumes by default."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.exceptions import ConfigError
from graflow.hitl import resume_state as rs
from graflow.hitl.manager import FeedbackManager
from graflow.hitl.resumer import FeedbackResumer, ResumeOutcome, resume_locally
from graflow.hitl.types import FeedbackRequest, FeedbackResponse
from tests.hitl.conftest import BackendFactory

#: Deadline of every wait for a resumption, in seconds.
WAIT = 30.0


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # checkpoints/ go here
    return tmp_path


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    return tmp_path / "effects.txt"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def pause_a_run(manager: FeedbackManager, effects: Path, *, questions: int = 1, fail: bool = False) -> FeedbackRequest:
    """Run a workflow whose first task asks (and times out at once); returns the request the run paused on."""
    with workflow("resume-me") as wf:

        @task(inject_context=True)
        def ask(ctx: Any) -> bool:
            ok = ctx.request_approval("Deploy?", timeout=0.05)
            with open(effects, "a") as out:
                out.write(f"ask {ok}\n")
            if questions > 1:
                name = ctx.request_text_input("Release name?", timeout=0.05)
                with open(effects, "a") as out:
                    out.write(f"named {name}\n")
            if fail:
                raise RuntimeError("the deploy broke")
            return bool(ok)

        @task
        def after(ask: bool) -> str:
            with open(effects, "a") as out:
                out.write("after\n")
            return "done"

        ask >> after
        ctx = wf.create_context("ask")
    ctx.feedback_manager = manager
    assert ctx.execute() is None and ctx.status == "paused"
    return newest_paused(manager, ctx.session_id)


def newest_paused(manager: FeedbackManager, session_id: str) -> FeedbackRequest:
    paused = [r for r in manager.list_requests(session_id) if "checkpoint_path" in r.metadata]
    return paused[0]


def answer(manager: FeedbackManager, request: FeedbackRequest, **fields: Any) -> None:
    response = FeedbackResponse(feedback_id=request.feedback_id, response_type=request.feedback_type, **fields)
    assert manager.provide_feedback(request.feedback_id, response)


class Steps:
    """Collects the resumer's steps; ``wait`` returns the record of a step of one request, or fails at the deadline."""

    def __init__(self) -> None:
        self.seen: queue.Queue[tuple[str, FeedbackRequest]] = queue.Queue()

    def __call__(self, step: str, request: FeedbackRequest) -> None:
        self.seen.put((step, request))

    def wait(self, step: str, feedback_id: str) -> FeedbackRequest:
        deadline = time.monotonic() + WAIT
        while (remaining := deadline - time.monotonic()) > 0:
            seen, request = self.seen.get(timeout=remaining)
            if seen == step and request.feedback_id == feedback_id:
                return request
        raise AssertionError(f"no {step!r} step for {feedback_id} within {WAIT}s")


@pytest.fixture
def running_resumer(make_backend: BackendFactory) -> Iterator[Callable[..., tuple[FeedbackResumer, Steps]]]:
    started: list[FeedbackResumer] = []

    def start(**options: Any) -> tuple[FeedbackResumer, Steps]:
        steps = Steps()
        resumer = FeedbackResumer(make_backend(), on_step=steps, **{"poll_interval": 0.05, **options})
        started.append(resumer.start())
        return resumer, steps

    yield start
    for resumer in started:
        resumer.stop()


def test_an_answer_resumes_the_paused_run_once_and_records_it(
    manager: FeedbackManager, responder: FeedbackManager, running_resumer: Any, effects: Path
) -> None:
    request = pause_a_run(manager, effects)
    resumer, steps = running_resumer(name="r1")
    answer(responder, request, approved=True)
    record = steps.wait("recorded", request.feedback_id)
    assert lines(effects) == ["ask True", "after"]
    meta = record.metadata
    assert meta[rs.RESUME_STATE] == rs.DONE and meta[rs.RUN_STATUS] == "completed"
    assert meta[rs.RESUMED_BY] == "r1" and meta[rs.ATTEMPTS] == 1
    assert meta[rs.CLAIMED_AT] <= meta[rs.STARTED_AT] <= meta[rs.FINISHED_AT]
    assert manager.get_request(request.feedback_id) == record  # what the store holds
    assert manager.get_response(request.feedback_id) is not None  # the answer is kept
    # a done resumption is never repeated, by this resumer or another
    assert FeedbackResumer(manager).run_once() == []
    resumer.wake()
    assert resumer.active() == [] and lines(effects) == ["ask True", "after"]


def test_the_resumer_wakes_on_the_answer_without_waiting_for_its_poll(
    make_backend: BackendFactory, manager: FeedbackManager, effects: Path
) -> None:
    scanned = threading.Event()

    class Watching(FeedbackResumer):
        def _candidates(self, ids: set[str] | None, exclude: set[str] | None = None) -> list[FeedbackRequest]:
            found = super()._candidates(ids, exclude)
            scanned.set()
            return found

    request = pause_a_run(manager, effects)
    steps = Steps()
    resumer = Watching(make_backend(), poll_interval=3600, on_step=steps).start()
    try:
        assert scanned.wait(WAIT)  # the first full read found nothing to do; the next is an hour away
        answered = time.monotonic()
        answer(manager, request, approved=True)
        steps.wait("recorded", request.feedback_id)
        assert time.monotonic() - answered < 5.0
    finally:
        resumer.stop()
    assert lines(effects) == ["ask True", "after"]


def test_a_run_that_asks_again_pauses_again_and_the_next_answer_resumes_it(
    manager: FeedbackManager, running_resumer: Any, effects: Path
) -> None:
    first = pause_a_run(manager, effects, questions=2)
    _, steps = running_resumer()
    answer(manager, first, approved=True)
    record = steps.wait("recorded", first.feedback_id)
    second = newest_paused(manager, first.session_id)
    assert second.feedback_id != first.feedback_id and second.prompt == "Release name?"
    assert record.metadata[rs.RUN_STATUS] == "paused"
    assert record.metadata[rs.NEXT_CHECKPOINT] == rs.paused_checkpoint(second)
    assert lines(effects) == ["ask True"]
    answer(manager, second, text="v2")
    final = steps.wait("recorded", second.feedback_id)
    assert final.metadata[rs.RUN_STATUS] == "completed"
    assert lines(effects) == ["ask True", "ask True", "named v2", "after"]  # the task re-ran from its start


def test_a_run_that_fails_after_resuming_is_recorded_failed_and_not_retried(
    manager: FeedbackManager, running_resumer: Any, effects: Path
) -> None:
    request = pause_a_run(manager, effects, fail=True)
    resumer, steps = running_resumer()
    answer(manager, request, approved=True)
    record = steps.wait("recorded", request.feedback_id)
    assert record.metadata[rs.RESUME_STATE] == rs.FAILED
    assert "the deploy broke" in record.metadata[rs.ERROR]
    resumer.stop()
    assert FeedbackResumer(manager).run_once() == []
    assert lines(effects) == ["ask True"]


def test_a_missing_checkpoint_fails_the_resumption_with_its_reason(manager: FeedbackManager, effects: Path) -> None:
    request = pause_a_run(manager, effects)
    path = rs.paused_checkpoint(request)
    assert path is not None
    Path(path).unlink()
    answer(manager, request, approved=True)
    [record] = FeedbackResumer(manager).run_once(timeout=WAIT)
    assert record.metadata[rs.RESUME_STATE] == rs.FAILED and "CheckpointError" in record.metadata[rs.ERROR]


def test_two_resumers_racing_resume_each_run_exactly_once(
    make_backend: BackendFactory, manager: FeedbackManager, effects: Path
) -> None:
    requests = [pause_a_run(manager, effects) for _ in range(4)]
    for request in requests:
        answer(manager, request, approved=True)
    assert lines(effects) == []  # nothing ran past the question yet
    gate = threading.Barrier(2)
    results: dict[str, list[FeedbackRequest]] = {}

    def race(name: str) -> None:
        resumer = FeedbackResumer(make_backend(), name=name, max_concurrent=8)
        gate.wait(WAIT)
        results[name] = resumer.run_once(timeout=WAIT)

    threads = [threading.Thread(target=race, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    resumed = [r.feedback_id for name in ("left", "right") for r in results[name]]
    assert sorted(resumed) == sorted(r.feedback_id for r in requests)  # each once, by one of them
    assert lines(effects).count("after") == 4
    for request in requests:
        stored = manager.get_request(request.feedback_id)
        assert stored is not None and stored.metadata[rs.ATTEMPTS] == 1


def claim_as(manager: FeedbackManager, request: FeedbackRequest, owner: str, *, lease: float, now: float) -> None:
    step = rs.claim(owner, now, lease, 3)
    assert manager.backend.transition(request.feedback_id, {"completed"}, None, changes=step) is not None


def test_a_claim_whose_lease_lapsed_is_taken_over(
    manager: FeedbackManager, running_resumer: Any, effects: Path
) -> None:
    request = pause_a_run(manager, effects)
    answer(manager, request, approved=True)
    claim_as(manager, request, "dead", lease=1.0, now=time.time() - 10)  # its resumer died long ago
    _, steps = running_resumer(name="heir")
    record = steps.wait("recorded", request.feedback_id)
    assert record.metadata[rs.TAKEN_OVER_FROM] == "dead" and record.metadata[rs.RESUMED_BY] == "heir"
    assert record.metadata[rs.ATTEMPTS] == 2
    assert lines(effects) == ["ask True", "after"]


def test_a_live_claim_is_left_to_its_owner(manager: FeedbackManager, effects: Path) -> None:
    request = pause_a_run(manager, effects)
    answer(manager, request, approved=True)
    claim_as(manager, request, "alive", lease=3600, now=time.time())
    assert FeedbackResumer(manager).run_once() == []
    assert lines(effects) == []


def test_the_lease_is_renewed_while_the_run_goes(manager: FeedbackManager, effects: Path) -> None:
    request = pause_a_run(manager, effects)
    answer(manager, request, approved=True)
    release = threading.Event()
    running = threading.Event()

    def slow_resume(req: FeedbackRequest, mgr: FeedbackManager) -> ResumeOutcome:
        running.set()
        assert release.wait(WAIT)
        return resume_locally(req, mgr)

    owner = FeedbackResumer(manager, name="owner", lease=0.6, poll_interval=0.05, resume=slow_resume).start()
    try:
        assert running.wait(WAIT)
        first = lease_of(manager, request)
        deadline = time.monotonic() + WAIT
        while lease_of(manager, request) <= first + 0.5:  # renewed well past the first lease
            assert time.monotonic() < deadline, "the lease was not renewed"
            release.wait(0.05)
        assert FeedbackResumer(manager, name="rival").run_once() == []  # a live claim: nothing to take over
    finally:
        release.set()
        owner.stop(WAIT)
    stored = manager.get_request(request.feedback_id)
    assert stored is not None and stored.metadata[rs.RESUMED_BY] == "owner"
    assert stored.metadata[rs.RESUME_STATE] == rs.DONE and lines(effects) == ["ask True", "after"]


def lease_of(manager: FeedbackManager, request: FeedbackRequest) -> float:
    stored = manager.get_request(request.feedback_id)
    assert stored is not None
    return float(stored.metadata[rs.LEASE_UNTIL])


def test_after_max_attempts_a_run_is_given_up(manager: FeedbackManager, effects: Path) -> None:
    request = pause_a_run(manager, effects)
    answer(manager, request, approved=True)
    for attempt in range(2):  # two resumers claimed it in turn, long ago, and died
        claim_as(manager, request, f"dead-{attempt}", lease=1.0, now=time.time() - 100 + 10 * attempt)
    [record] = FeedbackResumer(manager, max_attempts=2).run_once()
    assert record.metadata[rs.RESUME_STATE] == rs.FAILED and "gave up" in record.metadata[rs.ERROR]
    assert lines(effects) == []


def test_answers_to_requests_of_runs_that_did_not_pause_are_left_alone(manager: FeedbackManager) -> None:
    for task_id in ("plain", "waited"):
        request = FeedbackRequest(feedback_id=f"fb-{task_id}", task_id=task_id, session_id="s", feedback_type="text",
                                  prompt="?")  # fmt: skip
        manager.store_request(request)
        answer(manager, request, text="x")
    assert FeedbackResumer(manager).run_once() == []
    stored = manager.get_request("fb-plain")
    assert stored is not None and rs.RESUME_STATE not in stored.metadata


def test_bad_settings_are_refused(manager: FeedbackManager) -> None:
    for options in ({"poll_interval": 0}, {"lease": -1}, {"max_concurrent": 0}, {"max_attempts": 0}):
        with pytest.raises(ConfigError):
            FeedbackResumer(manager, **options)


def test_more_waiting_runs_than_slots_are_all_resumed_in_turn(manager: FeedbackManager, effects: Path) -> None:
    requests = [pause_a_run(manager, effects) for _ in range(3)]
    for request in requests:
        answer(manager, request, approved=True)
    records = FeedbackResumer(manager, max_concurrent=1).run_once(timeout=WAIT)
    assert sorted(r.feedback_id for r in records) == sorted(r.feedback_id for r in requests)
    assert all(r.metadata[rs.RESUME_STATE] == rs.DONE for r in records)
    assert lines(effects).count("after") == 3
