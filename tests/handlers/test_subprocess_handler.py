"""SubprocessTaskHandler: each attempt in a fresh Python process, with results, channel writes, scheduling,
timeouts and crashes brought back to the run."""

from __future__ import annotations

import os
import pickle
import select
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import GraflowRuntimeError, TaskFailedError, TaskTimeoutError
from graflow.handlers import HandlerUnavailableError, SubprocessTaskHandler, TaskProcessError


def run(wf: Any, handler: SubprocessTaskHandler | None = None, **options: Any) -> Any:
    wf.register_handler("subprocess", handler or SubprocessTaskHandler())
    return wf.execute(**options)


def exits_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (not necessarily our child) has exited, or does within ``seconds``."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([handle], [], [], seconds)  # a pidfd turns readable when the process exits
        return bool(readable)
    finally:
        os.close(handle)


# -- results, inputs and channel writes ---------------------------------------------------------------------------


def test_a_task_runs_in_another_process_with_its_inputs_and_its_writes_come_back() -> None:
    # given a task handled by the subprocess handler between two in-process tasks
    with workflow("subprocess_basics") as wf:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task(handler="subprocess", inject_context=True)
        def total(ctx: TaskExecutionContext, numbers: list[int]) -> dict[str, Any]:
            channel = ctx.get_channel()
            channel.set("unit", "items")
            channel.append("log", "summed")
            channel.atomic_add("counter", 5)
            return {"sum": sum(numbers), "pid": os.getpid()}

        @task
        def report(total: dict[str, Any], unit: str, log: list[str], counter: int) -> str:
            return f"{total['sum']} {unit} {log} {counter}"

        numbers >> total >> report

    # when it runs
    wf.register_handler("subprocess", SubprocessTaskHandler())
    ctx = wf.execute(ret_context=True)[1]
    # then the task ran elsewhere, saw its resolved input, and its result and writes reached the run's channel
    assert ctx.get_result("report") == "6 items ['summed'] 5"
    assert ctx.get_result("total")["pid"] != os.getpid()


