"""Errors that name the task, the parameter and the likely typo."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from graflow import task, workflow
from graflow.exceptions import GraflowRuntimeError, TaskFailedError

ROOT = Path(__file__).resolve().parents[3]


def test_a_failing_task_is_named_once_with_the_error_type() -> None:
    with workflow("failing") as wf:

        @task
        def parse() -> float:
            return 1 / 0

        with pytest.raises(GraflowRuntimeError) as err:
            wf.execute()
    assert isinstance(err.value, TaskFailedError)
    assert str(err.value) == "Task 'parse' failed: ZeroDivisionError: division by zero"
    assert err.value.task_id == "parse"
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def test_an_exception_with_an_empty_message_still_names_its_type() -> None:
    with workflow("empty") as wf:

        @task
        def quiet() -> None:
            raise RuntimeError

        with pytest.raises(TaskFailedError, match=r"^Task 'quiet' failed: RuntimeError$"):
            wf.execute()


def test_an_unfilled_parameter_with_a_similar_upstream_name_gets_a_hint() -> None:
    with workflow("typo") as wf:

        @task
        def load() -> list[int]:
            return [1, 2]

        @task
        def count(lod: list[int]) -> int:
            return len(lod)

        load >> count
        with pytest.raises(TaskFailedError) as err:
            wf.execute()
    message = str(err.value)
    assert message.startswith("Task 'count' failed: TypeError: parameter 'lod' has no value")
    assert "did you mean 'load'?" in message
    assert message.count("count") == 1  # the task is named once


def test_an_unfilled_parameter_without_a_similar_name_gets_no_guess() -> None:
    with workflow("no-guess") as wf:

        @task
        def needs(zebra: int) -> int:
            return zebra

        with pytest.raises(TaskFailedError) as err:
            wf.execute()
    assert "parameter 'zebra' has no value" in str(err.value)
    assert "did you mean" not in str(err.value)


def test_a_default_used_beside_a_similar_name_is_logged_once_per_task(caplog: pytest.LogCaptureFixture) -> None:
    with workflow("default-typo") as wf:

        @task
        def load() -> list[int]:
            return [1]

        @task(inject_context=True)
        def count(ctx, lod: list[int] | None = None) -> int:  # type: ignore[no-untyped-def]
            if ctx.cycle_count < 3:
                ctx.next_iteration()
            return 0 if lod is None else len(lod)

        load >> count
        with caplog.at_level(logging.WARNING, logger="graflow"):
            wf.execute()
    hints = [r for r in caplog.records if "took its default value" in r.getMessage()]
    assert len(hints) == 1
    assert "'lod'" in hints[0].getMessage() and "did you mean 'load'?" in hints[0].getMessage()


def test_a_default_without_a_similar_name_is_used_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with workflow("default") as wf:

        @task
        def scale(factor: int = 3) -> int:
            return factor * 2

        with caplog.at_level(logging.WARNING, logger="graflow"):
            assert wf.execute() == 6
    assert "took its default value" not in caplog.text


def test_max_steps_reached_warns_on_stderr_and_says_what_is_left(tmp_path: Path) -> None:
    program = tmp_path / "spin.py"
    program.write_text(
        "from graflow import task, workflow\n"
        "with workflow('spin') as wf:\n"
        "    @task(inject_context=True)\n"
        "    def a(ctx):\n"
        "        ctx.next_task(b)\n"
        "    @task(inject_context=True)\n"
        "    def b(ctx):\n"
        "        ctx.next_task(a)\n"
        "    _, ctx = wf.execute('a', max_steps=5, ret_context=True)\n"
        "    print(ctx.status)\n",
        encoding="utf-8",
    )
    proc = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "max_steps_reached"
    assert "Workflow 'spin' stopped after max_steps=5 with 1 task(s) still queued (b)" in proc.stderr


def test_a_task_failure_survives_pickling_as_workers_send_it() -> None:
    import pickle

    error = TaskFailedError("parse", ZeroDivisionError("division by zero"))
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.task_id == "parse"
    assert isinstance(again.__cause__, ZeroDivisionError)
