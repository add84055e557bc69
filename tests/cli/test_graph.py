"""``graflow graph`` through the real entry point: ASCII, Mermaid, DOT and PNG output, files, and bad input."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLEAN = str((Path(__file__).resolve().parent / "broken" / "clean.py").relative_to(REPO_ROOT))
HAS_PYGRAPHVIZ = importlib.util.find_spec("pygraphviz") is not None


def graflow(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m graflow.cli.main ARGS`` in a child process (bytes out: PNG is binary)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-m", "graflow.cli.main", *args], capture_output=True, timeout=60,
                          env=env, cwd=REPO_ROOT)


def test_ascii_is_the_default_and_draws_every_task_and_the_group() -> None:
    result = graflow("graph", CLEAN)
    assert result.returncode == 0, result.stderr
    drawing = result.stdout.decode()
    for name in ("extract", "summarize", "report", "store", "refine", "north", "south"):
        assert f"| {name} |" in drawing
    assert "║ ParallelGroup_1 ║" in drawing


def test_mermaid_names_the_workflow_and_its_edges() -> None:
    result = graflow("graph", CLEAN, "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "graph TD;" in text
    assert "%% clean_etl" in text
    assert "extract --> summarize;" in text
    assert 'subgraph ParallelGroup_1[" ParallelGroup_1 "]' in text


def test_an_output_file_gets_the_format_its_suffix_names(tmp_path: Path) -> None:
    target = tmp_path / "flow.mmd"
    result = graflow("graph", CLEAN, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert f"wrote {target}" in result.stderr.decode()
    assert "extract --> summarize;" in target.read_text()


def test_a_module_spec_draws_the_same_graph() -> None:
    by_module = graflow("graph", "tests.cli.broken.clean:wf")
    assert by_module.returncode == 0, by_module.stderr
    assert by_module.stdout == graflow("graph", CLEAN).stdout


@pytest.mark.skipif(HAS_PYGRAPHVIZ, reason="pygraphviz is installed")
@pytest.mark.parametrize("fmt", ["dot", "png"])
def test_dot_and_png_without_pygraphviz_say_what_to_install(fmt: str, tmp_path: Path) -> None:
    result = graflow("graph", CLEAN, "--format", fmt, "-o", str(tmp_path / f"flow.{fmt}"))
    assert result.returncode == 2
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith(f"graflow graph: --format {fmt} needs pygraphviz and Graphviz")
    assert "pip install 'graflow[viz]' pygraphviz" in line
    assert not (tmp_path / f"flow.{fmt}").exists()


@pytest.mark.skipif(not HAS_PYGRAPHVIZ, reason="needs pygraphviz")
def test_dot_and_png_with_pygraphviz(tmp_path: Path) -> None:
    dot = graflow("graph", CLEAN, "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert b"digraph" in dot.stdout
    png = tmp_path / "flow.png"
    assert graflow("graph", CLEAN, "-o", str(png)).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["graph", "no/such/flow.py"], 2, "graflow graph: no such file: no/such/flow.py"),
        (["graph", f"{CLEAN}:nightly"], 2, "has no workflow named 'nightly'"),
        (["graph", "tests/cli/broken/group_policy.py"], 1, "AtLeastNGroupPolicy(3) can never pass"),
        (["graph", CLEAN, "-o", "no/such/folder/flow.txt"], 1, "graflow graph: cannot write no/such/folder/flow.txt"),
    ],
)
def test_bad_input_is_one_line_with_the_right_exit_code(args: list[str], code: int, message: str) -> None:
    result = graflow(*args)
    assert result.returncode == code
    stderr = result.stderr.decode()
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr


def test_an_unknown_format_is_a_usage_error() -> None:
    result = graflow("graph", CLEAN, "--format", "svg")
    assert result.returncode == 2
    assert "'svg' is not one of 'ascii', 'mermaid', 'dot', 'png'" in result.stderr.decode()
