"""What ``graflow run`` shows: live progress on a terminal, one line per task event otherwise, only the result with
--quiet; and which workflow it loads from a file or module."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess

from tests.cli.conftest import DEADLINE, Cli, graflow_command

RETRIES = """
    from graflow import task, workflow

    ATTEMPTS = {"n": 0}

    with workflow("flaky") as wf:
        @task
        def load() -> list[int]:
            return [1, 2, 3]

        @task(max_retries=2)
        def total(load: list[int]) -> int:
            ATTEMPTS["n"] += 1
            if ATTEMPTS["n"] < 2:
                raise RuntimeError("not yet")
            return sum(load)

        load >> total
"""


def test_without_a_terminal_each_task_event_is_one_plain_line(cli: Cli) -> None:
    cli.write("flaky.py", RETRIES)
    result = cli("run", "flaky.py")  # stdout is a pipe here: plain lines without asking
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Running flaky as run [0-9a-f]{32}", lines[0])
    events = [line.split()[1:3] for line in lines[1:-2]]
    assert events == [["start", "load"], ["done", "load"], ["start", "total"], ["failed", "total"],
                      ["retry", "total"], ["start", "total"], ["done", "total"]]
    assert "RuntimeError: not yet" in lines[4] and "attempt 2" in lines[5]
    assert lines[-2].startswith("Completed in ") and "2 task(s)" in lines[-2]
    assert lines[-1] == "6"
    assert "\x1b[" not in result.stdout


def test_quiet_prints_only_the_result(cli: Cli) -> None:
    cli.write("flaky.py", RETRIES)
    result = cli("run", "flaky.py", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "6\n", "")


def test_on_a_terminal_progress_is_live_and_ends_with_the_tally(cli: Cli) -> None:
    # given a terminal (a pseudo-terminal) as the command's stdout
    cli.write("flaky.py", RETRIES)
    leader, follower = pty.openpty()
    process = subprocess.Popen([*graflow_command(), "run", "flaky.py"], cwd=cli.workdir, stdin=follower,
                               stdout=follower, stderr=follower, env={**cli.env, "TERM": "xterm-256color"})
    os.close(follower)
    output = b""
    try:
        while True:  # read until the child closes the terminal
            ready, _, _ = select.select([leader], [], [], DEADLINE)
            assert ready, f"no output for {DEADLINE}s; so far: {output[-500:]!r}"
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child has gone
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
        process.wait(DEADLINE)
    text = output.decode()
    # then the display redraws in place, reports the retry above it, and ends with every task done
    assert process.returncode == 0
    assert "\x1b[" in text  # cursor movement: redrawn, not appended
    assert "2/2 tasks" in text and "completed" in text
    assert "retry" in text and "attempt 2" in text
    assert "failed attempts: 1" in text
    assert text.rstrip().endswith("6")


def test_plain_is_also_plain_on_a_terminal(cli: Cli) -> None:
    cli.write("flaky.py", RETRIES)
    leader, follower = pty.openpty()
    process = subprocess.Popen([*graflow_command(), "run", "flaky.py", "--plain"], cwd=cli.workdir,
                               stdout=follower, stderr=follower, env={**cli.env, "TERM": "xterm-256color"})
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], DEADLINE)
        assert ready
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(DEADLINE) == 0
    text = b"".join(chunks).decode()
    assert "\x1b[" not in text and " start   load" in text


def test_parameters_are_json_when_they_parse_and_strings_otherwise(cli: Cli) -> None:
    cli.write("echo.py", """
        from graflow import task, workflow

        with workflow("echo") as wf:
            @task(inject_context=True)
            def show(ctx) -> dict:
                channel = ctx.get_channel()
                return {key: [channel.get(key), type(channel.get(key)).__name__]
                        for key in ("n", "ids", "day", "flag", "quoted", "eq")}
    """)
    result = cli("run", "echo.py", "--quiet", "-p", "n=3", "-p", "ids=[1, 2]", "-p", "day=2025-01-31",
                 "-p", "flag=true", "-p", 'quoted="3"', "-p", "eq=a=b")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": [3, "int"], "ids": [[1, 2], "list"], "day": ["2025-01-31", "str"],
                                         "flag": [True, "bool"], "quoted": ["3", "str"], "eq": ["a=b", "str"]}


def test_guarded_main_code_does_not_run_and_a_factory_is_called(cli: Cli) -> None:
    cli.write("script.py", """
        from graflow import task, workflow

        def build():
            with workflow("built") as wf:
                @task
                def hello() -> str:
                    return "hello from the factory"
            return wf

        if __name__ == "__main__":
            print("the script's own main ran")
            build().execute()
    """)
    result = cli("run", "script.py:build", "--quiet")
    assert (result.returncode, result.stdout) == (0, "hello from the factory\n")


def test_two_workflows_without_a_name_are_refused_naming_both(cli: Cli) -> None:
    cli.write("two.py", """
        from graflow import task, workflow

        with workflow("a") as first_flow:
            @task
            def x() -> int:
                return 1

        with workflow("b") as second_flow:
            @task
            def y() -> int:
                return 2
    """)
    result = cli("run", "two.py")
    assert result.returncode == 2
    assert result.stderr == ("graflow run: two.py defines 2 workflows (first_flow, second_flow); "
                             "choose one with two.py:NAME\n")
    assert cli("run", "two.py:second_flow", "-q").stdout == "2\n"
    assert cli("run", "two.py:b", "-q").stdout == "2\n"  # a workflow's own name works too


def test_a_module_spec_is_found_from_the_current_folder(cli: Cli) -> None:
    (cli.workdir / "pipelines").mkdir()
    (cli.workdir / "pipelines" / "__init__.py").write_text("")
    cli.write("pipelines/etl.py", """
        from graflow import task, workflow

        with workflow("etl") as flow:
            @task
            def extract() -> str:
                return "extracted"
    """)
    assert cli("run", "pipelines.etl:flow", "-q").stdout == "extracted\n"
    result = cli("run", "pipelines.nothere")
    assert (result.returncode, result.stderr) == (2, "graflow run: no such file or module: pipelines.nothere\n")


def test_a_file_that_fails_to_import_is_named_with_the_line(cli: Cli) -> None:
    cli.write("broken.py", """
        from graflow import workflow

        wf = workflow("broken")
        raise RuntimeError("cannot build")
    """)
    result = cli("run", "broken.py")
    assert result.returncode == 2
    assert result.stderr == "graflow run: broken.py failed to load: RuntimeError: cannot build (line 4)\n"


def test_several_start_candidates_ask_for_start(cli: Cli) -> None:
    cli.write("fork.py", """
        from graflow import task, workflow

        with workflow("fork") as wf:
            @task
            def a() -> int:
                return 1

            @task
            def b() -> int:
                return 2
    """)
    result = cli("run", "fork.py")
    assert result.returncode == 2
    assert result.stderr == ("graflow run: workflow 'fork' has 2 start candidates (a, b); "
                             "pick one with --start TASK\n")
    assert cli("run", "fork.py", "--start", "b", "-q").stdout == "2\n"
