"""Run each task attempt in a fresh Python process: isolation from the run's memory, a hard timeout, another
interpreter or virtual environment if needed."""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from graflow import defaults
from graflow.exceptions import TaskTimeoutError
from graflow.handlers.base import ProcessTaskHandler
from graflow.handlers.errors import HandlerUnavailableError, TaskProcessError
from graflow.handlers.protocol import META_FILE, OUTCOME_FILE, PAYLOAD_FILE


class SubprocessTaskHandler(ProcessTaskHandler):
    """Runs each attempt of a task in a new Python process (``python -m graflow.handlers.runner``).

    The child gets this process's environment and ``sys.path`` (through ``PYTHONPATH``), so the modules the run
    imports are importable there. It writes to this process's stdout; its stderr is passed on to this process's
    stderr, and its last lines are quoted when it crashes. A timeout stops the child's whole process group
    (SIGTERM, then SIGKILL) and raises :class:`~graflow.exceptions.TaskTimeoutError`.

    Args:
        python: The interpreter: None for the one running now, an executable (path or name on ``PATH``), or a
            virtual environment's folder. graflow and cloudpickle must be importable by it; for another
            interpreter only the run's own source folders (not its installed packages) are added to its path.
        timeout: Seconds an attempt may run (a task's ``@task(timeout=...)`` wins); None: no limit.
        env: Environment variables set for the child, over the inherited ones.
        cwd: The child's working directory (default: this process's).

    Example:
        >>> wf.register_handler("subprocess", SubprocessTaskHandler(timeout=60))
    """

    where = "subprocess"

    def __init__(
        self,
        python: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(timeout)
        self.python = os.fspath(python) if python is not None else None
        self.env = dict(env or {})
        self.cwd = os.fspath(cwd) if cwd is not None else None

    def get_name(self) -> str:
        """Always ``subprocess``."""
        return "subprocess"

    # -- one attempt ------------------------------------------------------------------------------------------------
    def run_attempt(self, task_id: str, payload: bytes, meta: bytes, timeout: float | None) -> bytes:
        """Write the task directory, run the child on it, wait (at most ``timeout``), read the outcome."""
        python = self._interpreter(task_id)
        with tempfile.TemporaryDirectory(prefix="graflow-task-") as workdir:
            folder = Path(workdir)
            (folder / PAYLOAD_FILE).write_bytes(payload)
            (folder / META_FILE).write_bytes(meta)
            returncode, tail = self._run_child(task_id, python, folder, timeout)
            outcome = folder / OUTCOME_FILE
            if outcome.exists():
                return outcome.read_bytes()
        signal_name = _signal_name(-returncode) if returncode < 0 else None
        raise TaskProcessError(
            task_id, self.where, exit_code=None if signal_name else returncode, signal_name=signal_name,
            stderr_tail=tail,
        )

    def _run_child(self, task_id: str, python: str, folder: Path, timeout: float | None) -> tuple[int, list[str]]:
        """Start the child, forward its stderr, wait; returns its exit status and last stderr lines."""
        try:
            proc = subprocess.Popen(
                [python, "-m", "graflow.handlers.runner", str(folder)],
                stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self._child_env(python),
                cwd=self.cwd,
                start_new_session=True,  # its own process group: a timeout stops everything it started
            )
        except OSError as exc:
            raise HandlerUnavailableError(task_id, self.get_name(), f"cannot start {python!r}: {exc}") from exc
        tail: deque[str] = deque(maxlen=defaults.HANDLER_STDERR_TAIL_LINES)
        assert proc.stderr is not None
        reader = threading.Thread(target=_forward, args=(proc.stderr, tail), name=f"graflow-stderr-{task_id}",
                                  daemon=True)
        reader.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            reader.join(defaults.HANDLER_KILL_GRACE_SECONDS)
            assert timeout is not None
            raise TaskTimeoutError(task_id, timeout) from None
        finally:
            if proc.poll() is None:  # interrupted while waiting (KeyboardInterrupt, worker shutdown)
                _stop_group(proc)
        # Something the task started in the background may still hold the pipe: do not wait for it for long.
        reader.join(defaults.HANDLER_KILL_GRACE_SECONDS)
        return returncode, list(tail)

    # -- the child's interpreter and environment -------------------------------------------------------------------
    def _interpreter(self, task_id: str) -> str:
        if self.python is None:
            return sys.executable
        path = Path(self.python)
        if path.is_dir():  # a virtual environment
            for candidate in (path / "bin" / "python", path / "Scripts" / "python.exe"):
                if candidate.exists():
                    return str(candidate)
            reason = f"{self.python!r} is a folder without bin/python"
            raise HandlerUnavailableError(task_id, self.get_name(), reason)
        found = shutil.which(self.python) if not path.is_absolute() else self.python
        if found is None or not Path(found).exists():
            raise HandlerUnavailableError(task_id, self.get_name(), f"no Python interpreter at {self.python!r}")
        return found

    def _child_env(self, python: str) -> dict[str, str]:
        env = dict(os.environ)
        same = os.path.abspath(python) == os.path.abspath(sys.executable)
        paths = [p for p in sys.path if p and (same or not _is_installed_location(p))]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env.update(self.env)
        return env


def _is_installed_location(path: str) -> bool:
    """Whether ``path`` belongs to this interpreter's installation (stdlib, site-packages), not to the project."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages()}
    resolved = os.path.abspath(path)
    return any(resolved == p or resolved.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes if p)


def _forward(stream: IO[bytes], tail: deque[str]) -> None:
    """Copy the child's stderr to ours line by line, keeping the last lines."""
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            tail.append(line.rstrip("\n"))
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):  # our stderr is closed: keep draining the pipe
                pass


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group, SIGKILL it if it is still there after the grace period."""
    if not hasattr(os, "killpg"):  # no process groups on this platform: stop the child itself
        proc.kill()
        proc.wait()
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=defaults.HANDLER_KILL_GRACE_SECONDS)
    except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
        pass
    # The child may have exited while something it started still runs in its group: nothing may be left.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


__all__ = ["SubprocessTaskHandler"]

