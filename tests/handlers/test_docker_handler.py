"""DockerTaskHandler against a fake Docker Engine whose containers are local processes (tests/handlers/
fake_docker.py), and once against a real engine when one answers."""

from __future__ import annotations

import inspect
import logging
import os
import pickle
import sys
import time
from typing import Any

import pytest

from graflow import task, workflow
from graflow.core.task_context import TaskExecutionContext
from graflow.exceptions import TaskFailedError, TaskTimeoutError
from graflow.handlers import DockerTaskHandler, HandlerUnavailableError, TaskProcessError
from graflow.handlers.docker import MOUNT_ROOT, TASK_DIR, graflow_mounts
from tests.handlers.conftest import BAKED_IMAGE, BARE_IMAGE
from tests.handlers.fake_docker import FakeDockerEngine

pytest.importorskip("docker")


def channel_workflow(name: str) -> Any:
    with workflow(name) as wf:

        @task
        def rows() -> list[int]:
            return [3, 4, 5]

        @task(handler="docker", inject_context=True)
        def summarise(ctx: TaskExecutionContext, rows: list[int]) -> dict[str, Any]:
            ctx.get_channel().set("unit", "rows")
            ctx.get_channel().append("audit", "summarised in a container")
            print("summarising", len(rows), "rows", flush=True)
            print("a warning from the container", file=sys.stderr, flush=True)
            return {"total": sum(rows), "pid": os.getpid()}

        @task
        def report(summarise: dict[str, Any], unit: str, audit: list[str]) -> str:
            return f"{summarise['total']} {unit}; {audit[0]}"

        rows >> summarise >> report
    return wf


def test_a_task_runs_in_a_bare_python_container_with_graflow_mounted(
    fake_docker: FakeDockerEngine, capfd: pytest.CaptureFixture[str]
) -> None:
    # given a task handled by a container of a bare Python image (nothing of graflow installed in it)
    wf = channel_workflow("docker_mount")
    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url))
    # when the workflow runs
    result, ctx = wf.execute(ret_context=True)
    # then the task ran in the container with its input; its result and channel writes came back
    assert result == "12 rows; summarised in a container"
    assert ctx.get_result("summarise")["pid"] != os.getpid()
    # and the container's output was passed on, stdout to stdout and stderr to stderr
    out, err = capfd.readouterr()
    assert "summarising 3 rows" in out and "a warning from the container" in err
    # and graflow reached it read-only through a mount on PYTHONPATH: nothing was pulled or installed
    assert fake_docker.pull_attempts == []
    assert fake_docker.removed and not fake_docker.containers


def test_the_mount_covers_graflow_and_its_core_dependencies_read_only() -> None:
    mounts = graflow_mounts()
    binds = {spec["bind"]: spec["mode"] for spec in mounts.values()}
    assert binds[f"{MOUNT_ROOT}/graflow"] == "ro"
    assert {f"{MOUNT_ROOT}/cloudpickle", f"{MOUNT_ROOT}/networkx", f"{MOUNT_ROOT}/typing_extensions.py"} <= set(binds)
    assert set(binds.values()) == {"ro"}
    handler = DockerTaskHandler(environment={"PYTHONPATH": "/app", "MODE": "batch"})
    assert handler.container_environment() == {"PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{MOUNT_ROOT}:/app",
                                               "MODE": "batch"}
    assert handler.command() == ["python", "-m", "graflow.handlers.runner", TASK_DIR]


def test_an_image_with_graflow_baked_in_needs_no_mount(fake_docker: FakeDockerEngine) -> None:
    wf = channel_workflow("docker_image")
    handler = DockerTaskHandler(image=BAKED_IMAGE, base_url=fake_docker.base_url, install_graflow="image",
                                auto_remove=False)
    wf.register_handler("docker", handler)
    assert wf.execute() == "12 rows; summarised in a container"
    container = fake_docker.container_created_last()
    assert "PYTHONPATH" not in container.env
    assert not (container.root / "opt").exists()  # no bind mount was asked for


def test_auto_mount_graflow_false_means_the_image_has_graflow() -> None:
    handler = DockerTaskHandler(auto_mount_graflow=False)
    assert handler.install_graflow == "image"
    assert handler.container_volumes() == {}
    assert "PYTHONPATH" not in handler.container_environment()


def test_a_bare_image_without_the_mount_fails_naming_the_missing_module(fake_docker: FakeDockerEngine) -> None:
    wf = channel_workflow("docker_missing_graflow")
    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url,
                                                    install_graflow="image"))
    with pytest.raises(TaskProcessError) as info:
        wf.execute()
    error = info.value
    assert (error.task_id, error.where, error.exit_code) == ("summarise", "container", 1)
    assert any("No module named 'graflow'" in line for line in error.stderr_tail)


def test_pip_mode_installs_this_graflow_version_before_the_task() -> None:
    import cloudpickle

    import graflow

    command = DockerTaskHandler(install_graflow="pip").command()
    assert command[:2] == ["python", "-c"] and "pip" in command[2]
    assert command[3:] == [f"graflow=={graflow.__version__}", f"cloudpickle=={cloudpickle.__version__}", TASK_DIR]
    assert DockerTaskHandler(install_graflow="pip").container_volumes() == {}


def test_an_unknown_install_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="install_graflow must be one of mount, image, pip"):
        DockerTaskHandler(install_graflow="conda")


