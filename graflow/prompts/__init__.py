"""Prompt management: versioned, labelled prompt templates from YAML files or Langfuse.

Usage::

    from graflow.prompts import PromptManagerFactory, YAMLPromptManager

    pm = YAMLPromptManager(prompts_dir="./prompts")      # or PromptManagerFactory.create("yaml", ...)
    text = pm.get_text_prompt("greeting").render(name="Ada")

The managers are imported on first use, so ``import graflow.prompts`` needs neither PyYAML nor the langfuse SDK.
The module paths of Graflow 0.2 (``graflow.prompts.yaml_manager``, ``.models``, ``.factory`` ...) keep working.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from graflow.prompts.base import DEFAULT_LABEL, PromptManager
from graflow.prompts.exceptions import (
    PromptBackendError,
    PromptBackendUnavailableError,
    PromptCompilationError,
    PromptConfigurationError,
    PromptError,
    PromptFetchError,
    PromptNotFoundError,
    PromptRequestError,
    PromptSchemaError,
    PromptTypeError,
    PromptVersionNotFoundError,
    SchemaIssue,
)
from graflow.prompts.factory import PromptManagerFactory
from graflow.prompts.models import ChatPrompt, PromptVersion, TextPrompt

if TYPE_CHECKING:
    from graflow.prompts.langfuse_manager import LangfusePromptManager
    from graflow.prompts.yaml_manager import YAMLPromptManager
    from graflow.prompts.yaml_schema import PromptInfo

_LAZY = {
    "YAMLPromptManager": "graflow.prompts.yaml_manager",
    "LangfusePromptManager": "graflow.prompts.langfuse_manager",
    "PromptInfo": "graflow.prompts.yaml_schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'graflow.prompts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "PromptManager",
    "PromptManagerFactory",
    "YAMLPromptManager",
    "LangfusePromptManager",
    "PromptVersion",
    "TextPrompt",
    "ChatPrompt",
    "PromptInfo",
    "DEFAULT_LABEL",
    "PromptError",
    "PromptNotFoundError",
    "PromptFetchError",
    "PromptVersionNotFoundError",
    "PromptCompilationError",
    "PromptConfigurationError",
    "PromptSchemaError",
    "PromptTypeError",
    "PromptRequestError",
    "PromptBackendError",
    "PromptBackendUnavailableError",
    "SchemaIssue",
]
