"""The schema check: every malformed prompt file is reported with its path and 1-based line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from graflow.exceptions import GraflowError
from graflow.prompts import PromptConfigurationError, PromptSchemaError, SchemaIssue, YAMLPromptManager
from graflow.prompts.yaml_schema import check_prompt_folder, parse_prompt_file
from tests.prompts.conftest import WriteYaml

# (file text, line of the problem, part of the message)
MALFORMED = {
    "unclosed_flow_sequence": ("greeting:\n  labels: [unclosed\n", 3, "invalid YAML"),
    "tab_indentation": ("greeting:\n\tlabels: {}\n", 2, "invalid YAML"),
    "duplicate_key": (
        "greeting:\n  labels:\n    production: {content: a}\n  labels:\n    staging: {content: b}\n",
        4, "duplicate key 'labels' (first on line 2)",
    ),
    "duplicate_prompt": (
        "a:\n  labels: {production: {content: x}}\n# again\na:\n  labels: {production: {content: y}}\n",
        4, "duplicate key 'a'",
    ),
    "top_level_list": ("# prompts\n- greeting\n- farewell\n", 2, "top level must map prompt names"),
    "prompt_not_a_mapping": ("greeting: Hello\n", 1, "prompt 'greeting' must be a mapping"),
    "bad_type": (
        "greeting:\n  type: completion\n  labels: {production: {content: x}}\n",
        2, "type must be 'text' or 'chat', not 'completion'",
    ),
    "missing_labels": ("greeting:\n  type: text\n  content: Hello\n", 1, "prompt 'greeting' has no 'labels'"),
    "labels_not_a_mapping": ("greeting:\n  labels:\n    - production\n", 2, "'labels' must map label names"),
    "label_not_a_mapping": (
        "greeting:\n  labels:\n    production: Hello\n", 3, "label 'production': expected a mapping with 'content'",
    ),
    "zero_version": (
        "greeting:\n  labels:\n    production:\n      version: 0\n      content: x\n",
        4, "version must be a whole number >= 1, not 0",
    ),
    "string_version": (
        "greeting:\n  labels:\n    production:\n      version: 'v2'\n      content: x\n", 4, "not 'v2'",
    ),
    "float_version": (
        "greeting:\n  labels:\n    production:\n      content: x\n      version: 1.5\n", 5, "not 1.5",
    ),
    "missing_content": (
        "greeting:\n  labels:\n    production:\n      version: 2\n", 3, "label 'production': missing 'content'",
    ),
    "text_content_not_a_string": (
        "greeting:\n  labels:\n    production:\n      content:\n        - role: user\n",
        4, "a text prompt's content must be a string",
    ),
    "chat_content_not_a_list": (
        "chat:\n  type: chat\n  labels:\n    production:\n      content: Hello\n",
        5, "a chat prompt's content must be a list",
    ),
    "chat_message_without_role": (
        "chat:\n  type: chat\n  labels:\n    production:\n      content:\n        - role: system\n"
        "          content: ok\n        - content: no role\n",
        8, "message 2 must be a mapping with a string 'role'",
    ),
    "placeholder_without_name": (
        "chat:\n  type: chat\n  labels:\n    production:\n      content:\n        - type: placeholder\n",
        6, "placeholder message 1 needs a 'name'",
    ),
    "bad_created_at": (
        "g:\n  labels:\n    production:\n      content: x\n      created_at: [2024]\n",
        5, "created_at must be a date or a string",
    ),
    "bad_metadata": (
        "g:\n  labels:\n    production:\n      content: x\n      metadata: fast\n", 5, "metadata must be a mapping",
    ),
    "slash_in_name": (
        "support/reply:\n  labels: {production: {content: x}}\n", 1, "must not contain a slash",
    ),
    "number_as_name": ("2024:\n  labels: {production: {content: x}}\n", 1, "prompt names must be non-empty strings"),
    "number_as_label": ("g:\n  labels:\n    1: {content: x}\n", 3, "label names must be non-empty strings"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_schema_check_reports_path_line_and_problem(case: str, prompts_dir: Path, write_yaml: WriteYaml) -> None:
    text, line, message = MALFORMED[case]
    path = write_yaml("bad.yaml", text)

    issues = check_prompt_folder(prompts_dir)

    assert len(issues) == 1, issues
    assert (issues[0].path, issues[0].line) == (str(path), line)
    assert message in issues[0].message
    assert str(issues[0]).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_manager_refuses_a_folder_with_a_malformed_file(
    case: str, prompts_dir: Path, write_yaml: WriteYaml
) -> None:
    text, line, _ = MALFORMED[case]
    write_yaml("good.yaml", "fine:\n  labels: {production: {content: ok}}\n")
    path = write_yaml("bad.yaml", text)

    with pytest.raises(PromptSchemaError) as caught:
        YAMLPromptManager(prompts_dir).get_prompt("fine")

    error = caught.value
    assert isinstance(error, PromptConfigurationError) and isinstance(error, GraflowError)
    assert [(i.path, i.line) for i in error.issues] == [(str(path), line)]
    assert f"{path}:{line}:" in str(error)


def test_invalid_utf8_is_reported_with_its_line(prompts_dir: Path) -> None:
    path = prompts_dir / "latin1.yaml"
    path.write_bytes(b"g:\n  labels:\n    production: {content: caf\xe9}\n")

    assert check_prompt_folder(prompts_dir) == [SchemaIssue(str(path), 3, "the file is not valid UTF-8")]


def test_same_label_and_version_in_two_files_is_reported(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    first = write_yaml("a.yaml", "g:\n  labels:\n    production: {content: one}\n")
    second = write_yaml("b.yaml", "# copy\ng:\n  labels:\n    production: {content: two}\n")

    issues = check_prompt_folder(prompts_dir)

    assert issues == [SchemaIssue(str(second), 4, f"prompt 'g', label 'production', version 1 is also defined in "
                                                  f"{first}:3")]
    with pytest.raises(PromptSchemaError):
        YAMLPromptManager(prompts_dir).get_prompt("g")


def test_one_prompt_with_two_types_in_two_files_is_reported(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("a.yaml", "g:\n  labels:\n    production: {content: one}\n")
    second = write_yaml("b.yaml", "g:\n  type: chat\n  labels:\n    staging: {content: [{role: user, content: x}]}\n")

    issues = check_prompt_folder(prompts_dir)

    assert [(i.path, i.line) for i in issues] == [(str(second), 4)]
    assert "is a chat prompt here but a text prompt in" in issues[0].message


def test_several_problems_are_all_reported(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("a.yaml", "g:\n  type: x\n  labels: {}\nh: 3\n")
    write_yaml("sub/b.yaml", "[")

    issues = check_prompt_folder(prompts_dir)

    assert [(Path(i.path).name, i.line) for i in issues] == [("a.yaml", 2), ("a.yaml", 4), ("b.yaml", 1)]
    with pytest.raises(PromptSchemaError, match=r"Invalid prompt files \(2 problems\)"):
        YAMLPromptManager(prompts_dir).get_prompt("g")


def test_template_syntax_errors_are_reported_by_the_check(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    path = write_yaml("t.yaml", "g:\n  labels:\n    production:\n      content: 'Hi {{ name '\n")

    issues = check_prompt_folder(prompts_dir)

    assert [(i.path, i.line) for i in issues] == [(str(path), 4)]
    assert "template syntax error" in issues[0].message
    # Serving is not blocked by it: the error surfaces when the prompt is rendered, as in Graflow 0.2.
    assert YAMLPromptManager(prompts_dir).get_prompt("g").content == "Hi {{ name "


def test_a_missing_folder_is_one_issue(tmp_path: Path) -> None:
    assert check_prompt_folder(tmp_path / "none") == [
        SchemaIssue(str(tmp_path / "none"), None, "the prompts folder does not exist")
    ]


def test_valid_files_have_no_issues_and_anchors_and_merges_work(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    path = write_yaml("ok.yaml", """
    # Labels can share settings through YAML anchors.
    greeting:
      type: text
      labels:
        production: &prod
          version: 1
          content: "Hello {{ name }}"
          metadata: {model: small}
        staging:
          <<: *prod
          version: 2
      description: ignored extra key
    empty_file_is_fine_too: {labels: {production: {content: ""}}}
    """)
    (prompts_dir / "empty.yaml").write_text("# nothing yet\n")

    assert check_prompt_folder(prompts_dir) == []
    parsed = parse_prompt_file(path)
    staging = next(e for e in parsed.entries if e.info.label == "staging")
    assert (staging.info.version, staging.content, staging.metadata) == (2, "Hello {{ name }}", {"model": "small"})
    assert type(staging.metadata) is dict


def test_unquoted_dates_become_iso_strings(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("d.yaml", """
    g:
      labels:
        production: {content: x, created_at: 2024-05-01}
        staging: {content: y, created_at: 2024-05-01 10:30:00}
    """)
    manager = YAMLPromptManager(prompts_dir)

    assert manager.get_prompt("g").created_at == "2024-05-01"
    assert manager.get_prompt("g", label="staging").created_at == "2024-05-01T10:30:00"


def test_schema_error_lists_every_issue_in_its_message() -> None:
    issues = [SchemaIssue("/p/a.yaml", 3, "bad"), SchemaIssue("/p/b.yaml", None, "worse")]

    error = PromptSchemaError(issues=issues)

    assert str(error) == "Invalid prompt files (2 problems):\n  /p/a.yaml:3: bad\n  /p/b.yaml: worse"


def test_a_file_given_as_the_folder_is_one_issue(tmp_path: Path) -> None:
    path = tmp_path / "prompts.yaml"
    path.write_text("")

    assert check_prompt_folder(path) == [SchemaIssue(str(path), None, "the prompts folder is not a folder")]
