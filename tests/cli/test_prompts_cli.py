"""``graflow prompts list|show|render|check`` through the real entry point, on a prompts folder of YAML files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("yaml")
pytest.importorskip("jinja2")

GREETINGS = """
greeting:
  labels:
    production:
      version: 2
      content: "Hello {{ name }}!"
      created_at: "2024-05-01"
    staging: {version: 3, content: "Hi {{ name }}!"}
"""
REPLIES = """
reply:
  type: chat
  labels:
    production:
      content:
        - {role: system, content: "You support {{ product }}."}
        - {type: placeholder, name: history}
        - {role: user, content: "{{ question }}"}
"""


def graflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m graflow.cli.main ARGS`` in a child process."""
    child_env = {k: v for k, v in os.environ.items() if k != "GRAFLOW_PROMPTS_DIR"}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "graflow.cli.main", *args], capture_output=True, text=True,
                          timeout=60, env=child_env)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    write(root, "greetings.yaml", GREETINGS)
    write(root, "support/replies.yaml", REPLIES)
    return root


def test_list_shows_every_prompt_and_label_with_its_file_and_line(folder: Path) -> None:
    result = graflow("prompts", "list", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["NAME", "TYPE", "LABEL", "VERSION", "CREATED", "FILE"]
    assert rows[1:] == [
        ["greeting", "text", "production", "2", "2024-05-01", "greetings.yaml:3"],
        ["greeting", "text", "staging", "3", "-", "greetings.yaml:7"],
        ["support/reply", "chat", "production", "1", "-", "support/replies.yaml:4"],
    ]
    as_json = json.loads(graflow("prompts", "list", "--dir", str(folder), "--json").stdout)
    assert [(r["name"], r["label"], r["version"]) for r in as_json] == [
        ("greeting", "production", 2), ("greeting", "staging", 3), ("support/reply", "production", 1)]


def test_the_folder_defaults_to_graflow_prompts_dir(folder: Path) -> None:
    result = graflow("prompts", "list", env={"GRAFLOW_PROMPTS_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    assert "support/reply" in result.stdout


def test_show_prints_fields_variables_and_content_of_the_label_asked_for(folder: Path) -> None:
    result = graflow("prompts", "show", "greeting", "--label", "staging", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "label:      staging" in lines
    assert "version:    3" in lines
    assert "variables:  name" in lines
    assert lines[-2:] == ["---", "Hi {{ name }}!"]


def test_render_fills_text_and_chat_prompts(folder: Path) -> None:
    text = graflow("prompts", "render", "greeting", "name=Ada", "--dir", str(folder))
    assert (text.returncode, text.stdout) == (0, "Hello Ada!\n")
    chat = graflow("prompts", "render", "support/reply", "product=Graflow", "question=How?",
                   'history:=[{"role": "assistant", "content": "Hi"}]', "--dir", str(folder))
    assert chat.returncode == 0, chat.stderr
    assert json.loads(chat.stdout) == [
        {"role": "system", "content": "You support Graflow."},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": "How?"},
    ]


def test_check_passes_a_valid_folder(folder: Path) -> None:
    result = graflow("prompts", "check", "--dir", str(folder))
    assert (result.returncode, result.stdout.strip()) == (0, "No problems found.")


def test_check_reports_a_malformed_yaml_file_with_its_path_and_line(folder: Path) -> None:
    broken = write(folder, "drafts/broken.yaml", """
    draft:
      labels:
        production:
          content: "never closed
    other: 1
    """)
    result = graflow("prompts", "check", "--dir", str(folder))
    assert result.returncode == 1
    first, summary = result.stdout.splitlines()
    assert first.startswith(f"{broken}:")
    assert int(first.split(":")[1]) > 1  # a line in the file, not the whole file
    assert "invalid YAML" in first
    assert summary == "1 problem found."
    issues = json.loads(graflow("prompts", "check", "--dir", str(folder), "--json").stdout)
    assert [(i["path"], i["message"].startswith("invalid YAML")) for i in issues] == [(str(broken), True)]
    # a lookup in the folder names the same file and line, in one line, and points at check
    listed = graflow("prompts", "list", "--dir", str(folder))
    assert listed.returncode == 1
    (line,) = listed.stderr.splitlines()
    assert line.startswith(f"graflow prompts: invalid prompt file: {first.split(': ')[0]}: invalid YAML")
    assert line.endswith("run `graflow prompts check` for every problem")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "nope"], 1, "graflow prompts: Prompt not found: 'nope'"),
        (["show", "greeting", "--version", "9"], 1, "Version 9 not found for prompt 'greeting'"),
        (["render", "greeting"], 1, "'name' is undefined (variables not given: name)"),
        (["render", "greeting", "name"], 2, "graflow prompts: expected KEY=VALUE or KEY:=JSON, got 'name'"),
        (["render", "greeting", "n:=[1,"], 2, "invalid JSON for variable 'n'"),
        (["list", "--dir", "{folder}/missing"], 2, "graflow prompts: no prompts folder at"),
        (["show", "greeting", "--version", "two"], 2, "'two' is not a valid integer"),
    ],
)
def test_bad_input_is_one_line_with_the_right_exit_code(args: list[str], code: int, message: str,
                                                         folder: Path) -> None:
    argv = [a.replace("{folder}", str(folder)) for a in args]
    if "--dir" not in argv:
        argv += ["--dir", str(folder)]
    result = graflow("prompts", *argv)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1
