"""``checkpoint_every``: the accepted specs and the cadence of PeriodicCheckpointPolicy (injected clock, no I/O)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from graflow.core.checkpoint import CheckpointManager, PeriodicCheckpointPolicy
from graflow.exceptions import ConfigError, GraflowError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeRun:
    steps: int = 0
    pending: bool = True
    written: list[int] = field(default_factory=list)
    checkpoint_policy: Any = None

    def is_completed(self) -> bool:
        return not self.pending


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the writer: remember the step of each checkpoint and restart the policy's count as it would."""
    written: list[int] = []

    def create_checkpoint(context: FakeRun, **kwargs: Any) -> tuple[str, None]:
        written.append(context.steps)
        context.checkpoint_policy.note_checkpoint(context)
        return f"ck-{context.steps}.pkl", None

    monkeypatch.setattr(CheckpointManager, "create_checkpoint", staticmethod(create_checkpoint))
    return written


def _run(policy: PeriodicCheckpointPolicy, steps: int, clock: Clock | None = None, dt: float = 0.0) -> FakeRun:
    run = FakeRun(checkpoint_policy=policy)
    for step in range(1, steps + 1):
        if clock is not None:
            clock.now += dt
        run.steps = step
        run.pending = step < steps
        policy.after_step(run)  # type: ignore[arg-type]
    return run


@pytest.mark.parametrize(
    ("spec", "steps", "seconds", "keep"),
    [
        (5, 5, None, None),
        (timedelta(minutes=2), None, 120.0, None),
        ({"steps": 10}, 10, None, None),
        ({"seconds": 2.5}, None, 2.5, None),
        ({"seconds": timedelta(seconds=3)}, None, 3.0, None),
        ({"steps": 4, "seconds": 60, "keep_last": 3}, 4, 60.0, 3),
    ],
)
def test_accepted_specs(spec: Any, steps: int | None, seconds: float | None, keep: int | None) -> None:
    policy = PeriodicCheckpointPolicy.from_spec(spec)
    assert (policy.steps, policy.seconds, policy.keep_last) == (steps, seconds, keep)


def test_a_policy_instance_is_used_as_is() -> None:
    policy = PeriodicCheckpointPolicy(steps=2)
    assert PeriodicCheckpointPolicy.from_spec(policy) is policy


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (2.5, 'a float is ambiguous: write {"seconds": 2.5}'),
        (0, "positive int"),
        (-3, "positive int"),
        (True, "must be an int"),
        ("10s", "must be an int"),
        ({}, "needs steps and/or seconds"),
        ({"every": 3}, "unknown keys ['every']"),
        ({"seconds": 0}, "positive number"),
        ({"seconds": "5"}, "positive number"),
        ({"steps": 2, "keep_last": 0}, "keep_last"),
        (timedelta(0), "positive number"),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        PeriodicCheckpointPolicy.from_spec(spec)
    assert message in str(info.value)
    assert isinstance(info.value, GraflowError)


def test_every_n_steps(record: list[int]) -> None:
    _run(PeriodicCheckpointPolicy(steps=3), steps=10)
    assert record == [3, 6, 9]


def test_no_checkpoint_once_nothing_is_left(record: list[int]) -> None:
    _run(PeriodicCheckpointPolicy(steps=3), steps=9)
    assert record == [3, 6]


def test_every_n_seconds_on_the_injected_clock(record: list[int]) -> None:
    clock = Clock()
    _run(PeriodicCheckpointPolicy(seconds=10, clock=clock), steps=12, clock=clock, dt=4.0)
    # 4, 8, 12 -> checkpoint at step 3 (12 s), then 16, 20, 24 -> step 6, ...
    assert record == [3, 6, 9]


def test_steps_or_seconds_whichever_comes_first(record: list[int]) -> None:
    clock = Clock()
    policy = PeriodicCheckpointPolicy(steps=4, seconds=10, clock=clock)
    run = FakeRun(checkpoint_policy=policy)
    for step, now in [(1, 1.0), (2, 11.0), (3, 12.0), (4, 13.0), (5, 14.0), (6, 15.0), (7, 30.0)]:
        clock.now = now
        run.steps = step
        policy.after_step(run)  # type: ignore[arg-type]
    assert record == [2, 6, 7]


def test_any_checkpoint_restarts_the_count(record: list[int]) -> None:
    policy = PeriodicCheckpointPolicy(steps=3)
    run = FakeRun(checkpoint_policy=policy)
    for step in range(1, 8):
        run.steps = step
        if step == 2:
            policy.note_checkpoint(run)  # type: ignore[arg-type]  # a task's own checkpoint
        policy.after_step(run)  # type: ignore[arg-type]
    assert record == [5]


def test_time_restarts_after_unpickling_and_steps_after_resume(record: list[int]) -> None:
    # given a policy whose clock ran for 9 of its 10 seconds, pickled with a run
    clock = Clock()
    policy = PeriodicCheckpointPolicy(steps=100, seconds=10, clock=clock)
    clock.now = 9.0
    copy = pickle.loads(pickle.dumps(policy))
    copy.clock = clock  # the pickled clock is a copy; keep driving the test's own
    run = FakeRun(steps=50, checkpoint_policy=copy)

    # when the copy resumes at step 50 and time moves on
    copy.on_resume(run)
    clock.now = 12.0
    run.steps = 51
    copy.after_step(run)
    clock.now = 22.0
    run.steps = 52
    copy.after_step(run)

    # then nothing was due at the first step (the timer restarted there) and the 10 s came at step 52
    assert record == [52]
    assert "seconds=10.0" in repr(copy)
