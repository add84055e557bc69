"""``graflow resume <checkpoint>`` and ``graflow checkpoints <dir>``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.cli.main import main

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from graflow import task, workflow

    with workflow("cli") as wf:
        @task(inject_context=True)
        def fetch(ctx):
            ctx.get_channel().set("rows", [1, 2, 3])
            ctx.checkpoint({"batch": "nightly"}, path=sys.argv[1])

        @task(inject_context=True)
        def total(ctx):
            if os.environ.get("DIE_IN_TOTAL") == "1":
                os._exit(3)  # the machine went away
            return sum(ctx.get_channel().get("rows"))

        fetch >> total

    wf.execute()
    """
)


def _checkpoints(tmp_path: Path) -> Path:
    directory = tmp_path / "ck"
    with workflow("cli-listing") as wf:
        for i in range(1, 5):

            def body(ctx: Any, i: int = i) -> int:
                if i in (2, 3):
                    ctx.checkpoint({"at": f"s{i}", "owner": "ops"})
                return i

            task(f"s{i}", inject_context=True)(body)
        wf.graph.add_edge("s1", "s2")
        wf.graph.add_edge("s2", "s3")
        wf.graph.add_edge("s3", "s4")
    wf.execute(checkpoint_dir=str(directory))
    return directory


def test_checkpoints_lists_id_time_steps_next_task_and_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a directory with two checkpoints of one run
    directory = _checkpoints(tmp_path)

    # when listed as a table
    code = main(["checkpoints", str(directory)])
    out = capsys.readouterr().out.splitlines()

    # then there is a header and one row per checkpoint, oldest first
    assert code == 0
    assert out[0].split()[:5] == ["ID", "TIME", "STEPS", "NEXT", "TASK"]
    assert len(out) == 3
    assert " 2 " in out[1] and " s3 " in out[1] and '"at": "s2"' in out[1]
    assert " 3 " in out[2] and " s4 " in out[2] and '"owner": "ops"' in out[2]


def test_checkpoints_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _checkpoints(tmp_path)

    assert main(["checkpoints", str(directory), "--json", "--verify"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert [(r["steps"], r["next_task"], r["user_metadata"]["at"], r["error"]) for r in rows] == [
        (2, "s3", "s2", None),
        (3, "s4", "s3", None),
    ]
    assert all(r["location"].endswith(".pkl") and Path(r["location"]).exists() for r in rows)


def test_checkpoints_verify_marks_a_damaged_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _checkpoints(tmp_path)
    first = sorted(directory.rglob("*.pkl"))[0]
    first.write_bytes(first.read_bytes()[:10])

    assert main(["checkpoints", str(directory), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "INVALID (checksum" in out


def test_checkpoints_of_an_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checkpoints", str(tmp_path / "nothing")]) == 0
    assert "No checkpoints" in capsys.readouterr().out


def test_resume_runs_to_completion_and_prints_the_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _checkpoints(tmp_path)
    last = sorted(directory.rglob("*_step_3_*.pkl"))[0]

    code = main(["resume", str(last)])
    captured = capsys.readouterr()

    assert code == 0
    assert captured.out.strip() == "4"
    assert "from step 3" in captured.err


def test_resume_json_reports_what_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _checkpoints(tmp_path)
    first = sorted(directory.rglob("*_step_2_*.pkl"))[0]

    assert main(["resume", str(first), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    assert report["result"] == 4 and report["ran"] == ["s3", "s4"]
    assert report["resumed_at_step"] == 2 and report["status"] == "completed"


def test_resume_refuses_a_tampered_checkpoint_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _checkpoints(tmp_path)
    pkl = sorted(directory.rglob("*.pkl"))[0]
    meta = Path(str(pkl)[: -len(".pkl")] + ".meta.json")
    meta.unlink()

    code = main(["resume", str(pkl)])

    assert code == 2
    assert "refused: missing check failed" in capsys.readouterr().err


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def test_graflow_resume_in_a_fresh_process(tmp_path: Path) -> None:
    # given a checkpoint written by a program that died in its last task
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    base = tmp_path / "job"
    died = subprocess.run([sys.executable, str(script), str(base)], env={**_env(), "DIE_IN_TOTAL": "1"},
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert died.returncode == 3

    # when `graflow resume` runs in a new process
    done = subprocess.run(
        [sys.executable, "-m", "graflow.cli.main", "resume", str(base) + ".pkl"],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip

    # then it finishes the workflow and prints its result
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"

    # and a truncated checkpoint is refused with a non-zero exit and the failed check
    pkl = Path(str(base) + ".pkl")
    pkl.write_bytes(pkl.read_bytes()[:-7])
    refused = subprocess.run(
        [sys.executable, "-m", "graflow.cli.main", "resume", str(pkl)],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "checksum check failed" in refused.stderr
    assert refused.stdout == ""