def test_the_tasks_exception_comes_back_from_the_container(fake_docker: FakeDockerEngine) -> None:
    with workflow("docker_error") as wf:

        @task(handler="docker")
        def broken() -> None:
            raise KeyError("customer 42")

    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url))
    with pytest.raises(TaskFailedError) as info:
        wf.execute()
    assert isinstance(info.value.cause, KeyError) and info.value.cause.args == ("customer 42",)


def test_a_crashed_container_is_reported_with_its_exit_code_and_stderr(fake_docker: FakeDockerEngine) -> None:
    with workflow("docker_crash") as wf:

        @task(handler="docker")
        def crash() -> None:
            print("out of patience", file=sys.stderr, flush=True)
            os._exit(7)

    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url))
    with pytest.raises(TaskProcessError) as info:
        wf.execute()
    assert (info.value.exit_code, info.value.stderr_tail[-1]) == (7, "out of patience")
    assert "its container exited with code 7" in str(info.value)


def test_a_container_killed_by_a_signal_says_so(fake_docker: FakeDockerEngine) -> None:
    with workflow("docker_oom") as wf:

        @task(handler="docker")
        def oom() -> None:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url))
    with pytest.raises(TaskProcessError, match=r"code 137: killed by SIGKILL"):
        wf.execute()


def test_a_container_past_its_timeout_is_killed_and_removed(fake_docker: FakeDockerEngine) -> None:
    # given a task that blocks, with a timeout of its own shorter than the handler's
    with workflow("docker_timeout") as wf:

        @task(handler="docker", timeout=1)
        def stuck() -> None:
            time.sleep(600)

    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url, timeout=300))
    # when it runs
    started = time.monotonic()
    with pytest.raises(TaskTimeoutError) as info:
        wf.execute()
    # then it stopped at the task's own timeout, and the container was killed and removed
    assert (info.value.task_id, info.value.timeout) == ("stuck", 1.0)
    assert time.monotonic() - started < 30
    assert ("POST", f"/containers/{fake_docker.removed[-1]}/kill") in fake_docker.calls
    assert not fake_docker.containers


def test_a_missing_image_is_pulled_and_a_refused_pull_is_reported(fake_docker: FakeDockerEngine) -> None:
    with workflow("docker_no_image") as wf:

        @task(handler="docker")
        def anything() -> None:
            return None

    wf.register_handler("docker", DockerTaskHandler(image="example.org/missing:1", base_url=fake_docker.base_url))
    with pytest.raises(HandlerUnavailableError, match=r"'example\.org/missing:1' is not present and pulling it failed"):
        wf.execute()
    assert fake_docker.pull_attempts == ["example.org/missing:1"]


def test_no_engine_is_reported_as_such(tmp_path: Any) -> None:
    with workflow("docker_no_engine") as wf:

        @task(handler="docker")
        def anything() -> None:
            return None

    wf.register_handler("docker", DockerTaskHandler(base_url=f"unix://{tmp_path}/none.sock"))
    with pytest.raises(HandlerUnavailableError, match="no Docker engine answers") as info:
        wf.execute()
    assert info.value.handler == "docker"


def test_auto_remove_false_keeps_the_container(fake_docker: FakeDockerEngine) -> None:
    wf = channel_workflow("docker_keep")
    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url,
                                                    auto_remove=False))
    wf.execute()
    assert len(fake_docker.containers) == 1 and not fake_docker.removed


def test_the_handler_pickles_for_the_workers_and_mounts_what_the_worker_has(fake_docker: FakeDockerEngine) -> None:
    handler = DockerTaskHandler(image=BARE_IMAGE, base_url=fake_docker.base_url, timeout=30)
    copy = pickle.loads(pickle.dumps(handler))
    assert (copy.image, copy.timeout, copy.install_graflow, copy.get_name()) == (BARE_IMAGE, 30.0, "mount", "docker")
    assert copy.volumes == {}  # the mounts are worked out where the task runs, not where the handler was made
    wf = channel_workflow("docker_pickled")
    wf.register_handler("docker", copy)
    assert wf.execute() == "12 rows; summarised in a container"


def test_a_python_image_of_another_version_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    other = f"python:{sys.version_info.major}.{sys.version_info.minor + 1}-slim"
    with caplog.at_level(logging.WARNING, logger="graflow.handlers.docker"):
        DockerTaskHandler(image=other)
        DockerTaskHandler(image=BARE_IMAGE)
        DockerTaskHandler(image="ghcr.io/acme/trainer:2024")
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and other in warnings[0]


def test_the_0_2_import_path_gives_the_same_class_with_the_0_2_parameters() -> None:
    from graflow.core.handlers.docker import DockerTaskHandler as Upstream

    assert Upstream is DockerTaskHandler
    parameters = list(inspect.signature(Upstream).parameters)
    assert parameters[:6] == ["image", "auto_remove", "environment", "volumes", "device_requests",
                              "auto_mount_graflow"]
    defaults = inspect.signature(Upstream).parameters
    assert (defaults["image"].default, defaults["auto_remove"].default) == ("python:3.11-slim", True)


@pytest.mark.docker
def test_a_task_runs_in_a_real_docker_engine() -> None:
    import docker

    try:
        docker.from_env().ping()
    except Exception:  # noqa: BLE001 - any failure means there is no engine to test against
        pytest.skip("no Docker engine")
    wf = channel_workflow("docker_real")
    wf.register_handler("docker", DockerTaskHandler(image=BARE_IMAGE, timeout=600))
    assert wf.execute() == "12 rows; summarised in a container"
