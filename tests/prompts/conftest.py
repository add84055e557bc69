"""Fixtures for the prompt management tests: prompt folders written in ``tmp_path`` and a controllable clock."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("yaml")
pytest.importorskip("jinja2")


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


WriteYaml = Callable[[str, str], Path]


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    return folder


@pytest.fixture
def write_yaml(prompts_dir: Path) -> WriteYaml:
    """``write_yaml("support/replies.yaml", text)`` writes a dedented file under the prompts folder.

    Every write moves the file's modification time one second past its previous one, so a rewrite is always seen as
    a change, however coarse the file system's clock is.
    """

    def write(relative: str, text: str) -> Path:
        path = prompts_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.stat().st_mtime_ns if path.exists() else None
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        if previous is not None:
            bumped = previous + 1_000_000_000
            os.utime(path, ns=(bumped, bumped))
        return path

    return write


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
