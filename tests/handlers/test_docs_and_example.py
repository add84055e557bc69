"""docs/handlers.md quotes tested files word for word, and examples/handlers_subprocess.py prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "handlers.md"


def quoted_blocks() -> list[tuple[str, str]]:
    """(source file, block) for every code block the page introduces with "From `<file>`"."""
    text = DOC.read_text(encoding="utf-8")
    # "From `<file>`", the rest of its paragraph, a blank line, then the block
    pattern = re.compile(r"From `([^`]+)`(?:[^\n]|\n(?!\n))*\n\n```python\n(.*?)```", re.DOTALL)
    return [(source, block) for source, block in pattern.findall(text)]


def test_every_quoted_block_is_still_in_its_source() -> None:
    blocks = quoted_blocks()
    assert len(blocks) >= 4
    for source, block in blocks:
        wanted = textwrap.dedent(block).rstrip("\n").splitlines()
        lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
        windows = (textwrap.dedent("\n".join(lines[i:i + len(wanted)])).splitlines()
                   for i in range(len(lines) - len(wanted) + 1))
        assert wanted in windows, f"docs/handlers.md quotes a block that is no longer in {source}:\n{block}"


def test_the_example_prints_its_results_and_its_timeout() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "handlers_subprocess.py")], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT / "examples")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "score 2854 over 6 values",
        "score ran in its own process: True",
        "stopped: Task 'slow_model' timed out after 1s and was stopped",
    ]
