"""Prompt values: a :class:`TextPrompt` renders to a string, a :class:`ChatPrompt` to a list of chat messages.

Both keep the 0.2 constructor signatures and attributes (``name``, ``version``, ``label``, ``created_at``,
``metadata``, ``content``), so a custom backend can build them directly. Rendering uses Jinja2 with
``StrictUndefined`` (see :mod:`graflow.prompts.templating`); any failure raises
:class:`~graflow.prompts.exceptions.PromptCompilationError`.
"""

from __future__ import annotations

import copy
from typing import Any

from graflow.prompts.exceptions import PromptCompilationError


class PromptVersion:
    """One version of a prompt, as a backend returned it.

    Args:
        name: Prompt name (with its folder, e.g. ``"support/reply"``).
        version: Numeric version.
        label: The label it was looked up by (``"production"``, ``"staging"`` ...).
        created_at: ISO 8601 timestamp, when the backend knows it.
        metadata: Free-form data stored with the prompt (model settings, owner ...).
    """

    #: ``"text"`` or ``"chat"``.
    prompt_type = ""

    def __init__(
        self,
        name: str,
        version: int | None = None,
        label: str | None = None,
        created_at: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.label = label
        self.created_at = created_at
        self.metadata: dict[str, Any] = metadata or {}

    def render(self, /, **variables: Any) -> Any:
        """Fill the template with ``variables``; subclasses say what comes back."""
        raise NotImplementedError(f"{type(self).__name__} does not render")

    @property
    def variables(self) -> list[str]:
        """The variable names the template refers to, sorted (a template syntax error raises on ``render``)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version}, label={self.label!r})"


class TextPrompt(PromptVersion):
    """A prompt whose content is one template string.

    Args:
        name: Prompt name.
        content: The template text.
        version: Numeric version.
        label: The label it was looked up by.
        created_at: ISO 8601 timestamp, when known.
        metadata: Free-form data stored with the prompt.
    """

    prompt_type = "text"

    def __init__(
        self,
        name: str,
        content: str,
        version: int | None = None,
        label: str | None = None,
        created_at: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name, version, label, created_at, metadata)
        self.content = content

    def render(self, /, **variables: Any) -> str:
        """Render the template.

        Example:
            >>> TextPrompt("greeting", "Hello {{ name }}!").render(name="Ada")
            'Hello Ada!'

        Raises:
            PromptCompilationError: A variable is missing, the syntax is wrong, or an expression raised.
        """
        from graflow.prompts.templating import render_template

        return render_template(self.name, self.content, variables)

    @property
    def variables(self) -> list[str]:
        """The variable names the template refers to, sorted."""
        from graflow.prompts.templating import template_variables

        try:
            return template_variables(self.content)
        except PromptCompilationError:
            return []


class ChatPrompt(PromptVersion):
    """A prompt whose content is a list of chat messages.

    Each message is a mapping with a ``role`` and a ``content``; a string ``content`` is a template, anything else
    (``None``, a list of content parts) is kept as is, and other keys (``name``, ``tool_calls`` ...) are copied. A
    message ``{"type": "placeholder", "name": "history"}`` (as Langfuse stores them) is replaced by the list of
    messages given as the variable of that name.

    Args:
        name: Prompt name.
        content: The messages.
        version: Numeric version.
        label: The label it was looked up by.
        created_at: ISO 8601 timestamp, when known.
        metadata: Free-form data stored with the prompt.
    """

    prompt_type = "chat"

    def __init__(
        self,
        name: str,
        content: list[dict[str, Any]],
        version: int | None = None,
        label: str | None = None,
        created_at: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name, version, label, created_at, metadata)
        self.content = content

    def render(self, /, **variables: Any) -> list[dict[str, Any]]:
        """Render every message's content; the result is a new list of new dicts.

        Example:
            >>> ChatPrompt("ask", [{"role": "user", "content": "About {{ topic }}?"}]).render(topic="DAGs")
            [{'role': 'user', 'content': 'About DAGs?'}]

        Raises:
            PromptCompilationError: A variable or placeholder is missing, the syntax is wrong, or an expression
                raised.
        """
        from graflow.prompts.templating import render_template

        messages: list[dict[str, Any]] = []
        for message in self.content:
            if _is_placeholder(message):
                messages.extend(self._fill_placeholder(str(message.get("name")), variables))
                continue
            rendered = dict(message)
            text = message.get("content")
            if isinstance(text, str):
                rendered["content"] = render_template(self.name, text, variables)
            messages.append(rendered)
        return messages

    @property
    def variables(self) -> list[str]:
        """The variable and placeholder names the messages refer to, sorted."""
        from graflow.prompts.templating import template_variables

        names: set[str] = set()
        for message in self.content:
            if _is_placeholder(message):
                names.add(str(message.get("name")))
            elif isinstance(message.get("content"), str):
                try:
                    names.update(template_variables(message["content"]))
                except PromptCompilationError:
                    continue
        return sorted(names)

    def _fill_placeholder(self, name: str, variables: dict[str, Any]) -> list[dict[str, Any]]:
        if name not in variables:
            raise PromptCompilationError(
                prompt_name=self.name, detail=f"placeholder '{name}' is undefined", missing_variables=[name]
            )
        value = variables[name]
        if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
            raise PromptCompilationError(
                prompt_name=self.name, detail=f"placeholder '{name}' must be given a list of message dicts"
            )
        return copy.deepcopy(value)


def _is_placeholder(message: Any) -> bool:
    return isinstance(message, dict) and message.get("type") == "placeholder"


__all__ = ["PromptVersion", "TextPrompt", "ChatPrompt"]
