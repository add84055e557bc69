"""Checkpoint and resume of real runs: what survives, what runs again, and where the files go (spec section 9)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from graflow import RetryPolicy, task, workflow
from graflow.checkpoints.filesystem import TEMP_MARKER
from graflow.core.checkpoint import CheckpointManager, CheckpointMetadata, PeriodicCheckpointPolicy
from graflow.core.hooks import EngineHook


class Crash(BaseException):
    """Stands in for the process dying: unwinds past the engine without being handled."""


def log_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def once(flag: Path) -> bool:
    """True the first time it is asked about ``flag`` (an armed one-shot trigger), False afterwards."""
    try:
        flag.unlink()
    except FileNotFoundError:
        return False
    return True


def arm(tmp_path: Path, name: str) -> Path:
    flag = tmp_path / f"{name}.armed"
    flag.touch()
    return flag


def the_files(pkl: str) -> list[str]:
    base = pkl[: -len(".pkl")]
    return [base + ".pkl", base + ".state.json", base + ".meta.json"]


def test_deferred_checkpoint_holds_the_completed_task_and_resume_runs_only_the_rest(tmp_path: Path) -> None:
    # given a three-step chain whose middle step asks for a deferred checkpoint
    runs = tmp_path / "runs.log"

    with workflow("basic") as wf:

        @task
        def step_1() -> str:
            log_line(runs, "step_1")
            return "one"

        @task(inject_context=True)
        def step_2(ctx: Any) -> str:
            log_line(runs, "step_2")
            ctx.checkpoint({"stage": "two"}, path=str(tmp_path / "basic"))
            return "two"

        @task
        def step_3() -> str:
            log_line(runs, "step_3")
            return "completed"

        step_1 >> step_2 >> step_3

    # when it runs, and then resumes from that checkpoint
    result, ctx = wf.execute(ret_context=True)
    resumed, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "basic.pkl"))
    resumed_result = resumed.execute()

    # then the checkpoint was taken after step_2 completed, and resume ran step_3 alone
    assert result == "completed"
    assert isinstance(meta, CheckpointMetadata)
    assert meta.steps == 2 and meta.user_metadata["stage"] == "two"
    assert meta.user_metadata["mode"] == "deferred" and meta.user_metadata["task_id"] == "step_2"
    state = json.loads((tmp_path / "basic.state.json").read_text())
    assert state["completed_tasks"] == ["step_1", "step_2"]
    assert [p["task_id"] for p in state["pending_tasks"]] == ["step_3"]
    assert state["resuming_task_id"] is None
    assert resumed_result == "completed"
    assert resumed.session_id == ctx.session_id
    assert resumed.completed_tasks == ["step_1", "step_2", "step_3"]
    assert lines(runs) == ["step_1", "step_2", "step_3", "step_3"]
    assert ctx.last_checkpoint_path == str(tmp_path / "basic.pkl")
    assert ctx.checkpoint_metadata is not None and ctx.checkpoint_metadata["checkpoint_id"] == meta.checkpoint_id


def test_immediate_checkpoint_is_written_at_once_and_resume_reruns_the_task(tmp_path: Path) -> None:
    # given a step that takes an immediate checkpoint, armed for the first run only
    runs = tmp_path / "runs.log"
    armed = arm(tmp_path, "immediate")
    returned: list[Any] = []

    with workflow("immediate") as wf:

        @task
        def step_1() -> None:
            log_line(runs, "step_1")

        @task(inject_context=True)
        def step_2(ctx: Any) -> str:
            log_line(runs, f"step_2 cycle={ctx.cycle_count}")
            if once(armed):
                returned.append(ctx.checkpoint({"why": "before the slow part"}, path=str(tmp_path / "now"),
                                               deferred=False))
            return "two"

        @task
        def step_3() -> str:
            log_line(runs, "step_3")
            return "done"

        step_1 >> step_2 >> step_3

    # when the run finishes and is resumed from the immediate checkpoint
    wf.execute()
    resumed, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "now"))
    result = resumed.execute()

    # then the call returned (pkl path, metadata), the state names step_2 to resume, and resume ran step_2 again
    pkl_path, returned_meta = returned[0]
    assert pkl_path == str(tmp_path / "now.pkl")
    assert returned_meta.user_metadata["mode"] == "immediate"
    state = json.loads((tmp_path / "now.state.json").read_text())
    assert state["resuming_task_id"] == "step_2"
    assert state["completed_tasks"] == ["step_1"]
    assert meta.steps == 1
    assert result == "done"
    assert lines(runs)[3:] == ["step_2 cycle=2", "step_3"]
    assert resumed.completed_tasks == ["step_1", "step_2", "step_3"]


def test_state_machine_resumes_mid_iteration_with_its_counters(tmp_path: Path) -> None:
    # given a state machine that loops with next_iteration, checkpoints at cycle 3 and dies at cycle 4
    runs = tmp_path / "runs.log"
    crash = arm(tmp_path, "crash")

    with workflow("machine") as wf:

        @task(inject_context=True)
        def machine(ctx: Any, data: Any = None) -> Any:
            channel = ctx.get_channel()
            count = ctx.cycle_count
            log_line(runs, f"cycle {count}")
            if count == 4 and once(crash):
                raise Crash("power cut")
            channel.append("visited", count)
            if count == 3:
                ctx.checkpoint({"cycle": count}, path=str(tmp_path / "machine"))
            if ctx.can_iterate():
                ctx.next_iteration({"state": count + 1})
                return f"state {count}"
            return "halted"

        _ = machine

    with pytest.raises(Crash):
        wf.execute(default_max_cycles=6)
    state = json.loads((tmp_path / "machine.state.json").read_text())

    # when it resumes from the cycle-3 checkpoint
    resumed, _ = CheckpointManager.resume_from_checkpoint(str(tmp_path / "machine.pkl"))
    pending = resumed.scheduler.pending_ids()
    result = resumed.execute()

    # then the pending iteration node survived and the loop went on from cycle 4 to the budget
    assert state["cycle_counts"] == {"machine": 3}
    assert len(pending) == 1 and pending[0].startswith("machine_cycle_3_")
    assert pending[0] in resumed.graph
    assert result == "halted"
    assert resumed.channel.get("visited") == [1, 2, 3, 4, 5, 6]
    assert lines(runs) == ["cycle 1", "cycle 2", "cycle 3", "cycle 4", "cycle 4", "cycle 5", "cycle 6"]
    assert resumed.cycle_controller.cycle_counts["machine"] == 6


def test_resume_keeps_a_retry_that_was_waiting_out_its_backoff(tmp_path: Path) -> None:
    # given a task that fails once with a 5 s backoff while a sibling checkpoints and terminates the run
    runs = tmp_path / "runs.log"
    fail = arm(tmp_path, "fail")

    with workflow("retry") as wf:

        @task
        def start() -> None:
            log_line(runs, "start")

        @task(inject_context=True, retry_policy=RetryPolicy(max_retries=2, initial_interval=5.0))
        def flaky(ctx: Any) -> str:
            log_line(runs, f"flaky retry_count={ctx.retry_count} cycle={ctx.cycle_count}")
            if once(fail):
                raise ConnectionError("upstream is down")
            return "recovered"

        @task(inject_context=True)
        def sibling(ctx: Any) -> None:
            log_line(runs, "sibling")
            ctx.checkpoint(path=str(tmp_path / "retry"))
            ctx.terminate_workflow("pause while the backend recovers")

        start >> flaky
        start >> sibling

    wf.execute()
    state = json.loads((tmp_path / "retry.state.json").read_text())

    # when it resumes (and the test skips the remaining backoff instead of sleeping through it)
    resumed, _ = CheckpointManager.resume_from_checkpoint(str(tmp_path / "retry"))
    delayed = resumed.scheduler.get_state()["delayed"]
    resumed.scheduler.set_state({**resumed.scheduler.get_state(), "delayed": [(0.0, "flaky")]})
    result = resumed.execute()

    # then the retry was still pending with its remaining delay and its retry count, and it ran once more
    assert [(p["task_id"], p["retry_count"]) for p in state["pending_tasks"]] == [("flaky", 1)]
    assert [task_id for _, task_id in delayed] == ["flaky"]
    assert 0.0 < delayed[0][0] <= 5.0
    assert result == "recovered"
    # (a retry is not a new cycle, before or after resume)
    assert lines(runs) == ["start", "flaky retry_count=0 cycle=1", "sibling", "flaky retry_count=1 cycle=1"]


def test_resume_after_terminate_runs_what_was_still_queued(tmp_path: Path) -> None:
    # given a fan-out where the first branch queues a dynamic task, checkpoints and terminates
    runs = tmp_path / "runs.log"

    @task
    def cleanup() -> str:
        log_line(runs, "cleanup")
        return "cleaned"

    with workflow("terminate") as wf:

        @task
        def root() -> None:
            log_line(runs, "root")

        @task(inject_context=True)
        def left(ctx: Any) -> None:
            log_line(runs, "left")
            ctx.next_task(cleanup)
            ctx.checkpoint({"reason": "terminate"}, path=str(tmp_path / "term"))
            ctx.terminate_workflow("stop here")

        @task
        def right() -> str:
            log_line(runs, "right")
            return "right"

        root >> left
        root >> right

    _, ctx = wf.execute(ret_context=True)

    # when the terminated run is resumed
    resumed, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "term"))
    resumed.execute()

    # then the checkpoint was written on terminate and resume ran the queued sibling and the dynamic task
    assert ctx.status == "terminated"
    assert meta.user_metadata["reason"] == "terminate"
    assert lines(runs)[:2] == ["root", "left"]
    assert sorted(lines(runs)[2:]) == ["cleanup", "right"]
    assert "cleanup" in resumed.graph
    assert resumed.channel.get("cleanup.__result__") == "cleaned"


def test_fan_in_join_waiting_at_checkpoint_runs_once_after_resume(tmp_path: Path) -> None:
    # given a diamond whose join waits for both branches; the run dies in the second branch
    runs = tmp_path / "runs.log"
    crash = arm(tmp_path, "crash")

    with workflow("diamond") as wf:

        @task
        def a() -> None:
            log_line(runs, "a")

        @task(inject_context=True)
        def b(ctx: Any) -> None:
            log_line(runs, "b")
            ctx.checkpoint(path=str(tmp_path / "diamond"))

        @task
        def c() -> None:
            log_line(runs, "c")
            if once(crash):
                raise Crash("killed")

        @task
        def d() -> str:
            log_line(runs, "d")
            return "joined"

        a >> b >> d
        a >> c >> d

    with pytest.raises(Crash):
        wf.execute()

    # when it resumes
    resumed, _ = CheckpointManager.resume_from_checkpoint(str(tmp_path / "diamond"))
    result = resumed.execute()

    # then c runs again and the join runs exactly once
    assert result == "joined"
    assert lines(runs) == ["a", "b", "c", "c", "d"]
    assert resumed.completed_tasks == ["a", "b", "c", "d"]


def test_resume_restores_session_channel_and_completed_tasks(tmp_path: Path) -> None:
    # given a run that writes channel data before a checkpoint
    with workflow("channel") as wf:

        @task(inject_context=True)
        def produce(ctx: Any) -> int:
            ctx.get_channel().set("dataset", {"rows": [1, 2, 3]})
            ctx.checkpoint(path=str(tmp_path / "chan"))
            return 3

        @task(inject_context=True)
        def consume(ctx: Any) -> int:
            return sum(ctx.get_channel().get("dataset")["rows"])

        produce >> consume

    _, ctx = wf.execute(ret_context=True)

    # when resumed
    resumed, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "chan.pkl"))

    # then the session, the channel contents and the bookkeeping are those of the checkpoint
    assert resumed.session_id == ctx.session_id == meta.session_id
    assert resumed.channel.get("dataset") == {"rows": [1, 2, 3]}
    assert resumed.get_result("produce") == 3
    assert resumed.completed_tasks == ["produce"]
    assert resumed.last_checkpoint_path == str(tmp_path / "chan.pkl")
    assert resumed.execute() == 6


class _Recorder(EngineHook):
    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []

    def on_checkpoint(self, *, context: Any, path: str, duration: float) -> None:
        self.events.append((path, duration))


def test_on_checkpoint_hook_reports_path_and_duration(tmp_path: Path) -> None:
    # given a hook and a run with one checkpoint
    recorder = _Recorder()
    with workflow("hooked") as wf:

        @task(inject_context=True)
        def only(ctx: Any) -> None:
            ctx.checkpoint(path=str(tmp_path / "hooked"))

        _ = only

    # when it runs
    wf.execute(hooks=[recorder])

    # then the hook saw the .pkl path and a duration
    assert len(recorder.events) == 1
    path, duration = recorder.events[0]
    assert path == str(tmp_path / "hooked.pkl") and duration >= 0.0


def test_default_location_is_upstreams_layout_and_nothing_is_left_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a run in an empty working directory with a default-path checkpoint
    monkeypatch.chdir(tmp_path)
    with workflow("default") as wf:

        @task(inject_context=True)
        def first(ctx: Any) -> None:
            ctx.checkpoint()

        @task
        def second() -> None:
            pass

        first >> second

    # when it runs
    _, ctx = wf.execute(ret_context=True)

    # then the files are checkpoints/<session>/session_<session>_step_<n>_<ts>.{pkl,state.json,meta.json}
    sid = ctx.session_id
    pkl = ctx.last_checkpoint_path
    assert pkl is not None
    assert pkl.startswith(f"checkpoints/{sid}/session_{sid}_step_1_") and pkl.endswith(".pkl")
    names = sorted(os.listdir(tmp_path / "checkpoints" / sid))
    assert names == sorted(os.path.basename(f) for f in the_files(pkl))
    assert not any(TEMP_MARKER in name for name in names)
    ts = pkl[len(f"checkpoints/{sid}/session_{sid}_step_1_") : -len(".pkl")]
    assert json.loads(Path(the_files(pkl)[2]).read_text())["checkpoint_id"] == f"{sid}_1_{ts}"


def test_checkpoint_dir_option_moves_default_checkpoints(tmp_path: Path) -> None:
    # given a run with checkpoint_dir set
    with workflow("dir") as wf:

        @task(inject_context=True)
        def first(ctx: Any) -> None:
            ctx.checkpoint()

        @task
        def second() -> None:
            pass

        first >> second

    # when it runs
    _, ctx = wf.execute(ret_context=True, checkpoint_dir=str(tmp_path / "ckpts"))

    # then the checkpoint is below that directory and lists there
    assert ctx.last_checkpoint_path.startswith(str(tmp_path / "ckpts" / ctx.session_id))
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ckpts"))
    assert [(r.steps, r.next_task) for r in rows] == [(1, "second")]


def test_unsupported_storage_scheme_raises_not_implemented(tmp_path: Path) -> None:
    # given a run whose task asks for an s3 checkpoint
    with workflow("s3") as wf:

        @task(inject_context=True)
        def only(ctx: Any) -> None:
            ctx.checkpoint(path="s3://bucket/key", deferred=False)

        _ = only

    # when it runs, then the error says the backend is not implemented
    with pytest.raises(Exception) as info:
        wf.execute()
    assert isinstance(info.value.__cause__ or info.value, NotImplementedError)
    assert "s3" in str(info.value)


def _chain(n: int, runs: Path, tick: Any = None) -> Any:
    with workflow(f"chain{n}") as wf:
        tasks = []
        for i in range(1, n + 1):

            def body(i: int = i) -> int:
                if tick is not None:
                    tick()
                log_line(runs, f"t{i}")
                return i

            tasks.append(task(f"t{i}")(body))
        flow = tasks[0]
        for t in tasks[1:]:
            flow = flow >> t
    return wf


def test_periodic_checkpoints_every_n_steps(tmp_path: Path) -> None:
    # given a 7-step chain with checkpoint_every=3
    wf = _chain(7, tmp_path / "runs.log")

    # when it runs
    wf.execute(checkpoint_every=3, checkpoint_dir=str(tmp_path / "ck"))

    # then checkpoints exist after steps 3 and 6 (none once nothing is left), marked periodic
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [(r.steps, r.next_task) for r in rows] == [(3, "t4"), (6, "t7")]
    assert all(r.user_metadata["trigger"] == "periodic" for r in rows)

    # and resuming the last one runs only t7
    resumed, _ = CheckpointManager.resume_from_checkpoint(rows[-1].location)
    assert resumed.execute() == 7
    assert lines(tmp_path / "runs.log")[7:] == ["t7"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_periodic_checkpoints_every_n_seconds_with_an_injected_clock(tmp_path: Path) -> None:
    # given tasks that each take 4 (fake) seconds and a 10-second checkpoint period
    clock = FakeClock()
    wf = _chain(7, tmp_path / "runs.log", tick=lambda: clock.advance(4.0))
    policy = PeriodicCheckpointPolicy(seconds=10, clock=clock)

    # when it runs
    wf.execute(checkpoint_every=policy, checkpoint_dir=str(tmp_path / "ck"))

    # then a checkpoint follows the first step at or past each 10 s mark since the previous one: steps 3 and 6
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [r.steps for r in rows] == [3, 6]


def test_periodic_keep_last_deletes_older_periodic_checkpoints(tmp_path: Path) -> None:
    # given a 9-step chain checkpointed every 2 steps keeping the last 2
    wf = _chain(9, tmp_path / "runs.log")

    # when it runs
    wf.execute(checkpoint_every={"steps": 2, "keep_last": 2}, checkpoint_dir=str(tmp_path / "ck"))

    # then only the two newest remain
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [r.steps for r in rows] == [6, 8]


def test_user_checkpoint_restarts_the_periodic_count(tmp_path: Path) -> None:
    # given a chain checkpointed every 3 steps whose second task also checkpoints
    with workflow("mixed") as wf:
        names = ["t1", "t2", "t3", "t4", "t5", "t6"]
        tasks = []
        for name in names:

            def body(ctx: Any, name: str = name) -> None:
                if name == "t2":
                    ctx.checkpoint({"by": "user"})

            tasks.append(task(name, inject_context=True)(body))
        flow = tasks[0]
        for t in tasks[1:]:
            flow = flow >> t

    # when it runs
    wf.execute(checkpoint_every=3, checkpoint_dir=str(tmp_path / "ck"))

    # then the periodic count restarted at the user's checkpoint (step 2): next periodic one at step 5
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [(r.steps, r.user_metadata.get("trigger", "user")) for r in rows] == [(2, "user"), (5, "periodic")]


def test_a_resumed_periodic_run_keeps_checkpointing(tmp_path: Path) -> None:
    # given a 7-step chain checkpointed every 2 steps that dies in t5 on its first run
    crash = arm(tmp_path, "crash")
    with workflow("periodic-resume") as wf:
        tasks = []
        for i in range(1, 8):

            def body(i: int = i) -> int:
                if i == 5 and once(crash):
                    raise Crash("lost the machine")
                return i

            tasks.append(task(f"t{i}")(body))
        flow = tasks[0]
        for t in tasks[1:]:
            flow = flow >> t
    with pytest.raises(Crash):
        wf.execute(checkpoint_every=2, checkpoint_dir=str(tmp_path / "ck"))

    # when the newest checkpoint (step 4) is resumed
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    resumed, _ = CheckpointManager.resume_from_checkpoint(rows[-1].location)
    assert resumed.execute() == 7

    # then the resumed run went on checkpointing every 2 steps
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [r.steps for r in rows] == [2, 4, 6]
