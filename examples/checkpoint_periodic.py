"""Periodic checkpoints with ``checkpoint_every`` and resuming the newest one after a crash.

``checkpoint_every`` takes a number of steps (``3``), a ``timedelta``, or ``{"steps": n, "seconds": s,
"keep_last": k}`` (whichever of steps/seconds comes first). Here a five-step pipeline is checkpointed every two
steps and "crashes" in step 5 on its first run; resuming the newest checkpoint re-runs only what came after it.
Run it with ``python examples/checkpoint_periodic.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="graflow-periodic-") as tmp:
        run(Path(tmp))


def run(directory: Path) -> None:
    crash_flag = directory / "crash-once"
    crash_flag.touch()

    with workflow("checkpoint_periodic") as wf:

        def make(name: str) -> object:
            def body() -> str:
                if name == "step_5" and crash_flag.exists():
                    crash_flag.unlink()
                    raise RuntimeError("worker lost")
                print(f"  {name} ran")
                return name

            return task(name)(body)

        steps = [make(f"step_{i}") for i in range(1, 6)]
        steps[0] >> steps[1] >> steps[2] >> steps[3] >> steps[4]  # type: ignore[operator]

    print("first run:")
    try:
        wf.execute(checkpoint_every=2, checkpoint_dir=str(directory))
    except Exception as exc:  # the run failed in step_5
        print(f"  failed: {exc}")

    rows = CheckpointManager.list_checkpoints(str(directory))
    for row in rows:
        print(f"checkpoint at step {row.steps}, next task {row.next_task}: {row.location}")

    print("resuming the newest checkpoint:")
    context, _ = CheckpointManager.resume_from_checkpoint(rows[-1].location)
    print(f"resumed run returned {context.execute()!r}")
    print("(the same listing from the command line: graflow checkpoints <directory>)")


if __name__ == "__main__":
    main()
