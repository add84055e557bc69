"""Run each task attempt in a Docker container (needs ``graflow[docker]`` and a Docker engine).

The container runs ``python -m graflow.handlers.runner`` on a task directory copied into it (``/tmp/graflow-task``)
and leaves its outcome there; the handler copies it out once the container has stopped, so nothing but the task's
own output goes through the logs, and a remote engine works as well as a local one. Graflow itself reaches the
container in one of three ways (``install_graflow``):

* ``"mount"`` (default): the running graflow package and its pure-Python dependencies (cloudpickle, networkx,
  typing_extensions) are bind-mounted read-only under ``/opt/graflow/site``, which is put on ``PYTHONPATH``.
  Nothing is downloaded; the engine must see this machine's files (a local engine).
* ``"image"``: the image already has graflow installed (see ``docs/handlers.md``, "Building an image").
* ``"pip"``: the container pip-installs this graflow version and cloudpickle from the package index before the
  task runs (what Graflow 0.2 did); needs network access and a released version.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import signal
import sys
import tarfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from graflow import defaults
from graflow.exceptions import TaskTimeoutError
from graflow.handlers.base import ProcessTaskHandler
from graflow.handlers.errors import HandlerUnavailableError, TaskProcessError
from graflow.handlers.protocol import META_FILE, OUTCOME_FILE, PAYLOAD_FILE

logger = logging.getLogger(__name__)

#: Where the task directory lives in the container (``/tmp`` exists in every image).
TASK_PARENT = "/tmp"
TASK_DIR = f"{TASK_PARENT}/graflow-task"
#: Where ``install_graflow="mount"`` mounts graflow and its dependencies; it is put on ``PYTHONPATH``.
MOUNT_ROOT = "/opt/graflow/site"
#: What the container needs to load a task: graflow and its (pure-Python) core dependencies.
MOUNTED_PACKAGES = ("graflow", "cloudpickle", "networkx", "typing_extensions")
INSTALL_MODES = ("mount", "image", "pip")

# Run by ``install_graflow="pip"``: install the given requirements, then the runner on the last argument.
_PIP_BOOTSTRAP = (
    "import runpy, subprocess, sys; "
    "subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', *sys.argv[1:-1]], stdout=sys.stderr); "
    "sys.argv = ['graflow.handlers.runner', sys.argv[-1]]; "
    "runpy.run_module('graflow.handlers.runner', run_name='__main__', alter_sys=True)"
)


class DockerTaskHandler(ProcessTaskHandler):
    """Runs each attempt of a task in a new Docker container.

    Behaves like :class:`~graflow.handlers.subprocess.SubprocessTaskHandler` (the task's result, channel writes,
    scheduled tasks and control requests come back to the run; a timeout stops the container and raises
    :class:`~graflow.exceptions.TaskTimeoutError`). The container's stdout and stderr are passed on to this
    process's as they come. There is one image per handler: register several names for several images.

    Args:
        image: The image. It is pulled when the engine does not have it.
        auto_remove: Remove the container once its outcome has been copied out.
        environment: Environment variables of the container.
        volumes: Extra bind mounts, ``{host_path: {"bind": container_path, "mode": "ro"}}``.
        device_requests: Device requests (``docker.types.DeviceRequest``), e.g. for GPUs.
        auto_mount_graflow: Graflow 0.2's switch: when ``install_graflow`` is not given, True means ``"mount"``
            and False ``"image"``.
        install_graflow: How graflow reaches the container: ``"mount"``, ``"image"`` or ``"pip"`` (module docs).
        timeout: Seconds an attempt may run (a task's ``@task(timeout=...)`` wins); None: no limit.
        base_url: The engine's address (default: ``DOCKER_HOST`` or the local socket, as ``docker.from_env``).
        python: The Python command in the image.
        container_options: More keyword arguments for ``containers.create`` (``mem_limit``, ``user``,
            ``network_mode`` ...).
    """

    where = "container"

    def __init__(
        self,
        image: str = defaults.DOCKER_IMAGE,
        auto_remove: bool = True,
        environment: dict[str, str] | None = None,
        volumes: dict[str, dict[str, str]] | None = None,
        device_requests: list[Any] | None = None,
        auto_mount_graflow: bool = True,
        *,
        install_graflow: str | None = None,
        timeout: float | None = None,
        base_url: str | None = None,
        python: str = "python",
        container_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(timeout)
        mode = install_graflow or ("mount" if auto_mount_graflow else "image")
        if mode not in INSTALL_MODES:
            raise ValueError(f"install_graflow must be one of {', '.join(INSTALL_MODES)}, got {install_graflow!r}")
        self.image = image
        self.auto_remove = auto_remove
        self.environment = dict(environment or {})
        self.volumes = dict(volumes or {})
        self.device_requests = list(device_requests or [])
        self.auto_mount_graflow = auto_mount_graflow
        self.install_graflow = mode
        self.base_url = base_url
        self.python = python
        self.container_options = dict(container_options or {})
        _warn_on_python_mismatch(image)

    def get_name(self) -> str:
        """Always ``docker``."""
        return "docker"

    # -- what the container is made of ----------------------------------------------------------------------------
    def command(self) -> list[str]:
        """The container's command."""
        if self.install_graflow == "pip":
            return [self.python, "-c", _PIP_BOOTSTRAP, *pip_requirements(), TASK_DIR]
        return [self.python, "-m", "graflow.handlers.runner", TASK_DIR]

    def container_environment(self) -> dict[str, str]:
        """The container's environment: the given one, unbuffered output, and the mount on ``PYTHONPATH``."""
        env = {"PYTHONUNBUFFERED": "1", **self.environment}
        if self.install_graflow == "mount":
            env["PYTHONPATH"] = ":".join(filter(None, [MOUNT_ROOT, self.environment.get("PYTHONPATH")]))
        return env

    def container_volumes(self) -> dict[str, dict[str, str]]:
        """The bind mounts: the given ones, plus graflow's in ``"mount"`` mode (worked out where the task runs)."""
        mounts = dict(self.volumes)
        if self.install_graflow == "mount":
            for host, bind in graflow_mounts().items():
                mounts.setdefault(host, bind)
        return mounts

    # -- one attempt ------------------------------------------------------------------------------------------------
    def run_attempt(self, task_id: str, payload: bytes, meta: bytes, timeout: float | None) -> bytes:
        """Create the container, copy the task directory in, start it, wait (at most ``timeout``), copy the
        outcome out, remove the container."""
        docker = _import_docker(task_id)
        client = self._client(docker, task_id)
        try:
            self._ensure_image(docker, client, task_id)
            options: dict[str, Any] = {**self.container_options}
            if self.device_requests:
                options["device_requests"] = self.device_requests
            try:
                container = client.containers.create(
                    self.image, command=self.command(), environment=self.container_environment(),
                    volumes=self.container_volumes(), detach=True, **options,
                )
            except docker.errors.APIError as exc:
                reason = f"cannot create a container: {exc}"
                raise HandlerUnavailableError(task_id, self.get_name(), reason) from exc
            try:
                return self._run_container(docker, container, task_id, payload, meta, timeout)
            finally:
                if self.auto_remove:
                    _remove(container)
        finally:
            client.close()

    def _run_container(
        self, docker: Any, container: Any, task_id: str, payload: bytes, meta: bytes, timeout: float | None
    ) -> bytes:
        try:
            container.put_archive(TASK_PARENT, task_archive({PAYLOAD_FILE: payload, META_FILE: meta}))
            container.start()
        except docker.errors.APIError as exc:
            reason = f"the container did not start: {exc}"
            raise HandlerUnavailableError(task_id, self.get_name(), reason) from exc
        pumps = [_LogPump(container, "stdout"), _LogPump(container, "stderr")]
        for pump in pumps:
            pump.start()
        status = self._wait(container, task_id, timeout, pumps)
        for pump in pumps:
            pump.join(defaults.HANDLER_KILL_GRACE_SECONDS)
        try:
            outcome = _copy_out(docker, container, f"{TASK_DIR}/{OUTCOME_FILE}")
        except docker.errors.APIError as exc:
            raise TaskProcessError(task_id, self.where, detail=f"its outcome could not be copied out ({exc})") from exc
        if outcome is not None:
            return outcome
        code = int(status.get("StatusCode", -1))
        raise TaskProcessError(task_id, self.where, exit_code=code, stderr_tail=list(pumps[1].tail),
                               detail=_killed_detail(code))

    def _wait(self, container: Any, task_id: str, timeout: float | None, pumps: list[_LogPump]) -> dict[str, Any]:
        started = time.monotonic()
        try:
            status: dict[str, Any] = container.wait(timeout=timeout)
            return status
        except Exception as exc:
            # the SDK reports the read timeout of its wait request as requests' ReadTimeout
            timed_out = timeout is not None and (
                "Timeout" in type(exc).__name__ or time.monotonic() - started >= timeout
            )
            if not timed_out:
                detail = f"waiting for it failed ({type(exc).__name__}: {exc})"
                raise TaskProcessError(task_id, self.where, detail=detail) from exc
            logger.debug("Container of task '%s' passed its timeout (%s): stopping it", task_id, exc)
        try:
            container.kill()
            container.wait(timeout=defaults.HANDLER_KILL_GRACE_SECONDS * 5)
        except Exception as exc:  # noqa: BLE001 - it may have stopped on its own meanwhile
            logger.debug("Stopping the container of task '%s': %s", task_id, exc)
        for pump in pumps:
            pump.join(defaults.HANDLER_KILL_GRACE_SECONDS)
        assert timeout is not None
        raise TaskTimeoutError(task_id, timeout)

    def _client(self, docker: Any, task_id: str) -> Any:
        try:
            if self.base_url is not None:
                return docker.DockerClient(base_url=self.base_url)
            return docker.from_env()
        except docker.errors.DockerException as exc:
            where = self.base_url or "DOCKER_HOST or the local socket"
            reason = f"no Docker engine answers at {where}: {exc}"
            raise HandlerUnavailableError(task_id, self.get_name(), reason) from exc

    def _ensure_image(self, docker: Any, client: Any, task_id: str) -> None:
        try:
            client.images.get(self.image)
            return
        except docker.errors.ImageNotFound:
            pass
        logger.info("Pulling image %s for task '%s'", self.image, task_id)
        try:
            client.images.pull(self.image)
        except docker.errors.APIError as exc:
            reason = getattr(exc, "explanation", None) or exc
            raise HandlerUnavailableError(
                task_id, self.where, f"image {self.image!r} is not present and pulling it failed: {reason}"
            ) from exc


class _LogPump(threading.Thread):
    """Passes one of the container's output streams on to ours, keeping its last lines."""

    def __init__(self, container: Any, stream: str) -> None:
        super().__init__(name=f"graflow-docker-{stream}", daemon=True)
        self.container = container
        self.stream = stream
        self.tail: deque[str] = deque(maxlen=defaults.HANDLER_STDERR_TAIL_LINES)

    def run(self) -> None:
        pending = b""
        try:
            chunks = self.container.logs(stream=True, follow=True, stdout=self.stream == "stdout",
                                         stderr=self.stream == "stderr")
            for chunk in chunks:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._emit(line.decode("utf-8", errors="replace") + "\n")
        except Exception as exc:  # noqa: BLE001 - losing the output must not fail the task
            logger.debug("Stopped reading the container's %s: %s", self.stream, exc)
        if pending:
            self._emit(pending.decode("utf-8", errors="replace") + "\n")

    def _emit(self, line: str) -> None:
        self.tail.append(line.rstrip("\n"))
        sink = sys.stdout if self.stream == "stdout" else sys.stderr
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            pass


def graflow_mounts() -> dict[str, dict[str, str]]:
    """Read-only bind mounts of graflow and its core dependencies, as installed in this process."""
    mounts: dict[str, dict[str, str]] = {}
    for name in MOUNTED_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        path = origin.parent if spec.submodule_search_locations else origin
        mounts[str(path)] = {"bind": f"{MOUNT_ROOT}/{path.name}", "mode": "ro"}
    return mounts


def pip_requirements() -> list[str]:
    """What ``install_graflow="pip"`` installs: this graflow version and this cloudpickle version."""
    import cloudpickle

    import graflow

    return [f"graflow=={graflow.__version__}", f"cloudpickle=={cloudpickle.__version__}"]


def task_archive(files: dict[str, bytes]) -> bytes:
    """A tar of the task directory (``graflow-task/<name>``); the folder is writable by any container user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folder = tarfile.TarInfo(Path(TASK_DIR).name)
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o777, int(time.time())
        archive.addfile(folder)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder.name}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _copy_out(docker: Any, container: Any, path: str) -> bytes | None:
    """The file at ``path`` in the (stopped) container, or None when there is none."""
    try:
        chunks, _stat = container.get_archive(path)
        data = b"".join(chunks)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.next()
        extracted = archive.extractfile(member) if member is not None else None
        return extracted.read() if extracted is not None else None


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - a leftover container is not the task's failure
        logger.warning("Could not remove container %s: %s", getattr(container, "id", "?"), exc)


def _killed_detail(code: int) -> str | None:
    if 128 < code < 128 + 65:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            return None
        return f"killed by {name} (exit code 128+{code - 128}; out of memory?) without reporting an outcome"
    return None


def _import_docker(task_id: str) -> Any:
    try:
        import docker
    except ImportError as exc:
        raise HandlerUnavailableError(
            task_id, "docker", "the docker SDK is not installed: pip install 'graflow[docker]'"
        ) from exc
    return docker


def _warn_on_python_mismatch(image: str) -> None:
    """Functions pickled by value carry bytecode, which loads only on the same Python version."""
    repository, _, tag = image.rpartition(":")
    if repository.rsplit("/", 1)[-1] != "python" or not tag:
        return
    parts = tag.split("-", 1)[0].split(".")
    if not all(p.isdigit() for p in parts[:2]):
        return
    host = (sys.version_info.major, sys.version_info.minor)
    if int(parts[0]) != host[0] or (len(parts) > 1 and int(parts[1]) != host[1]):
        logger.warning(
            "DockerTaskHandler: image %s runs another Python than this process (%d.%d); tasks defined in __main__ "
            "or pickled by value may fail to load there", image, *host,
        )


__all__ = ["DockerTaskHandler", "graflow_mounts", "pip_requirements", "task_archive"]
