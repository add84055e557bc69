"""examples/prompts_yaml_workflow.py runs from any working directory and prints the rendered prompts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prompts_yaml_workflow.py"


@pytest.mark.parametrize("cwd", ["repository", "elsewhere"])
def test_example_prints_prompts_rendered_by_the_workflow(cwd: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GRAFLOW_PROMPTS_DIR", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, env=env,
        cwd=ROOT if cwd == "repository" else tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "  support/reply  chat  production  v1\n" in out
    assert "  welcome        text  staging     v3\n" in out
    assert "Messages built with welcome production v2:" in out
    assert "[user] Hello Ada, thanks for contacting Graflow support. My question: How do I run two tasks" in out
    assert "Messages built with welcome staging v3:" in out
    assert "[user] Hi Ada! Thanks for reaching out to the Graflow team." in out
    assert "[system] You are a support engineer for Graflow. The customer is on the Pro plan" in out
    assert "Rendering without 'product' fails: Failed to compile prompt 'welcome': 'product' is undefined" in out


def test_example_prompt_files_pass_the_schema_check() -> None:
    from graflow.prompts.cli_support import check_prompts

    assert check_prompts(EXAMPLE.parent / "prompts") == []
