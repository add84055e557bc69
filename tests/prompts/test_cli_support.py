"""The functions behind ``graflow prompts list|show|render|check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graflow.prompts import PromptCompilationError, PromptRequestError, PromptSchemaError, TextPrompt
from graflow.prompts.cli_support import (
    check_prompts,
    format_issues,
    format_prompt,
    format_prompt_table,
    format_rendered,
    list_prompts,
    parse_variables,
    prompts_folder,
    render_prompt,
    show_prompt,
)
from tests.prompts.conftest import WriteYaml
from tests.prompts.helpers import DictPromptManager


@pytest.fixture
def folder(prompts_dir: Path, write_yaml: WriteYaml) -> Path:
    write_yaml("greetings.yaml", """
    greeting:
      labels:
        production:
          version: 2
          content: "Hello {{ name }}!"
          created_at: "2024-05-01"
          metadata: {owner: docs}
        staging: {version: 3, content: "Hi {{ name }}!"}
    """)
    write_yaml("support/replies.yaml", """
    reply:
      type: chat
      labels:
        production:
          content:
            - {role: system, content: "You support {{ product }}."}
            - {type: placeholder, name: history}
            - {role: user, content: "{{ question }}"}
    """)
    return prompts_dir


def test_prompts_folder_defaults_to_the_environment_then_dot_prompts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAFLOW_PROMPTS_DIR", raising=False)
    assert prompts_folder() == tmp_path / "prompts"
    monkeypatch.setenv("GRAFLOW_PROMPTS_DIR", "elsewhere")
    assert prompts_folder() == tmp_path / "elsewhere"
    assert prompts_folder("given") == tmp_path / "given"


def test_list_gives_one_row_per_prompt_and_label(folder: Path) -> None:
    rows = list_prompts(folder)

    assert [(r.name, r.label, r.version, r.type) for r in rows] == [
        ("greeting", "production", 2, "text"),
        ("greeting", "staging", 3, "text"),
        ("support/reply", "production", 1, "chat"),
    ]
    assert format_prompt_table(rows, folder).splitlines() == [
        "NAME           TYPE  LABEL       VERSION  CREATED     FILE",
        "greeting       text  production  2        2024-05-01  greetings.yaml:3",
        "greeting       text  staging     3        -           greetings.yaml:8",
        "support/reply  chat  production  1        -           support/replies.yaml:4",
    ]
    assert format_prompt_table([], folder) == "No prompts found."


def test_list_sees_edits_made_between_calls(folder: Path, write_yaml: WriteYaml) -> None:
    assert len(list_prompts(folder)) == 3
    write_yaml("more.yaml", "bye:\n  labels:\n    production: {content: Bye}\n")

    assert len(list_prompts(folder)) == 4


def test_list_of_a_malformed_folder_raises_with_path_and_line(folder: Path, write_yaml: WriteYaml) -> None:
    path = write_yaml("bad.yaml", "x:\n  type: nope\n  labels: {production: {content: a}}\n")

    with pytest.raises(PromptSchemaError, match=f"{path}:2:"):
        list_prompts(folder)


def test_show_returns_the_prompt_for_a_label_or_version(folder: Path) -> None:
    assert show_prompt("greeting", folder=folder).version == 2
    assert show_prompt("greeting", folder=folder, label="staging").version == 3
    assert show_prompt("greeting", folder=folder, version=3).label == "staging"


def test_format_prompt_shows_fields_variables_and_content(folder: Path) -> None:
    assert format_prompt(show_prompt("greeting", folder=folder)) == "\n".join([
        "name:       greeting",
        "type:       text",
        "label:      production",
        "version:    2",
        "created_at: 2024-05-01",
        "variables:  name",
        'metadata:   {"owner": "docs"}',
        "---",
        "Hello {{ name }}!",
    ])
    chat = format_prompt(show_prompt("support/reply", folder=folder))
    assert chat.endswith("---\n[system] You support {{ product }}.\n[placeholder: history]\n[user] {{ question }}")
    assert "variables:  history, product, question" in chat


def test_render_fills_the_template(folder: Path) -> None:
    assert render_prompt("greeting", {"name": "Ada"}, folder=folder) == "Hello Ada!"
    messages = render_prompt("support/reply", parse_variables([
        "product=Graflow", "question=Why?", 'history:=[{"role": "user", "content": "hi"}]',
    ]), folder=folder)

    assert json.loads(format_rendered(messages)) == [
        {"role": "system", "content": "You support Graflow."},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "Why?"},
    ]
    assert format_rendered("plain") == "plain"


def test_render_with_a_missing_variable_raises(folder: Path) -> None:
    with pytest.raises(PromptCompilationError, match="'name' is undefined"):
        render_prompt("greeting", {}, folder=folder)


def test_show_and_render_can_use_another_manager() -> None:
    manager = DictPromptManager({"hi": "Hi {{ who }}"})

    assert isinstance(show_prompt("hi", manager=manager), TextPrompt)
    assert render_prompt("hi", {"who": "there"}, manager=manager) == "Hi there"


def test_parse_variables_reads_strings_and_json() -> None:
    assert parse_variables(["a=1", "b:=1", "c:=[1, 2]", "d=x=y", "e=", "a=again"]) == {
        "a": "again", "b": 1, "c": [1, 2], "d": "x=y", "e": "",
    }


@pytest.mark.parametrize("bad", ["novalue", "=x", ":=1", "n:={oops"])
def test_parse_variables_rejects_malformed_arguments(bad: str) -> None:
    with pytest.raises(PromptRequestError):
        parse_variables([bad])


def test_check_reports_every_problem_with_path_and_line(folder: Path, write_yaml: WriteYaml) -> None:
    assert check_prompts(folder) == []
    assert format_issues([]) == "No problems found."
    bad = write_yaml("support/bad.yaml", "broken: [\n")

    issues = check_prompts(folder)

    assert [(i.path, i.line) for i in issues] == [(str(bad), 2)]
    assert format_issues(issues) == f"{issues[0]}\n1 problem found."
    assert format_issues(issues).startswith(f"{bad}:2: invalid YAML")