def test_the_task_reads_the_channel_as_it_was_when_it_started() -> None:
    with workflow("subprocess_reads") as wf:

        @task(inject_context=True)
        def seed(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("greeting", "hello")

        @task(handler="subprocess", inject_context=True)
        def shout(ctx: TaskExecutionContext) -> str:
            return str(ctx.get_channel().get("greeting")).upper()

        seed >> shout

    wf.register_handler("subprocess", SubprocessTaskHandler())
    assert wf.execute() == "HELLO"


def test_the_childs_stdout_passes_through(capfd: pytest.CaptureFixture[str]) -> None:
    with workflow("subprocess_stdout") as wf:

        @task(handler="subprocess")
        def talk() -> None:
            print("said in the child", flush=True)
            print("warned in the child", file=sys.stderr, flush=True)

    run(wf)
    out, err = capfd.readouterr()
    assert "said in the child" in out
    assert "warned in the child" in err


def test_a_member_of_a_parallel_group_runs_in_its_own_process() -> None:
    # given a group whose second member is handled by the subprocess handler
    with workflow("subprocess_group") as wf:

        @task
        def local() -> int:
            return os.getpid()

        @task(handler="subprocess", inject_context=True)
        def isolated(ctx: TaskExecutionContext) -> int:
            ctx.get_channel().set("isolated_note", "written in a subprocess")
            return os.getpid()

        @task
        def join(local: int, isolated: int, isolated_note: str) -> tuple[bool, str]:
            return (local != isolated, isolated_note)

        (local | isolated) >> join

    # when the workflow runs (members concurrently, D15: the member finds the workflow's handler)
    result = run(wf)
    # then the member ran in another process and its write is visible after the group
    assert result == (True, "written in a subprocess")


def test_a_handler_registered_on_an_engine_runs_the_task() -> None:
    with workflow("subprocess_engine") as wf:

        @task(handler="isolated")
        def pid() -> int:
            return os.getpid()

    engine = WorkflowEngine()
    engine.register_handler("isolated", SubprocessTaskHandler())
    assert engine.execute(ExecutionContext.create(wf.graph)) != os.getpid()


def test_a_handler_called_by_hand_runs_the_task_and_stores_its_result() -> None:
    with workflow("by_hand") as wf:

        @task
        def answer() -> int:
            return 42

    ctx = ExecutionContext.create(wf.graph)
    assert SubprocessTaskHandler().execute_task(answer, ctx) == 42
    assert ctx.get_result("answer") == 42


def test_a_bound_instance_passes_its_keywords() -> None:
    with workflow("bound") as wf:

        @task(handler="subprocess")
        def scale(value: int, factor: int = 1) -> int:
            return value * factor

        scale(task_id="scaled", value=7, factor=3)

    assert run(wf, start_node="scaled") == 21


# -- scheduling and control ----------------------------------------------------------------------------------------


def iterating_workflow(name: str) -> Any:
    with workflow(name) as wf:

        @task(handler="subprocess", inject_context=True, max_cycles=10)
        def count(ctx: TaskExecutionContext, data: int = 0) -> int:
            ctx.get_channel().append("seen", data)
            if data < 2:
                ctx.next_iteration(data + 1)
            else:
                ctx.terminate_workflow("enough")
            return data

        @task
        def after() -> str:
            return "after"

        count >> after
    return wf


def test_next_iteration_and_terminate_made_in_the_child_act_on_the_run_as_in_process() -> None:
    # given the same iterating workflow, once with its task in a subprocess and once in-process
    from graflow.core.handlers.direct import DirectTaskHandler

    isolated = iterating_workflow("iterations_isolated")
    isolated.register_handler("subprocess", SubprocessTaskHandler())
    in_process = iterating_workflow("iterations_in_process")
    in_process.register_handler("subprocess", DirectTaskHandler())
    # when both run
    result, ctx = isolated.execute(ret_context=True)
    expected_result, expected = in_process.execute(ret_context=True)
    # then the iterations, the run's end and what ran are the same
    assert ctx.channel.get("seen") == expected.channel.get("seen") == [0, 1, 2]
    assert (result, ctx.status) == (expected_result, expected.status) == (2, "terminated")
    assert [t.split("_cycle_")[0] for t in ctx.completed_tasks] == [
        t.split("_cycle_")[0] for t in expected.completed_tasks
    ]


def test_next_task_made_in_the_child_queues_the_task_in_the_run() -> None:
    with workflow("subprocess_next_task") as wf:

        @task(handler="subprocess", inject_context=True)
        def router(ctx: TaskExecutionContext) -> str:
            @task("followup")
            def followup() -> str:
                return "followed up"

            ctx.next_task(followup)
            return "routed"

    wf.register_handler("subprocess", SubprocessTaskHandler())
    _, ctx = wf.execute(ret_context=True)
    assert ctx.get_result("followup") == "followed up"


def test_cancel_workflow_made_in_the_child_cancels_the_run() -> None:
    with workflow("subprocess_cancel") as wf:

        @task(handler="subprocess", inject_context=True)
        def stop(ctx: TaskExecutionContext) -> None:
            ctx.cancel_workflow("no input")

    wf.register_handler("subprocess", SubprocessTaskHandler())
    with pytest.raises(GraflowRuntimeError, match="no input"):
        wf.execute()


# -- errors ------------------------------------------------------------------------------------------------------


def test_the_tasks_exception_comes_back_as_itself_with_the_childs_traceback() -> None:
    with workflow("subprocess_error") as wf:

        @task(handler="subprocess")
        def broken() -> None:
            raise ValueError("bad input row 7")

    with pytest.raises(TaskFailedError) as info:
        run(wf)
    cause = info.value.cause
    assert isinstance(cause, ValueError) and str(cause) == "bad input row 7"
    notes = "\n".join(getattr(cause, "__notes__", []))
    assert "Traceback in the task's process" in notes and "in broken" in notes


def test_a_failed_attempt_is_retried_in_a_fresh_process_and_keeps_its_channel_writes() -> None:
    with workflow("subprocess_retry") as wf:

        @task(handler="subprocess", inject_context=True, max_retries=2)
        def flaky(ctx: TaskExecutionContext) -> int:
            ctx.get_channel().atomic_add("attempts", 1)
            if ctx.retry_count < 1:
                raise ConnectionError("transient")
            return ctx.retry_count

    wf.register_handler("subprocess", SubprocessTaskHandler())
    result, ctx = wf.execute(ret_context=True)
    assert result == 1
    assert ctx.channel.get("attempts") == 2


def test_a_crash_names_the_exit_code_and_the_last_stderr_lines() -> None:
    with workflow("subprocess_crash") as wf:

        @task(handler="subprocess")
        def crash() -> None:
            print("loading model weights", file=sys.stderr, flush=True)
            os._exit(3)

    with pytest.raises(TaskProcessError) as info:
        run(wf)
    error = info.value
    assert (error.task_id, error.exit_code, error.signal_name) == ("crash", 3, None)
    assert error.stderr_tail[-1] == "loading model weights"
    assert "exited with code 3" in str(error) and "loading model weights" in str(error)


def test_a_child_killed_by_a_signal_is_reported_with_the_signal() -> None:
    with workflow("subprocess_signal") as wf:

        @task(handler="subprocess")
        def killed() -> None:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(TaskProcessError, match="killed by SIGKILL") as info:
        run(wf)
    assert info.value.signal_name == "SIGKILL" and info.value.exit_code is None


def test_a_result_that_cannot_be_pickled_is_reported_as_the_tasks_error() -> None:
    with workflow("subprocess_unpicklable") as wf:

        @task(handler="subprocess")
        def lock() -> Any:
            import threading

            return threading.Lock()

    with pytest.raises(TaskFailedError, match="cannot be pickled"):
        run(wf)


def test_an_interpreter_that_does_not_exist_is_reported_before_anything_runs(tmp_path: Path) -> None:
    with workflow("subprocess_no_python") as wf:

        @task(handler="subprocess")
        def anything() -> None:
            return None

    with pytest.raises(HandlerUnavailableError, match="no Python interpreter"):
        run(wf, SubprocessTaskHandler(python=str(tmp_path / "missing" / "python")))
    with pytest.raises(HandlerUnavailableError, match="folder without bin/python"):
        run(wf, SubprocessTaskHandler(python=tmp_path))


def test_a_virtual_environment_folder_selects_its_interpreter() -> None:
    with workflow("subprocess_venv") as wf:

        @task(handler="subprocess")
        def which() -> str:
            return sys.executable

    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        pytest.skip("this interpreter does not run from a virtual environment")
    assert run(wf, SubprocessTaskHandler(python=venv)) == str(venv / "bin" / "python")


def test_env_and_cwd_reach_the_child(tmp_path: Path) -> None:
    with workflow("subprocess_env") as wf:

        @task(handler="subprocess")
        def where() -> tuple[str, str]:
            return os.environ["REPORT_MODE"], os.getcwd()

    handler = SubprocessTaskHandler(env={"REPORT_MODE": "dry-run"}, cwd=tmp_path)
    assert run(wf, handler) == ("dry-run", str(tmp_path.resolve()))


# -- timeouts ----------------------------------------------------------------------------------------------------


def test_a_task_past_its_timeout_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    # given a task that starts a helper process, records its pid, then blocks
    pid_file = tmp_path / "helper.pid"

    with workflow("subprocess_timeout") as wf:

        @task(handler="subprocess", timeout=1.5)
        def stuck() -> None:
            import subprocess

            helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            pid_file.write_text(str(helper.pid))
            time.sleep(600)

    # when it runs
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError) as info:
        run(wf)
    # then it was stopped at its timeout, and the helper it started went with it
    assert (info.value.task_id, info.value.timeout) == ("stuck", 1.5)
    assert time.monotonic() - started < 30
    assert exits_within(int(pid_file.read_text()), 10)


