"""A process killed with SIGKILL: mid-write (atomicity) and between a task and the next checkpoint (crash window).

Each child process prints ``READY`` at the chosen point and then waits on its stdin, so the parent kills it exactly
there without sleeping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graflow.checkpoints.base import CheckpointError
from graflow.checkpoints.filesystem import TEMP_MARKER, FileSystemCheckpointStore
from graflow.core.checkpoint import CheckpointManager

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

MID_WRITE_CHILD = textwrap.dedent(
    """
    import os, sys
    from graflow import task, workflow
    from graflow.checkpoints import filesystem as fs

    MODE, FIRST, SECOND = sys.argv[1], sys.argv[2], sys.argv[3]
    ARMED = []
    real_write_temp, real_replace = fs._write_temp, os.replace

    def stop_here():
        print("READY", flush=True)
        sys.stdin.read()  # the parent kills us while we wait

    def write_temp(tmp, data):
        if ARMED and MODE == "temp" and ".state.json" in tmp:
            real_write_temp(tmp, data[: len(data) // 2])  # half of the file is on disk
            stop_here()
        real_write_temp(tmp, data)

    def replace(src, dst):
        if ARMED and MODE == "commit" and dst.endswith(".meta.json"):
            stop_here()  # .pkl and .state.json are in place, the commit marker is not
        real_replace(src, dst)

    fs._write_temp = write_temp
    fs.os.replace = replace

    with workflow("mid-write") as wf:
        @task(inject_context=True)
        def first(ctx):
            ctx.checkpoint({"n": 1}, path=FIRST)

        @task(inject_context=True)
        def second(ctx):
            ARMED.append(True)
            ctx.checkpoint({"n": 2}, path=SECOND)

        @task
        def third():
            return "finished"

        first >> second >> third

    wf.execute()
    print("NOT KILLED", flush=True)
    """
)

CRASH_WINDOW_CHILD = textwrap.dedent(
    """
    import os, sys
    from graflow import task, workflow

    LOG, CKPT_DIR = sys.argv[1], sys.argv[2]

    def side_effect(name):
        with open(LOG, "a") as handle:  # e.g. an e-mail sent, a row inserted
            handle.write(name + "\\n")

    with workflow("crash-window") as wf:
        def make(name):
            def body():
                if name == "t4" and os.environ.get("BLOCK_IN_T4") == "1":
                    print("READY", flush=True)  # t3 has completed; the next checkpoint is due after t4
                    sys.stdin.read()
                side_effect(name)
                return name
            return task(name)(body)

        t1, t2, t3, t4, t5 = (make(f"t{i}") for i in range(1, 6))
        t1 >> t2 >> t3 >> t4 >> t5

    wf.execute(checkpoint_every=2, checkpoint_dir=CKPT_DIR)
    print("NOT KILLED", flush=True)
    """
)


def _run_until_ready_and_kill(script: Path, *args: str, env_extra: dict[str, str] | None = None) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=script.parent,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "READY":
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"child did not reach the kill point (said {line!r}):\n{err}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _temp_files(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if TEMP_MARKER in name]


def test_kill_while_overwriting_a_checkpoint_keeps_the_previous_one(tmp_path: Path) -> None:
    # given a run whose second checkpoint overwrites the first, killed while the new .state.json is half written
    script = tmp_path / "child.py"
    script.write_text(MID_WRITE_CHILD)
    base = tmp_path / "ck" / "same"
    _run_until_ready_and_kill(script, "temp", str(base), str(base))

    # then the previous checkpoint is intact and verifies, and only temporaries of the dead writer are left
    meta = CheckpointManager.verify_checkpoint(str(base))
    assert meta.steps == 1 and meta.user_metadata["n"] == 1
    assert len(_temp_files(base.parent)) == 2  # the new .pkl and the half .state.json

    # when the directory is listed (or written to) again, the dead writer's temporaries are swept
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [r.steps for r in rows] == [1]
    assert _temp_files(base.parent) == []
    assert FileSystemCheckpointStore.sweep(str(base.parent)) == 0

    # and resuming the previous checkpoint finishes the run
    resumed, _ = CheckpointManager.resume_from_checkpoint(str(base))
    assert resumed.execute() == "finished"


def test_kill_before_the_commit_marker_leaves_an_uncommitted_set_that_is_refused(tmp_path: Path) -> None:
    # given a run killed after the second checkpoint's .pkl and .state.json were renamed, before its .meta.json
    script = tmp_path / "child.py"
    script.write_text(MID_WRITE_CHILD)
    first, second = tmp_path / "ck" / "first", tmp_path / "ck" / "second"
    _run_until_ready_and_kill(script, "commit", str(first), str(second))

    # then the first checkpoint is intact, the second is not listed and resume refuses it as uncommitted
    assert Path(str(second) + ".pkl").exists() and not Path(str(second) + ".meta.json").exists()
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    assert [r.location for r in rows] == [str(first) + ".pkl"]
    with pytest.raises(CheckpointError, match="commit marker") as info:
        CheckpointManager.resume_from_checkpoint(str(second))
    assert info.value.check == "missing"
    assert CheckpointManager.verify_checkpoint(str(first)).steps == 1
    assert _temp_files(first.parent) == []


def test_crash_between_a_task_and_the_next_checkpoint_reruns_that_task(tmp_path: Path) -> None:
    # given t1..t5 checkpointed every 2 steps, killed while t4 runs (t3 completed after the step-2 checkpoint)
    script = tmp_path / "child.py"
    script.write_text(CRASH_WINDOW_CHILD)
    log = tmp_path / "side_effects.log"
    _run_until_ready_and_kill(script, str(log), str(tmp_path / "ck"), env_extra={"BLOCK_IN_T4": "1"})
    before = log.read_text().split()

    # when the newest checkpoint is resumed
    rows = CheckpointManager.list_checkpoints(str(tmp_path / "ck"))
    resumed, meta = CheckpointManager.resume_from_checkpoint(rows[-1].location)
    result = resumed.execute()

    # then resume starts after step 2: t3's side effect happens a second time (at-least-once), t4 and t5 once
    assert before == ["t1", "t2", "t3"]
    assert [r.steps for r in rows] == [2]
    assert meta.steps == 2 and rows[-1].next_task == "t3"
    assert result == "t5"
    assert log.read_text().split() == ["t1", "t2", "t3", "t3", "t4", "t5"]
