"""Recording is opt-in: without ``run_store=`` or ``GRAFLOW_RUN_STORE`` a run imports nothing of the run store and
starts no thread, exactly as before the run store existed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, sys, threading
from graflow.core.decorators import task
from graflow.core.workflow import workflow

with workflow("plain") as wf:
    a, b = task("a")(lambda: 1), task("b")(lambda: 2)
    a >> b
result = wf.execute()
print(json.dumps({
    "result": result,
    "runs_imported": sorted(m for m in sys.modules if m == "graflow.runs" or m.startswith("graflow.runs.")),
    "sqlalchemy_imported": "sqlalchemy" in sys.modules,
    "threads": sorted(t.name for t in threading.enumerate()),
}))
"""


def run_program(**env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if k != "GRAFLOW_RUN_STORE"}
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO_ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_run_without_a_store_loads_nothing_of_the_run_store_and_starts_no_thread() -> None:
    seen = run_program()
    assert seen == {"result": 2, "runs_imported": [], "sqlalchemy_imported": False, "threads": ["MainThread"]}


def test_graflow_run_store_switches_recording_on_for_the_same_program(tmp_path: Path) -> None:
    seen = run_program(GRAFLOW_RUN_STORE=f"sqlite:///{tmp_path / 'runs.db'}")
    assert seen["result"] == 2
    assert "graflow.runs.recorder" in seen["runs_imported"]  # type: ignore[operator]
    assert "graflow-run-recorder" in seen["threads"]  # type: ignore[operator]
    from graflow.runs import open_run_store

    store = open_run_store(f"sqlite:///{tmp_path / 'runs.db'}")  # written at interpreter exit at the latest
    try:
        (run,) = store.list_runs().runs
        assert (run.workflow, run.status) == ("plain", "completed")
        assert [a.task_id for a in store.list_tasks(run.run_id)] == ["a", "b"]
    finally:
        store.close()
