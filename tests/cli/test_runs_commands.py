"""``graflow runs``, ``show``, ``cancel`` (of runs that are not live) and ``runs prune`` on what ``graflow run``
recorded."""

from __future__ import annotations

import json
from typing import Any

from tests.cli.conftest import Cli

FLOWS = """
    from graflow import task, workflow

    with workflow("good") as good:
        @task
        def one(n: int = 1) -> int:
            return n + 1

    with workflow("bad") as bad:
        @task
        def prepare() -> int:
            return 1

        @task
        def explode(prepare: int) -> None:
            raise KeyError("missing column")

        prepare >> explode

    with workflow("asks") as asks:
        @task(inject_context=True)
        def question(ctx) -> str:
            return ctx.request_text_input("Name?", timeout=0.1)
"""


def runs_json(cli: Cli, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = cli("runs", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def record_three(cli: Cli) -> dict[str, str]:
    cli.write("flows.py", FLOWS)
    assert cli("run", "flows.py:good", "-p", "n=41", "-q").returncode == 0
    assert cli("run", "flows.py:bad", "-q").returncode == 1
    assert cli("run", "flows.py:asks", "-q").returncode == 3
    return {run["workflow"]: run["run_id"] for run in runs_json(cli)}


def test_runs_lists_newest_first_and_filters(cli: Cli) -> None:
    ids = record_three(cli)
    assert [run["workflow"] for run in runs_json(cli)] == ["asks", "bad", "good"]
    assert [run["run_id"] for run in runs_json(cli, "--status", "failed")] == [ids["bad"]]
    assert [run["workflow"] for run in runs_json(cli, "--status", "failed", "--status", "paused")] == ["asks", "bad"]
    assert [run["workflow"] for run in runs_json(cli, "--workflow", "good")] == ["good"]
    assert len(runs_json(cli, "--limit", "1")) == 1
    table = cli("runs").stdout.splitlines()
    assert table[0].split() == ["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION", "RETRY", "OF"]
    assert table[1].split()[:3] == [ids["asks"], "asks", "paused"]


def test_runs_rejects_an_unknown_status(cli: Cli) -> None:
    result = cli("runs", "--status", "exploded")
    assert result.returncode == 2 and result.stderr.startswith("graflow runs: unknown status 'exploded'")


def test_show_has_the_task_table_the_error_with_its_traceback_and_the_spec(cli: Cli) -> None:
    ids = record_three(cli)
    shown = cli("show", ids["bad"][:10])  # a prefix names a run
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert f"Run         {ids['bad']}" in out
    assert "Status      failed  (created → running → failed)" in out
    assert f"Spec        {cli.workdir / 'flows.py'}:bad" in out
    table = out.split("Tasks (2 attempt(s))")[1].split("\nError\n")[0]
    rows = [line.split() for line in table.strip().splitlines()]
    assert rows[0] == ["TASK", "ATTEMPT", "STATUS", "STARTED", "DURATION", "ERROR"]
    assert rows[1][:3] == ["prepare", "1", "completed"] and rows[1][-1] == "-"
    assert rows[2][:3] == ["explode", "1", "failed"] and rows[2][-3:] == ["KeyError:", "'missing", "column'"]
    assert "TaskFailedError: Task 'explode' failed: KeyError: 'missing column'" in out
    assert "Traceback (most recent call last):" in out and 'flows.py", line 15, in explode' in out


def test_show_of_a_paused_run_names_the_checkpoint_to_resume_from(cli: Cli) -> None:
    ids = record_three(cli)
    out = cli("show", ids["asks"]).stdout
    checkpoint = next(line for line in out.splitlines() if line.startswith("Checkpoint"))
    assert checkpoint.split()[1].endswith(".pkl") and f"graflow retry {ids['asks'][:12]}" in checkpoint
    assert "Feedback" in out and "(question, timeout)" in out


def test_show_json_has_the_run_and_its_attempts(cli: Cli) -> None:
    ids = record_three(cli)
    data = json.loads(cli("show", ids["good"], "--json").stdout)
    assert data["run"]["status"] == "completed" and data["run"]["parameters"] == {"n": 41}
    assert data["run"]["invocation"]["parameters"] == {"n": 41}
    assert data["run"]["result_preview"] == "42"
    assert [(t["task_id"], t["status"]) for t in data["tasks"]] == [("one", "completed")]


def test_an_unknown_or_ambiguous_run_id_exits_2_with_one_line(cli: Cli) -> None:
    record_three(cli)
    for command in ("show", "cancel", "retry"):
        result = cli(command, "no-such-run")
        assert (result.returncode, result.stderr) == (2, f"graflow {command}: no run 'no-such-run' in the run "
                                                         f"store\n")
    ambiguous = cli("show", "")
    assert ambiguous.returncode == 2


def test_cancel_marks_a_paused_run_canceled_and_refuses_an_ended_one(cli: Cli) -> None:
    ids = record_three(cli)
    result = cli("cancel", ids["asks"])
    assert (result.returncode, result.stdout) == (0, f"Run {ids['asks']} (paused) is canceled.\n")
    run = json.loads(cli("show", ids["asks"], "--json").stdout)["run"]
    assert run["status"] == "canceled" and run["error_message"].startswith("canceled with graflow cancel by ")
    again = cli("cancel", ids["asks"])
    assert (again.returncode, again.stdout) == (0, f"Run {ids['asks']} is canceled already.\n")
    ended = cli("cancel", ids["good"])
    assert ended.returncode == 1
    assert ended.stderr == f"graflow cancel: run {ids['good']} has ended (completed); there is nothing to cancel\n"


def test_prune_asks_first_unless_yes(cli: Cli) -> None:
    record_three(cli)
    declined = cli("runs", "prune", "--older-than", "0s", input="n\n")
    assert declined.returncode == 1 and "Delete the runs that ended more than 0s ago" in declined.stdout
    assert len(runs_json(cli)) == 3
    bad_age = cli("runs", "prune", "--older-than", "soon", "--yes")
    assert bad_age.returncode == 2 and bad_age.stderr.startswith("graflow runs prune: bad --older-than")
    kept = cli("runs", "prune", "--older-than", "30d", "--yes")
    assert (kept.returncode, kept.stdout) == (0, "Deleted 0 run(s) that ended more than 30d ago.\n")
    pruned = cli("runs", "prune", "--older-than", "0s", input="y\n")
    assert pruned.returncode == 0 and pruned.stdout.endswith("Deleted 3 run(s) that ended more than 0s ago.\n")
    assert cli("runs").stdout == "No runs recorded.\n"


def test_no_record_leaves_the_store_alone(cli: Cli) -> None:
    cli.write("flows.py", FLOWS)
    assert cli("run", "flows.py:good", "-q", "--no-record").returncode == 0
    assert cli("run", "flows.py:good", "-q", "--no-record", env={"GRAFLOW_RUN_STORE": "sqlite:///x.db"}).returncode == 0
    assert cli("runs").stdout == "No runs recorded.\n"
    assert not (cli.workdir / "x.db").exists()


def test_store_option_and_environment_choose_the_store(cli: Cli) -> None:
    cli.write("flows.py", FLOWS)
    url = f"sqlite:///{cli.workdir / 'elsewhere.db'}"
    assert cli("run", "flows.py:good", "-q", "--store", url).returncode == 0
    assert cli("runs").stdout == "No runs recorded.\n"
    assert len(runs_json(cli, "--store", url)) == 1
    assert len(runs_json(cli, env={"GRAFLOW_RUN_STORE": url})) == 1
