"""Checkpoints written before ``ExecutionContext`` was split into run state, results and services still resume.

``fixtures/flat_context_checkpoint`` was written by ``make_checkpoint.py`` (kept beside it) on the release before the
split, whose contexts pickled every attribute flat on the context.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from graflow.core.checkpoint import CheckpointManager
from graflow.core.engine import WorkflowEngine

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "flat_context_checkpoint"


def test_a_checkpoint_of_the_flat_context_layout_resumes_and_finishes(tmp_path: Path) -> None:
    # given a checkpoint taken after the first of two tasks, by the release before the split
    for name in ("legacy.pkl", "legacy.state.json", "legacy.meta.json"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    # when it is resumed on this release
    ctx, meta = CheckpointManager.resume_from_checkpoint(str(tmp_path / "legacy.pkl"))
    # then the run state, the channel and the options come back as they were
    assert ctx.steps == 1 and ctx.completed_tasks == ["first"]
    assert ctx.get_channel().get("seen") == ["first"]
    assert ctx.get_result("first") == 1
    assert ctx.max_steps == 10_000 and ctx.options.default_max_retries == 0
    assert meta.user_metadata["stage"] == "after-first"
    # and the run goes on from the second task
    assert WorkflowEngine().execute(ctx) == 12
    assert ctx.completed_tasks == ["first", "second"] and ctx.status == "completed"
