"""``graflow run`` exits with a code that says how the run ended: each code is reached by a real workflow file."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli

CHAIN = """
    from graflow import task, workflow

    with workflow("chain") as wf:
        @task
        def first(n: int = 1) -> int:
            return n

        @task
        def second(first: int) -> int:
            return first * 10

        first >> second
"""


def test_a_completed_run_exits_0_and_prints_its_result(cli: Cli) -> None:
    cli.write("chain.py", CHAIN)
    result = cli("run", "chain.py", "-p", "n=4", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "40\n", "")


def test_a_failed_run_exits_1_with_one_line_naming_the_task_and_its_error(cli: Cli) -> None:
    cli.write("fails.py", """
        from graflow import task, workflow

        with workflow("fails") as wf:
            @task
            def boom() -> None:
                raise ValueError("bad value")
    """)
    result = cli("run", "fails.py", "--plain")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "failed: Task 'boom' failed: ValueError: bad value" in lines[0]
    assert lines[1].startswith("graflow run: the traceback: graflow show ")
    assert "Traceback" not in result.stderr  # it is in the run store, shown by graflow show


def test_a_failed_unrecorded_run_prints_the_tasks_traceback(cli: Cli) -> None:
    cli.write("fails.py", """
        from graflow import task, workflow

        with workflow("fails") as wf:
            @task
            def boom() -> None:
                raise ValueError("bad value")
    """)
    result = cli("run", "fails.py", "--quiet", "--no-record")
    assert result.returncode == 1
    assert 'fails.py", line 6, in boom' in result.stderr and result.stderr.rstrip().endswith("ValueError: bad value")


@pytest.mark.parametrize(("args", "message"), [
    (["missing.py"], "graflow run: no such file: missing.py"),
    (["chain.py:nope"], "graflow run: chain.py has no workflow named 'nope' (workflows: wf)"),
    (["chain.py", "-p", "n"], "graflow run: bad parameter 'n': expected key=value"),
    (["chain.py", "--start", "third"], "graflow run: workflow 'chain' has no task 'third' (tasks: first, second)"),
    (["chain.py", "--checkpoint-every", "soon"],
     "graflow run: --checkpoint-every takes a number of steps or a duration such as 30s or 5m, not 'soon'"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(cli: Cli, args: list[str], message: str) -> None:
    cli.write("chain.py", CHAIN)
    result = cli("run", *args)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""


def test_a_bad_option_exits_2(cli: Cli) -> None:
    cli.write("chain.py", CHAIN)
    result = cli("run", "chain.py", "--max-steps", "zero")
    assert result.returncode == 2 and "'zero' is not a valid integer" in result.stderr


def test_a_run_that_pauses_for_feedback_exits_3_and_names_its_checkpoint(cli: Cli) -> None:
    cli.write("asks.py", """
        from graflow import task, workflow

        with workflow("asks") as wf:
            @task(inject_context=True)
            def headline(ctx) -> str:
                return ctx.request_text_input("Headline?", timeout=0.1)

            @task
            def publish(headline: str) -> str:
                return f"published: {headline}"

            headline >> publish
    """)
    result = cli("run", "asks.py", "--quiet")
    assert result.returncode == 3
    assert "paused, waiting for feedback" in result.stderr and ".pkl" in result.stderr
    assert result.stdout == ""


def test_a_run_stopped_by_max_steps_exits_4(cli: Cli) -> None:
    cli.write("loops.py", """
        from graflow import task, workflow

        with workflow("loops") as wf:
            @task(inject_context=True, max_cycles=1000)
            def tick(ctx, n: int = 0) -> int:
                ctx.next_iteration(n + 1)
                return n
    """)
    result = cli("run", "loops.py", "--max-steps", "5", "--quiet")
    assert result.returncode == 4
    assert "stopped after max_steps=5 with tasks still queued (tick_cycle_5" in result.stderr


def test_a_cancelled_run_exits_5(cli: Cli) -> None:
    cli.write("cancels.py", """
        from graflow import task, workflow

        with workflow("cancels") as wf:
            @task(inject_context=True)
            def decide(ctx) -> None:
                ctx.cancel_workflow("nothing to do today")

            @task
            def never() -> None:
                raise AssertionError("ran after the cancel")

            decide >> never
    """)
    result = cli("run", "cancels.py", "--quiet")
    assert result.returncode == 5
    assert "canceled: nothing to do today" in result.stderr


def test_a_workflow_terminated_by_a_task_exits_0(cli: Cli) -> None:
    cli.write("stops.py", """
        from graflow import task, workflow

        with workflow("stops") as wf:
            @task(inject_context=True)
            def enough(ctx) -> str:
                ctx.terminate_workflow("done early")
                return "early"

            @task
            def never() -> None:
                raise AssertionError("ran after terminate")

            enough >> never
    """)
    result = cli("run", "stops.py", "--quiet")
    assert (result.returncode, result.stdout) == (0, "early\n")
