"""``graflow run --redis-url``: the run goes to the Redis workers, with its parameters, and is recorded by the
command (the producer)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.cli.conftest import DEADLINE, Cli, graflow_command, run_id_of, wait_for

pytestmark = pytest.mark.integration

REMOTE = """
    import threading
    import time
    from pathlib import Path

    from graflow import task, workflow

    with workflow("remote") as wf:
        @task(inject_context=True)
        def double(ctx) -> int:
            release = ctx.get_channel().get("release", None)
            deadline = time.monotonic() + 60
            while release and not Path(release).exists() and time.monotonic() < deadline:
                threading.Event().wait(0.05)  # held until the test lets it go
            return ctx.get_channel().get("n") * 2

        @task
        def check(double: int) -> int:
            if double < 0:
                raise ValueError("negative")
            return double + 1

        double >> check
"""


@pytest.fixture
def worker(cli: Cli, redis_url: str, key_prefix: str) -> Iterator[subprocess.Popen[str]]:
    """A worker in a folder of its own: it gets the workflow from Redis, never from the file."""
    folder = cli.workdir.parent / "worker"
    folder.mkdir()
    process = subprocess.Popen([*graflow_command(), "worker", "--redis-url", redis_url, "--redis-key-prefix",
                                key_prefix, "--log-level", "WARNING"], cwd=folder, env=cli.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(DEADLINE)


def test_a_run_on_the_workers_gets_its_parameters_and_is_recorded(cli: Cli, worker: subprocess.Popen[str],
                                                                   redis_url: str, key_prefix: str) -> None:
    cli.write("remote.py", REMOTE)
    result = cli("run", "remote.py", "-p", "n=20", "--redis-url", redis_url, "--redis-key-prefix", key_prefix,
                 "--plain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Submitting remote as run ") and lines[-1] == "41"
    run = json.loads(cli("runs", "--json").stdout)
    assert (run["status"], run["result_preview"], run["parameters"]) == ("completed", "41", {"n": 20})
    assert run["spec"] == str(cli.workdir / "remote.py") and run["invocation"]["distributed"] is True


def test_a_run_that_fails_on_a_worker_exits_1(cli: Cli, worker: subprocess.Popen[str], redis_url: str,
                                               key_prefix: str) -> None:
    cli.write("remote.py", REMOTE)
    result = cli("run", "remote.py", "-p", "n=-5", "--redis-url", redis_url, "--redis-key-prefix", key_prefix, "-q")
    assert result.returncode == 1
    assert "failed" in result.stderr and "negative" in result.stderr
    assert json.loads(cli("runs", "--json").stdout)["status"] == "failed"


def test_cancel_stops_the_producer_waiting_and_records_the_run_canceled(cli: Cli, worker: subprocess.Popen[str],
                                                                         redis_url: str, key_prefix: str) -> None:
    # given a run held on a worker until a file appears
    cli.write("remote.py", REMOTE)
    release = cli.workdir / "release"
    child = cli.start("run", "remote.py", "-p", "n=1", "-p", f"release={release}", "--redis-url", redis_url,
                      "--redis-key-prefix", key_prefix, "--plain")
    try:
        run_id = run_id_of(child.wait_for_line(lambda line: line.startswith("Submitting ")).split(" to the ")[0])
        wait_for(lambda: cli("show", run_id).returncode == 0, "the run to be recorded")
        # when it is cancelled
        assert cli("cancel", run_id).returncode == 0
        code, stderr = child.finish()
    finally:
        release.touch()  # the worker, which records no runs, finishes it
        child.kill()
    assert code == 5
    assert f"run {run_id} canceled: canceled with graflow cancel by" in stderr
    assert json.loads(cli("show", run_id, "--json").stdout)["run"]["status"] == "canceled"


def test_options_of_local_runs_are_refused_with_redis_url(cli: Cli) -> None:
    cli.write("remote.py", REMOTE)
    result = cli("run", "remote.py", "--redis-url", "redis://127.0.0.1:1/0", "--profile")
    assert result.returncode == 2
    assert result.stderr == ("graflow run: --max-steps, --checkpoint-every and --profile apply to local runs, "
                             "not with --redis-url\n")
