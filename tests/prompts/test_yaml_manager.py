"""YAMLPromptManager: names and sub-folders, labels and versions, lookup errors, typed getters, default folder."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import pytest

from graflow.prompts import (
    ChatPrompt,
    PromptManager,
    PromptNotFoundError,
    PromptRequestError,
    PromptTypeError,
    PromptVersionNotFoundError,
    TextPrompt,
    YAMLPromptManager,
)
from tests.prompts.conftest import WriteYaml

GREETING = """
greeting:
  type: text
  labels:
    production:
      version: 2
      content: "Hello {{ name }}!"
      created_at: "2024-05-01T10:00:00Z"
      metadata: {owner: docs, temperature: 0.2}
    staging:
      version: 3
      content: "Hi {{ name }}!"
"""

INTERVIEW = """
interview:
  type: chat
  labels:
    production:
      content:
        - role: system
          content: You are an expert in {{ domain }}.
        - role: user
          content: Interview me about {{ topic }}.
"""


@pytest.fixture
def manager(prompts_dir: Path, write_yaml: WriteYaml) -> YAMLPromptManager:
    write_yaml("greetings.yaml", GREETING)
    write_yaml("chat.yml", INTERVIEW)
    return YAMLPromptManager(prompts_dir=str(prompts_dir))


def test_is_a_prompt_manager_with_the_02_defaults(prompts_dir: Path) -> None:
    manager = YAMLPromptManager(prompts_dir)

    assert isinstance(manager, PromptManager)
    assert (manager.cache_ttl, manager.cache_maxsize) == (300, 10000)
    assert (YAMLPromptManager.DEFAULT_TTL, YAMLPromptManager.DEFAULT_CACHE_MAXSIZE) == (300, 10000)
    assert manager.prompts_dir == prompts_dir.resolve()


def test_without_label_or_version_returns_the_production_label(manager: YAMLPromptManager) -> None:
    prompt = manager.get_prompt("greeting")

    assert isinstance(prompt, TextPrompt)
    assert (prompt.name, prompt.label, prompt.version) == ("greeting", "production", 2)
    assert prompt.created_at == "2024-05-01T10:00:00Z"
    assert prompt.metadata == {"owner": "docs", "temperature": 0.2}
    assert prompt.render(name="Ada") == "Hello Ada!"


def test_label_selects_that_labels_entry(manager: YAMLPromptManager) -> None:
    prompt = manager.get_prompt("greeting", label="staging")

    assert (prompt.label, prompt.version, prompt.render(name="Ada")) == ("staging", 3, "Hi Ada!")


def test_version_alone_finds_the_entry_with_that_version(manager: YAMLPromptManager) -> None:
    assert manager.get_prompt("greeting", version=3).label == "staging"
    assert manager.get_prompt("greeting", version=2).label == "production"


def test_version_and_label_must_agree(manager: YAMLPromptManager) -> None:
    assert manager.get_prompt("greeting", version=3, label="staging").version == 3

    with pytest.raises(PromptVersionNotFoundError) as caught:
        manager.get_prompt("greeting", version=2, label="staging")

    assert str(caught.value) == (
        "Version 2 not found for prompt 'greeting' with label 'staging'. Available labels: ['production', 'staging']"
    )


def test_version_defaults_to_1(manager: YAMLPromptManager) -> None:
    assert manager.get_prompt("interview").version == 1


def test_version_alone_prefers_production_when_labels_share_it(write_yaml: WriteYaml, prompts_dir: Path) -> None:
    write_yaml("p.yaml", """
    note:
      labels:
        draft: {content: "draft text"}
        production: {content: "live text"}
    """)

    assert YAMLPromptManager(prompts_dir).get_prompt("note", version=1).content == "live text"


def test_unknown_label_lists_the_available_labels(manager: YAMLPromptManager) -> None:
    with pytest.raises(PromptVersionNotFoundError) as caught:
        manager.get_prompt("greeting", label="dev")

    error = caught.value
    assert str(error) == "Label 'dev' not found for prompt 'greeting'. Available labels: ['production', 'staging']"
    assert (error.prompt_name, error.label, error.available_labels) == ("greeting", "dev", ["production", "staging"])


def test_unknown_version_lists_versions_and_labels(manager: YAMLPromptManager) -> None:
    with pytest.raises(PromptVersionNotFoundError, match=r"Available versions: \[2, 3\]") as caught:
        manager.get_prompt("greeting", version=9)

    assert caught.value.available_labels == ["production", "staging"]


def test_prompt_without_production_label_needs_an_explicit_label(write_yaml: WriteYaml, prompts_dir: Path) -> None:
    write_yaml("p.yaml", """
    beta:
      labels:
        staging: {content: "x"}
    """)
    manager = YAMLPromptManager(prompts_dir)

    with pytest.raises(PromptVersionNotFoundError, match="Label 'production' not found for prompt 'beta'"):
        manager.get_prompt("beta")
    assert manager.get_prompt("beta", label="staging").content == "x"


def test_unknown_name_raises_prompt_not_found(manager: YAMLPromptManager) -> None:
    with pytest.raises(PromptNotFoundError) as caught:
        manager.get_prompt("nope")

    assert str(caught.value) == "Prompt not found: 'nope'"
    assert caught.value.prompt_name == "nope"


def test_missing_folder_means_every_prompt_is_missing(tmp_path: Path) -> None:
    manager = YAMLPromptManager(tmp_path / "not-there")

    with pytest.raises(PromptNotFoundError):
        manager.get_prompt("greeting")
    assert manager.list_prompts() == []


def test_names_cannot_leave_the_prompts_folder(tmp_path: Path, prompts_dir: Path, write_yaml: WriteYaml) -> None:
    (tmp_path / "secret.yaml").write_text("greeting:\n  labels:\n    production: {content: leaked}\n")
    write_yaml("sub/x.yaml", "x:\n  labels:\n    production: {content: ok}\n")
    manager = YAMLPromptManager(prompts_dir)

    for name in ("../greeting", "sub/../../greeting", "./x", "sub//x", "sub\\x", "/greeting"):
        with pytest.raises(PromptNotFoundError):
            manager.get_prompt(name)


@pytest.mark.parametrize("name", ["", "   ", None])
def test_empty_name_is_a_request_error(manager: YAMLPromptManager, name: object) -> None:
    with pytest.raises(PromptRequestError):
        manager.get_prompt(name)  # type: ignore[arg-type]


def test_bad_version_type_is_a_request_error_and_a_value_error(manager: YAMLPromptManager) -> None:
    with pytest.raises(ValueError, match="version must be a whole number"):
        manager.get_prompt("greeting", version="2")  # type: ignore[arg-type]


def test_subfolders_prefix_the_names(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("top.yaml", "welcome:\n  labels:\n    production: {content: top}\n")
    write_yaml("customer/messages.yaml", "welcome:\n  labels:\n    production: {content: customer}\n")
    write_yaml("customer/vip/messages.yaml", "welcome:\n  labels:\n    production: {content: vip}\n")
    manager = YAMLPromptManager(prompts_dir)

    assert manager.get_prompt("welcome").content == "top"
    assert manager.get_prompt("customer/welcome").content == "customer"
    prompt = manager.get_prompt("customer/vip/welcome")
    assert (prompt.name, prompt.content) == ("customer/vip/welcome", "vip")
    with pytest.raises(PromptNotFoundError):
        manager.get_prompt("vip/welcome")


def test_a_prompt_may_span_files_and_the_latest_version_of_a_label_wins(
    prompts_dir: Path, write_yaml: WriteYaml
) -> None:
    write_yaml("b_v2.yaml", "summary:\n  labels:\n    production: {version: 2, content: two}\n")
    write_yaml("a_v10.yaml", "summary:\n  labels:\n    production: {version: 10, content: ten}\n")
    write_yaml("c_v1.yaml", "summary:\n  labels:\n    production: {content: one}\n")
    manager = YAMLPromptManager(prompts_dir)

    assert manager.get_prompt("summary").content == "ten"
    assert manager.get_prompt("summary", version=2).content == "two"
    assert manager.get_prompt("summary", label="production", version=1).content == "one"


def test_typed_getters_check_the_prompt_type(manager: YAMLPromptManager) -> None:
    assert isinstance(manager.get_text_prompt("greeting"), TextPrompt)
    assert isinstance(manager.get_chat_prompt("interview"), ChatPrompt)

    with pytest.raises(PromptTypeError) as caught:
        manager.get_text_prompt("interview")
    assert str(caught.value) == (
        "Prompt 'interview' is a chat prompt, not a text prompt. Use get_chat_prompt() instead."
    )
    with pytest.raises(PromptTypeError, match="is a text prompt, not a chat prompt"):
        manager.get_chat_prompt("greeting")


def test_chat_prompt_from_yaml_renders_messages(manager: YAMLPromptManager) -> None:
    messages = manager.get_chat_prompt("interview").render(domain="databases", topic="transformers")

    assert messages == [
        {"role": "system", "content": "You are an expert in databases."},
        {"role": "user", "content": "Interview me about transformers."},
    ]


def test_each_lookup_returns_an_independent_copy(manager: YAMLPromptManager) -> None:
    first = manager.get_chat_prompt("interview")
    first.content[0]["content"] = "changed"
    first.metadata["x"] = 1

    again = manager.get_chat_prompt("interview")
    assert again.content[0]["content"] == "You are an expert in {{ domain }}."
    assert again.metadata == {}


def test_default_folder_comes_from_graflow_prompts_dir(
    monkeypatch: pytest.MonkeyPatch, prompts_dir: Path, write_yaml: WriteYaml
) -> None:
    write_yaml("greetings.yaml", GREETING)
    monkeypatch.setenv("GRAFLOW_PROMPTS_DIR", str(prompts_dir))

    manager = YAMLPromptManager()

    assert manager.prompts_dir == prompts_dir.resolve()
    assert manager.get_prompt("greeting").version == 2


def test_default_folder_is_prompts_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_yaml: WriteYaml
) -> None:
    write_yaml("greetings.yaml", GREETING)
    monkeypatch.delenv("GRAFLOW_PROMPTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    manager = YAMLPromptManager()

    assert manager.prompts_dir == (tmp_path / "prompts").resolve()
    assert manager.get_prompt("greeting").version == 2


def test_list_prompts_walks_every_subfolder(prompts_dir: Path, write_yaml: WriteYaml) -> None:
    write_yaml("greetings.yaml", GREETING)
    write_yaml("support/chat.yaml", INTERVIEW)
    write_yaml(".hidden/ignored.yaml", INTERVIEW)

    rows = YAMLPromptManager(prompts_dir).list_prompts()

    assert [(r.name, r.type, r.label, r.version) for r in rows] == [
        ("greeting", "text", "production", 2),
        ("greeting", "text", "staging", 3),
        ("support/interview", "chat", "production", 1),
    ]
    assert rows[0].path == str(prompts_dir / "greetings.yaml") and rows[0].line == 4


def test_pickled_manager_keeps_its_folder_and_settings(manager: YAMLPromptManager) -> None:
    manager.get_prompt("greeting")

    copy = pickle.loads(pickle.dumps(manager))

    assert (copy.prompts_dir, copy.cache_ttl, copy.cache_maxsize) == (
        manager.prompts_dir, manager.cache_ttl, manager.cache_maxsize
    )
    assert copy.get_prompt("greeting").render(name="Bo") == "Hello Bo!"


def test_concurrent_lookups_all_succeed(manager: YAMLPromptManager) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def look_up() -> None:
        start.wait()
        try:
            for _ in range(50):
                results.append(manager.get_prompt("greeting").render(name="x"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert results == ["Hello x!"] * 400


@pytest.mark.parametrize("options", [{"cache_ttl": -2}, {"cache_ttl": 1.5}, {"cache_maxsize": 0}])
def test_invalid_settings_are_configuration_errors(prompts_dir: Path, options: dict[str, object]) -> None:
    from graflow.prompts import PromptConfigurationError

    with pytest.raises(PromptConfigurationError):
        YAMLPromptManager(prompts_dir, **options)  # type: ignore[arg-type]
