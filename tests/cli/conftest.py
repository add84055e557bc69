"""Fixtures of the command-line tests: every test runs the real ``graflow`` command in a child process, with a
``GRAFLOW_HOME`` of its own (so its run store and checkpoints are its own), on workflow files it writes itself."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click", reason="the command line needs graflow[cli]")
pytest.importorskip("sqlalchemy", reason="the run store needs graflow[runs]")

#: How long a test waits for a child process or for something it does.
DEADLINE = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def graflow_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m graflow.cli.main``."""
    script = Path(sys.executable).with_name("graflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "graflow.cli.main"]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        pause.wait(0.05)


@dataclass
class Cli:
    """Runs ``graflow`` in ``workdir`` with an environment of this test's own."""

    workdir: Path
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout: float = DEADLINE,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*graflow_command(), *args], cwd=self.workdir, env={**self.env, **(env or {})},
                              input=input, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str, env: dict[str, str] | None = None) -> Child:
        """Start ``graflow`` without waiting; its stdout is read line by line by :class:`Child`."""
        process = subprocess.Popen([*graflow_command(), *args], cwd=self.workdir, env={**self.env, **(env or {})},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return Child(process)

    def write(self, name: str, source: str) -> Path:
        """Write a workflow file (dedented) into the working folder."""
        path = self.workdir / name
        path.write_text(textwrap.dedent(source).lstrip())
        return path


class Child:
    """A running ``graflow`` process whose stdout lines arrive in a queue."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = DEADLINE) -> str:
        """The first stdout line (from now on) that ``predicate`` accepts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line within {timeout}s; seen: {self.seen[-10:]}") from None
            if line is None:
                raise AssertionError(f"the process ended first; seen: {self.seen[-10:]}")
            self.seen.append(line)
            if predicate(line):
                return line

    def finish(self, timeout: float = DEADLINE) -> tuple[int, str]:
        """Wait for the process; returns its exit code and its stderr."""
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        while True:
            line = self.lines.get_nowait() if not self.lines.empty() else None
            if line is None:
                break
            self.seen.append(line)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE)


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workflows run in the test process record nowhere unless a test says so; recorders made are closed after."""
    monkeypatch.delenv("GRAFLOW_RUN_STORE", raising=False)
    yield
    from graflow.runs import close_recorders

    close_recorders(5.0)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The ``graflow`` command in ``tmp_path/work``, recording into ``tmp_path/home/runs.db``."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("GRAFLOW_RUN_STORE", "GRAFLOW_LOG_LEVEL", "GRAFLOW_RUN_HEARTBEAT_SECONDS")}
    env.update(GRAFLOW_HOME=str(tmp_path / "home"), NO_COLOR="1", COLUMNS="120",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    yield Cli(workdir, env)


def run_id_of(first_line: str) -> str:
    """The run id in the first line ``graflow run`` prints (``Running <workflow> as run <id>``)."""
    assert " as run " in first_line, first_line
    return first_line.rsplit(" ", 1)[1].rstrip(",")
