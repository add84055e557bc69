"""``graflow retry``: a new run linked to the original, resumed from its last checkpoint or started again with
the recorded parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.cli.conftest import Cli

RESUMABLE = """
    from pathlib import Path

    from graflow import task, workflow

    HERE = Path(__file__).parent

    with workflow("resumable") as wf:
        @task
        def first(n: int = 1) -> int:
            with open(HERE / "first.log", "a") as log:
                log.write("first ran\\n")
            return n

        @task
        def second(first: int) -> int:
            if not (HERE / "ok.flag").exists():
                raise RuntimeError("ok.flag is missing")
            return first * 10

        first >> second
"""


def latest(cli: Cli) -> dict[str, Any]:
    run_id = json.loads(cli("runs", "--json", "--limit", "1").stdout)["run_id"]
    return dict(json.loads(cli("show", run_id, "--json").stdout))


def test_retry_resumes_from_the_last_checkpoint_as_a_new_linked_run(cli: Cli) -> None:
    # given a run that failed in its second task after a checkpoint after the first
    cli.write("resumable.py", RESUMABLE)
    failed = cli("run", "resumable.py", "-p", "n=4", "--checkpoint-every", "1", "-q")
    assert failed.returncode == 1
    original = latest(cli)["run"]
    assert len(original["checkpoints"]) == 1
    # when the cause is fixed and the run retried
    (cli.workdir / "ok.flag").touch()
    retried = cli("retry", original["run_id"][:8], "--plain")
    # then it resumed after the first task, which did not run again, and completed
    assert retried.returncode == 0, retried.stderr
    head = retried.stdout.splitlines()[0]
    assert head.startswith(f"Retrying run {original['run_id']} as run ")
    assert f"from checkpoint {original['checkpoints'][0]} (step 1)" in head
    assert [line.split()[1:3] for line in retried.stdout.splitlines()[1:3]] == [["start", "second"],
                                                                               ["done", "second"]]
    assert retried.stdout.splitlines()[-1] == "40"
    assert (cli.workdir / "first.log").read_text() == "first ran\n"
    new = latest(cli)
    assert new["run"]["retry_of"] == original["run_id"] and new["run"]["run_id"] != original["run_id"]
    assert new["run"]["status"] == "completed" and new["run"]["spec"] == original["spec"]
    assert [t["task_id"] for t in new["tasks"]] == ["second"]
    listed = cli("runs").stdout.splitlines()
    assert listed[1].split()[-1] == original["run_id"]  # RETRY OF column


def test_retry_without_a_checkpoint_starts_again_with_the_recorded_parameters(cli: Cli) -> None:
    cli.write("resumable.py", RESUMABLE)
    assert cli("run", "resumable.py", "-p", "n=7", "-q").returncode == 1
    original = latest(cli)["run"]
    (cli.workdir / "ok.flag").touch()
    retried = cli("retry", original["run_id"], "-q")
    assert (retried.returncode, retried.stdout) == (0, "70\n")
    assert (cli.workdir / "first.log").read_text() == "first ran\nfirst ran\n"
    assert latest(cli)["run"]["parameters"] == {"n": 7}


def test_retry_from_start_ignores_the_checkpoint(cli: Cli) -> None:
    cli.write("resumable.py", RESUMABLE)
    assert cli("run", "resumable.py", "--checkpoint-every", "1", "-q").returncode == 1
    original = latest(cli)["run"]
    (cli.workdir / "ok.flag").touch()
    retried = cli("retry", original["run_id"], "--from-start", "--plain")
    assert retried.returncode == 0
    assert retried.stdout.splitlines()[0].endswith(", from the start")
    assert (cli.workdir / "first.log").read_text() == "first ran\nfirst ran\n"


def test_a_run_not_started_by_graflow_run_cannot_be_retried(cli: Cli) -> None:
    # given a run recorded by a script (workflow(..., run_store=...)), which records no spec
    store = f"sqlite:///{cli.workdir.parent / 'home' / 'runs.db'}"
    cli.write("script.py", f"""
        from graflow import task, workflow

        with workflow("scripted", run_store={store!r}) as wf:
            @task
            def only() -> int:
                return 1

        wf.execute()
    """)
    subprocess.run([sys.executable, "script.py"], cwd=cli.workdir, env=cli.env, check=True, timeout=60)
    run_id = latest(cli)["run"]["run_id"]
    result = cli("retry", run_id)
    assert result.returncode == 2
    assert result.stderr == (f"graflow retry: run {run_id} was not started by graflow run: "
                             f"no workflow spec is recorded\n")


def test_a_module_spec_is_retried_from_another_folder(cli: Cli) -> None:
    # given a failed run of pipelines.etl:flow started in the work folder
    (cli.workdir / "pipelines").mkdir()
    (cli.workdir / "pipelines" / "__init__.py").write_text("")
    cli.write("pipelines/etl.py", RESUMABLE.replace("resumable", "etl").replace(" as wf:", " as flow:"))
    assert cli("run", "pipelines.etl:flow", "-q").returncode == 1
    original = latest(cli)["run"]
    assert original["spec"] == "pipelines.etl:flow"
    (cli.workdir / "pipelines" / "ok.flag").touch()
    # when it is retried from another folder
    elsewhere = Cli(cli.workdir.parent, cli.env)
    retried = elsewhere("retry", original["run_id"], "-q")
    # then the module was found where the run started
    assert (retried.returncode, retried.stdout) == (0, "10\n"), retried.stderr
