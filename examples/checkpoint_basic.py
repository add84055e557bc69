"""Checkpoint a run from inside a task and resume it later (deferred and immediate checkpoints).

A deferred checkpoint (the default) is written after the task completes and its successors are queued, so resume
continues with the next task. An immediate one (``deferred=False``) is written at once and resume runs the task
again. Run it with ``python examples/checkpoint_basic.py``; the checkpoint files go to a temporary directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager
from graflow.core.task_context import TaskExecutionContext


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="graflow-checkpoints-") as tmp:
        run(Path(tmp))


def run(directory: Path) -> None:

    with workflow("checkpoint_basic") as wf:

        @task
        def step_1() -> str:
            print("step_1: load")
            return "loaded"

        @task(inject_context=True)
        def step_2(ctx: TaskExecutionContext) -> str:
            print("step_2: expensive work done; checkpoint after this task")
            ctx.checkpoint({"stage": "after step_2"}, path=str(directory / "basic"))
            return "computed"

        @task
        def step_3() -> str:
            print("step_3: publish")
            return "completed"

        step_1 >> step_2 >> step_3

    result = wf.execute()
    print(f"first run returned {result!r}")
    for name in sorted(p.name for p in directory.iterdir()):
        print(f"  wrote {name}")

    # Later (or in another process, or with `graflow resume <path>`): only step_3 runs.
    context, metadata = CheckpointManager.resume_from_checkpoint(str(directory / "basic.pkl"))
    print(f"resuming session {metadata.session_id[:8]} at step {metadata.steps}: "
          f"completed={context.completed_tasks}, user metadata={metadata.user_metadata['stage']!r}")
    print(f"resumed run returned {context.execute()!r}")


if __name__ == "__main__":
    main()