def test_the_tasks_own_timeout_wins_over_the_handlers() -> None:
    with workflow("subprocess_timeout_wins") as wf:

        @task(handler="subprocess", timeout=0.5)
        def slow() -> None:
            time.sleep(600)

    with pytest.raises(TaskTimeoutError) as info:
        run(wf, SubprocessTaskHandler(timeout=300))
    assert info.value.timeout == 0.5


def test_the_handlers_timeout_applies_to_tasks_without_their_own() -> None:
    with workflow("subprocess_handler_timeout") as wf:

        @task(handler="subprocess")
        def slow() -> None:
            time.sleep(600)

    with pytest.raises(TaskTimeoutError) as info:
        run(wf, SubprocessTaskHandler(timeout=0.5))
    assert (info.value.task_id, info.value.timeout) == ("slow", 0.5)


def test_a_timeout_is_stored_as_the_tasks_result() -> None:
    with workflow("subprocess_timeout_result") as wf:

        @task(handler="subprocess", timeout=0.5)
        def slow() -> None:
            time.sleep(600)

    wf.register_handler("subprocess", SubprocessTaskHandler())
    ctx = ExecutionContext.create(wf.graph, handlers=wf.handlers)
    with pytest.raises(TaskTimeoutError):
        WorkflowEngine().execute(ctx)
    assert isinstance(ctx.get_result("slow"), TaskTimeoutError)


@pytest.mark.parametrize("timeout", [0, -1, "5", True, float("inf")])
def test_a_handler_timeout_must_be_a_positive_number(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        SubprocessTaskHandler(timeout=timeout)


def test_the_handler_pickles_for_the_workers() -> None:
    handler = SubprocessTaskHandler(timeout=5, env={"A": "1"}, cwd="/tmp")
    copy = pickle.loads(pickle.dumps(handler))
    assert (copy.timeout, copy.env, copy.cwd, copy.get_name()) == (5.0, {"A": "1"}, "/tmp", "subprocess")


def test_a_channel_value_that_cannot_be_pickled_is_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    with workflow("subprocess_unpicklable_channel") as wf:

        @task(inject_context=True)
        def seed(ctx: TaskExecutionContext) -> None:
            ctx.get_channel().set("lock", threading.Lock())
            ctx.get_channel().set("plain", 1)

        @task(handler="subprocess", inject_context=True)
        def read(ctx: TaskExecutionContext) -> tuple[bool, int]:
            channel = ctx.get_channel()
            return channel.exists("lock"), channel.get("plain")

        seed >> read

    with caplog.at_level("WARNING", logger="graflow.handlers.protocol"):
        assert run(wf) == (False, 1)
    assert any("'lock' cannot be pickled" in r.getMessage() for r in caplog.records)


def test_an_input_that_cannot_be_pickled_fails_the_task_before_a_process_starts() -> None:
    import threading

    with workflow("subprocess_unpicklable_input") as wf:

        @task
        def make() -> Any:
            return threading.Lock()

        @task(handler="subprocess")
        def use(make: Any) -> None:
            return None

        make >> use

    with pytest.raises(TaskFailedError, match="cannot run in another process: the task or its inputs cannot be"):
        run(wf)
