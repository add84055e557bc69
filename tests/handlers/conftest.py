"""Fixtures of the handler tests: a fake Docker engine whose containers are local processes."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handlers.fake_docker import FakeDockerEngine

#: A bare Python image: this interpreter without its site-packages, so only what is mounted is importable.
BARE_IMAGE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
#: An image with graflow baked in: this interpreter with its site-packages.
BAKED_IMAGE = "example.org/graflow-runner:test"


@pytest.fixture
def fake_docker() -> Iterator[FakeDockerEngine]:
    # A short folder: a unix socket path must stay under ~100 bytes, which pytest's tmp_path may not.
    folder = Path(tempfile.mkdtemp(prefix="gfdocker-"))
    images = {BARE_IMAGE: [sys.executable, "-S"], BAKED_IMAGE: [sys.executable]}
    try:
        with FakeDockerEngine(folder / "engine.sock", images, folder) as engine:
            yield engine
    finally:
        shutil.rmtree(folder, ignore_errors=True)
