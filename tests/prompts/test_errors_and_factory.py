"""The prompt error tree, PromptManagerFactory, and custom backends built on PromptManager."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

import graflow.prompts as prompts_package
from graflow.exceptions import GraflowError
from graflow.prompts import (
    PromptBackendError,
    PromptBackendUnavailableError,
    PromptCompilationError,
    PromptConfigurationError,
    PromptError,
    PromptFetchError,
    PromptManager,
    PromptManagerFactory,
    PromptNotFoundError,
    PromptRequestError,
    PromptSchemaError,
    PromptTypeError,
    PromptVersionNotFoundError,
    YAMLPromptManager,
)
from tests.prompts.helpers import DictPromptManager

ERRORS = [
    PromptNotFoundError, PromptFetchError, PromptVersionNotFoundError, PromptCompilationError, PromptConfigurationError,
    PromptSchemaError, PromptTypeError, PromptRequestError, PromptBackendError, PromptBackendUnavailableError,
]


@pytest.mark.parametrize("error_class", ERRORS, ids=[c.__name__ for c in ERRORS])
def test_every_prompt_error_is_a_graflow_error_and_takes_a_plain_message(error_class: type[PromptError]) -> None:
    error = error_class("something specific")

    assert isinstance(error, PromptError) and isinstance(error, GraflowError)
    assert str(error) == "something specific"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy)) == (error_class, "something specific")


def test_errors_that_02_documents_as_builtin_errors_still_are() -> None:
    assert issubclass(PromptRequestError, ValueError)
    assert issubclass(PromptBackendError, ValueError)
    assert issubclass(PromptBackendUnavailableError, ValueError)
    assert issubclass(PromptBackendUnavailableError, ImportError)


def test_error_modules_keep_their_02_import_paths() -> None:
    from graflow.prompts.base import PromptManager as BaseManager
    from graflow.prompts.exceptions import PromptNotFoundError as NotFound
    from graflow.prompts.factory import PromptManagerFactory as Factory
    from graflow.prompts.langfuse_manager import LangfusePromptManager
    from graflow.prompts.models import ChatPrompt, PromptVersion, TextPrompt  # noqa: F401
    from graflow.prompts.yaml_manager import YAMLPromptManager as Yaml

    assert (BaseManager, NotFound, Factory, Yaml) == (
        PromptManager, PromptNotFoundError, PromptManagerFactory, YAMLPromptManager
    )
    assert prompts_package.LangfusePromptManager is LangfusePromptManager


def test_errors_pickle_with_their_fields() -> None:
    error = PromptVersionNotFoundError(prompt_name="g", label="dev", available_labels=["production"])

    copy = pickle.loads(pickle.dumps(error))

    assert (type(copy), str(copy)) == (PromptVersionNotFoundError, str(error))
    assert (copy.prompt_name, copy.label, copy.available_labels) == ("g", "dev", ["production"])


def test_factory_creates_a_yaml_manager_by_default(tmp_path: Path) -> None:
    manager = PromptManagerFactory.create(prompts_dir=str(tmp_path), cache_ttl=10, cache_maxsize=5)

    assert isinstance(manager, YAMLPromptManager)
    assert (manager.prompts_dir, manager.cache_ttl, manager.cache_maxsize) == (tmp_path.resolve(), 10, 5)
    assert isinstance(PromptManagerFactory.create("yaml", prompts_dir=str(tmp_path)), YAMLPromptManager)


def test_factory_creates_a_langfuse_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    from graflow.prompts import LangfusePromptManager

    monkeypatch.setenv("LANGFUSE_TRACING_ENABLED", "false")
    manager = PromptManagerFactory.create(
        "langfuse", public_key="pk-factory", secret_key="sk-factory", host="http://127.0.0.1:9",
        fetch_timeout_seconds=3, max_retries=1,
    )

    assert isinstance(manager, LangfusePromptManager)
    assert (manager.host, manager.fetch_timeout_seconds, manager.max_retries) == ("http://127.0.0.1:9", 3, 1)


def test_unknown_backend_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown prompt backend: 'redis'\. Available: langfuse, yaml") as caught:
        PromptManagerFactory.create("redis")

    assert isinstance(caught.value, PromptBackendError)
    assert caught.value.backend == "redis"


def test_a_backend_whose_package_is_missing_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langfuse", None)  # makes `import langfuse` fail

    with pytest.raises(ValueError, match=r"pip install 'graflow\[tracing\]'") as caught:
        PromptManagerFactory.create("langfuse")

    assert isinstance(caught.value, PromptBackendUnavailableError)


def test_custom_backends_subclass_prompt_manager_and_get_the_typed_getters() -> None:
    manager = DictPromptManager({"hi": "Hi {{ who }}"})

    assert manager.get_text_prompt("hi").render(who="you") == "Hi you"
    with pytest.raises(PromptTypeError, match="Prompt 'hi' is a text prompt, not a chat prompt"):
        manager.get_chat_prompt("hi")
    with pytest.raises(PromptNotFoundError, match="Prompt not found: 'x'"):
        manager.get_prompt("x")


def test_custom_backends_can_be_registered_with_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PromptManagerFactory, "_custom", {})
    PromptManagerFactory.register_backend("dict", DictPromptManager)

    manager: Any = PromptManagerFactory.create("dict", prompts={"a": "A"})

    assert isinstance(manager, DictPromptManager) and manager.prompts == {"a": "A"}
    assert PromptManagerFactory.available_backends() == ["dict", "langfuse", "yaml"]


def test_importing_graflow_prompts_needs_no_optional_package() -> None:
    import subprocess

    code = (
        "import sys; import graflow.prompts as p; "
        "print(sorted(m for m in ('yaml', 'jinja2', 'langfuse') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
