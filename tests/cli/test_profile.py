"""``graflow run --profile``: wall time, CPU time, peak memory and calls per task, slowest first, printed after the
run, stored with it and shown by ``graflow show``; and the profiler hook itself."""

from __future__ import annotations

import json
import threading

from graflow import task, workflow
from graflow.runs import TaskProfiler
from tests.cli.conftest import Cli

WORK = """
    import threading

    from graflow import task, workflow

    with workflow("work") as wf:
        @task
        def allocate() -> int:
            block = bytearray(8_000_000)
            return len(block)

        @task
        def compute(allocate: int) -> int:
            return sum(i * i for i in range(200_000)) + allocate

        @task
        def wait(compute: int) -> int:
            threading.Event().wait(1.0)
            return compute

        allocate >> compute >> wait
"""


def test_profile_prints_a_table_slowest_first_and_stores_it_with_the_run(cli: Cli) -> None:
    cli.write("work.py", WORK)
    result = cli("run", "work.py", "--profile", "--plain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Profile (slowest first)")
    header, *rows = lines[start + 1:start + 5]
    assert header.split() == ["TASK", "WALL", "CPU", "PEAK", "MEMORY", "CALLS"]
    assert rows[0].split()[0] == "wait"  # a second of waiting: the slowest
    by_task = {row.split()[0]: row.split() for row in rows}
    assert by_task["allocate"][3:5] in (["7.6", "MiB"], ["7.7", "MiB"])
    assert by_task["compute"][-1] == "1"
    # stored with the run, and shown by graflow show
    run_id = json.loads(cli("runs", "--json").stdout)["run_id"]
    stored = json.loads(cli("show", run_id, "--json").stdout)["run"]["profile"]
    assert stored[0]["task_id"] == "wait"
    allocate = next(p for p in stored if p["task_id"] == "allocate")
    assert allocate["peak_bytes"] >= 8_000_000 and allocate["calls"] == 1
    compute = next(p for p in stored if p["task_id"] == "compute")
    assert compute["cpu"] > 0 and compute["wall"] >= compute["cpu"] * 0.5
    wait = next(p for p in stored if p["task_id"] == "wait")
    assert wait["wall"] >= 1.0 and wait["cpu"] < wait["wall"]
    shown = cli("show", run_id).stdout
    assert "Profile (slowest first)" in shown and "allocate" in shown.split("Profile (slowest first)")[1]


def test_without_profile_nothing_is_measured(cli: Cli) -> None:
    cli.write("work.py", WORK)
    result = cli("run", "work.py", "--plain")
    assert "Profile" not in result.stdout
    run_id = json.loads(cli("runs", "--json").stdout)["run_id"]
    assert json.loads(cli("show", run_id, "--json").stdout)["run"]["profile"] == []


def test_the_profiler_counts_every_attempt_and_keeps_the_highest_peak() -> None:
    # given a task that fails once and allocates more on its second attempt
    attempts = {"n": 0}
    with workflow("profiled") as wf:
        @task(max_retries=1)
        def grows() -> int:
            attempts["n"] += 1
            block = bytearray(1_000_000 * attempts["n"])
            if attempts["n"] == 1:
                raise RuntimeError("first attempt fails")
            return len(block)

    profiler = TaskProfiler().start()
    try:
        wf.execute(hooks=[profiler])
    finally:
        profiler.stop()
    [profile] = profiler.profiles()
    assert (profile.task_id, profile.calls) == ("grows", 2)
    assert 2_000_000 <= profile.peak_bytes < 3_000_000


def test_peaks_of_attempts_running_at_once_are_not_lost() -> None:
    # given two members of a parallel group, one allocating while the other has started too
    started = threading.Barrier(2)
    with workflow("parallel") as wf:
        @task
        def big() -> int:
            started.wait(10)
            return len(bytearray(5_000_000))

        @task
        def small() -> int:
            started.wait(10)
            return 1

        big | small  # the expression builds the group

    profiler = TaskProfiler().start()
    try:
        wf.execute(hooks=[profiler])
    finally:
        profiler.stop()
    peaks = {p.task_id: p.peak_bytes for p in profiler.profiles()}
    assert peaks["big"] >= 5_000_000
