"""The checkpoint examples run as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("checkpoint_basic.py", ["resuming session", "at step 2", "resumed run returned 'completed'"]),
        ("checkpoint_periodic.py", ["checkpoint at step 2, next task step_3", "checkpoint at step 4, next task step_5",
                                    "  step_5 ran", "resumed run returned 'step_5'"]),
    ],
)  # fmt: skip
def test_example_runs(example: str, expected: list[str], tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, str(REPO / "examples" / example)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout
    assert os.listdir(tmp_path) == []  # nothing written outside the example's temporary directory
