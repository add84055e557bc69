"""The prompt manager contract: look a prompt up by name, label and version.

Subclass :class:`PromptManager` and implement :meth:`PromptManager.get_prompt` to plug in another store; the typed
getters come for free. Pass an instance with ``workflow(name, prompt_manager=pm)`` or
``ExecutionContext.create(..., prompt_manager=pm)`` and read it in a task as ``ctx.prompt_manager``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from graflow.prompts.exceptions import PromptTypeError
from graflow.prompts.models import ChatPrompt, PromptVersion, TextPrompt

#: The label a lookup uses when neither a label nor a version is given.
DEFAULT_LABEL = "production"


class PromptManager(ABC):
    """Base class of prompt backends."""

    @abstractmethod
    def get_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> PromptVersion:
        """Look a prompt up.

        Args:
            name: Prompt name; a folder path may precede it (``"support/reply"``).
            version: Numeric version (1, 2, 3 ...).
            label: Label such as ``"production"`` or ``"staging"``. Without label and version, the backend returns
                the ``"production"`` label.
            cache_ttl_seconds: How long a cached copy may be served, overriding the manager's default; ``0`` means
                no expiry and ``-1`` no caching.

        Returns:
            A :class:`TextPrompt` or a :class:`ChatPrompt`.

        Raises:
            PromptNotFoundError: No prompt has this name.
            PromptVersionNotFoundError: The prompt has no such label or version.
            PromptRequestError: The arguments are invalid for this backend (a ``ValueError``).
        """

    def get_text_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> TextPrompt:
        """Like :meth:`get_prompt`, for a text prompt.

        Raises:
            PromptTypeError: The prompt is a chat prompt.
        """
        prompt = self.get_prompt(name, version=version, label=label, cache_ttl_seconds=cache_ttl_seconds)
        if not isinstance(prompt, TextPrompt):
            raise PromptTypeError(prompt_name=name, expected="text", actual=_kind(prompt))
        return prompt

    def get_chat_prompt(
        self,
        name: str,
        *,
        version: int | None = None,
        label: str | None = None,
        cache_ttl_seconds: int | None = None,
    ) -> ChatPrompt:
        """Like :meth:`get_prompt`, for a chat prompt.

        Raises:
            PromptTypeError: The prompt is a text prompt.
        """
        prompt = self.get_prompt(name, version=version, label=label, cache_ttl_seconds=cache_ttl_seconds)
        if not isinstance(prompt, ChatPrompt):
            raise PromptTypeError(prompt_name=name, expected="chat", actual=_kind(prompt))
        return prompt


def _kind(prompt: PromptVersion) -> str:
    return prompt.prompt_type or type(prompt).__name__


__all__ = ["DEFAULT_LABEL", "PromptManager"]
