"""``@task(timeout=...)``, the handler errors, and how the handlers are reached: registry names and import paths."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core import registry, serialization
from graflow.exceptions import GraflowRuntimeError, TaskTimeoutError
from graflow.handlers import HandlerUnavailableError, SubprocessTaskHandler, TaskProcessError

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- the timeout option ------------------------------------------------------------------------------------------


def test_timeout_is_stored_on_the_task_and_travels_with_it() -> None:
    @task(handler="subprocess", timeout=2.5)
    def bounded() -> None:
        return None

    @task
    def unbounded() -> None:
        return None

    assert (bounded.timeout, unbounded.timeout) == (2.5, None)
    assert serialization.loads(serialization.dumps(bounded)).timeout == 2.5
    assert bounded(task_id="bounded_copy").timeout == 2.5  # a bound instance keeps it


@pytest.mark.parametrize("value", [0, -3, "10", True, float("nan"), float("inf")])
def test_timeout_must_be_a_positive_number(value: Any) -> None:
    with pytest.raises(ValueError, match=r"Task 'bad': timeout must be a positive number of seconds"):

        @task("bad", handler="subprocess", timeout=value)
        def bad() -> None:
            return None


def test_a_timeout_on_an_in_process_task_is_warned_about_once_when_the_task_is_made(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a direct task with a timeout
    with caplog.at_level(logging.WARNING, logger="graflow.core.signature"), workflow("direct_timeout") as wf:

        @task(timeout=5)
        def quick() -> int:
            return 1

        quick(task_id="again")
    made = [r.getMessage() for r in caplog.records]
    # when it runs
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        wf.execute(start_node="quick")
    # then the warning came once, when the task was made, and not when it ran
    assert len(made) == 1 and "'quick' has timeout=5s but runs in-process" in made[0]
    assert not [r for r in caplog.records if "timeout" in r.getMessage()]


def test_a_timeout_on_a_task_of_another_handler_is_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="graflow.core.signature"):

        @task(handler="subprocess", timeout=5)
        def isolated() -> None:
            return None

    assert caplog.records == []


# -- errors --------------------------------------------------------------------------------------------------------


def test_task_timeout_error_carries_its_fields_and_pickles() -> None:
    error = TaskTimeoutError("train", 90)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, GraflowRuntimeError)
    assert (copy.task_id, copy.timeout, str(copy)) == ("train", 90, "Task 'train' timed out after 90s and was stopped")


def test_handler_errors_pickle_with_their_fields() -> None:
    crash = TaskProcessError("t", "subprocess", exit_code=3, stderr_tail=["boom"])
    signal = TaskProcessError("t", "container", signal_name="SIGKILL")
    missing = HandlerUnavailableError("t", "docker", "no engine")
    for error in (crash, signal, missing):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert isinstance(copy, GraflowRuntimeError)
    assert str(crash) == ("Task 't' failed: its subprocess exited with code 3 without reporting an outcome; "
                          "last stderr lines:\n  boom")
    assert "was killed by SIGKILL" in str(signal)


# -- registry names and import paths -------------------------------------------------------------------------------


def test_the_registry_names_the_handlers() -> None:
    from graflow.handlers import DockerTaskHandler

    assert {"docker", "subprocess"} <= set(registry.names("task_handler"))
    assert registry.resolve("task_handler", "subprocess") is SubprocessTaskHandler
    assert registry.resolve("task_handler", "docker") is DockerTaskHandler


def test_the_core_paths_give_the_adapter_classes() -> None:
    from graflow.core.handlers.docker import DockerTaskHandler as FromCoreDocker
    from graflow.core.handlers.subprocess import SubprocessTaskHandler as FromCoreSubprocess
    from graflow.handlers import DockerTaskHandler

    assert FromCoreDocker is DockerTaskHandler and FromCoreSubprocess is SubprocessTaskHandler
    import graflow.core.handlers.docker as module

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        module.Nope  # noqa: B018 - the attribute access is the test


def modules_loaded_by(code: str) -> set[str]:
    script = (
        "import json, sys\n"
        f"exec({code!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                            cwd=REPO_ROOT, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_core_paths_loads_neither_the_adapter_nor_the_docker_sdk() -> None:
    loaded = modules_loaded_by("import graflow.core.handlers.docker, graflow.core.handlers.subprocess")
    assert "docker" not in loaded and "graflow.handlers" not in loaded


def test_the_adapter_loads_the_docker_sdk_only_when_a_container_runs() -> None:
    loaded = modules_loaded_by("from graflow.core.handlers.docker import DockerTaskHandler; DockerTaskHandler()")
    assert "graflow.handlers.docker" in loaded and "docker" not in loaded
