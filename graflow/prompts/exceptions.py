"""Errors of prompt lookup, parsing and rendering.

Every class derives from :class:`graflow.exceptions.GraflowError` through :class:`PromptError`, carries the fields
it is about (prompt name, label, version, file locations) and builds its message from them when no message is
given. All of them also accept a ready-made message as their first argument, so a custom backend written for
Graflow 0.2 (``raise PromptNotFoundError("...")``) keeps working.

Two classes also derive from a built-in error, because the 0.2 API documents them that way:
:class:`PromptRequestError` is a ``ValueError`` (asking a backend for both a version and a label), and
:class:`PromptBackendError` is a ``ValueError`` (unknown or unavailable backend in
``PromptManagerFactory.create``); :class:`PromptBackendUnavailableError` is also an ``ImportError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graflow.exceptions import GraflowError


class PromptError(GraflowError):
    """Base of every prompt management error.

    Args:
        message: Human readable description.
        cause: The exception that led to this one, if any.
        prompt_name: The prompt the error is about, when there is one.
    """

    def __init__(self, message: str = "", cause: BaseException | None = None, *, prompt_name: str | None = None):
        self.prompt_name = prompt_name
        super().__init__(message, cause)


class PromptNotFoundError(PromptError):
    """No prompt has the requested name.

    Args:
        message: Overrides the message built from the fields.
        cause: The backend error behind this one (a Langfuse 404, for instance).
        prompt_name: The name that was asked for.
        label: The label that was asked for, if any (informational: the backend could not tell whether the
            name or the label is missing).
        version: The version that was asked for, if any (same remark).
    """

    def __init__(
        self,
        message: str = "",
        cause: BaseException | None = None,
        *,
        prompt_name: str | None = None,
        label: str | None = None,
        version: int | None = None,
    ) -> None:
        self.label = label
        self.version = version
        if not message and prompt_name is not None:
            message = f"Prompt not found: '{prompt_name}'"
            if label is not None:
                message += f" (label '{label}')"
            elif version is not None:
                message += f" (version {version})"
        super().__init__(message, cause, prompt_name=prompt_name)

    def __str__(self) -> str:
        # A backend's "not found" answer (the cause) adds nothing to the message.
        return self.message


class PromptFetchError(PromptError):
    """A remote backend could not be reached or answered with an error; ``cause`` holds the client's error."""

    def __str__(self) -> str:
        # The message already summarises the cause (HTTP status and the server's message).
        return self.message


class PromptVersionNotFoundError(PromptError):
    """The prompt exists but has no entry for the requested label or version.

    Args:
        message: Overrides the message built from the fields.
        prompt_name: The prompt that was asked for.
        label: The label that was looked up (``None`` when only a version was asked for).
        version: The version that was asked for, if any.
        available_labels: Labels the prompt does have, in file order.
        available_versions: Versions the prompt does have, ascending.
    """

    def __init__(
        self,
        message: str = "",
        *,
        prompt_name: str | None = None,
        label: str | None = None,
        version: int | None = None,
        available_labels: Iterable[str] = (),
        available_versions: Iterable[int] = (),
    ) -> None:
        self.label = label
        self.version = version
        self.available_labels = list(available_labels)
        self.available_versions = list(available_versions)
        if not message and prompt_name is not None:
            if version is not None and label is not None:
                message = f"Version {version} not found for prompt '{prompt_name}' with label '{label}'."
            elif version is not None:
                message = (
                    f"Version {version} not found for prompt '{prompt_name}'. "
                    f"Available versions: {self.available_versions}."
                )
            else:
                message = f"Label '{label}' not found for prompt '{prompt_name}'."
            message += f" Available labels: {self.available_labels}"
        super().__init__(message, prompt_name=prompt_name)


class PromptCompilationError(PromptError):
    """A template could not be rendered: a variable is missing, the syntax is wrong, or an expression failed.

    Args:
        message: Overrides the message built from the fields.
        cause: The template engine's error.
        prompt_name: The prompt being rendered.
        detail: What went wrong, e.g. ``"'name' is undefined"``.
        missing_variables: Variables the template refers to that were not given (may be empty when the failure
            has another reason).
    """

    def __init__(
        self,
        message: str = "",
        cause: BaseException | None = None,
        *,
        prompt_name: str | None = None,
        detail: str | None = None,
        missing_variables: Iterable[str] = (),
    ) -> None:
        self.detail = detail
        self.missing_variables = list(missing_variables)
        if not message and prompt_name is not None:
            message = f"Failed to compile prompt '{prompt_name}': {detail or 'rendering failed'}"
            if self.missing_variables:
                message += f" (variables not given: {', '.join(self.missing_variables)})"
        super().__init__(message, cause, prompt_name=prompt_name)

    def __str__(self) -> str:
        # The detail already tells what the template engine said; do not repeat the cause.
        return self.message


class PromptConfigurationError(PromptError):
    """A prompt manager is misconfigured: missing credentials, bad options, or invalid prompt files."""


@dataclass(frozen=True)
class SchemaIssue:
    """One problem found in a prompt file.

    Attributes:
        path: The file (or folder) the problem is in.
        line: 1-based line of the problem, when it can be located.
        message: What is wrong.
    """

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class PromptSchemaError(PromptConfigurationError):
    """One or more prompt files are malformed; ``issues`` says where (path and line) and what.

    Args:
        message: Overrides the message built from the issues.
        issues: The problems found.
    """

    def __init__(self, message: str = "", *, issues: Iterable[SchemaIssue] = ()) -> None:
        self.issues = list(issues)
        if not message:
            if len(self.issues) == 1:
                message = f"Invalid prompt file: {self.issues[0]}"
            else:
                lines = "\n".join(f"  {issue}" for issue in self.issues)
                message = f"Invalid prompt files ({len(self.issues)} problems):\n{lines}"
        super().__init__(message)


class PromptTypeError(PromptError):
    """The prompt is a chat prompt where a text prompt was asked for, or the other way round.

    Args:
        message: Overrides the message built from the fields.
        prompt_name: The prompt that was asked for.
        expected: ``"text"`` or ``"chat"``: what the caller asked for.
        actual: What the prompt is.
    """

    def __init__(
        self,
        message: str = "",
        *,
        prompt_name: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        self.expected = expected
        self.actual = actual
        if not message and prompt_name is not None and expected and actual:
            if actual in ("text", "chat"):
                message = (
                    f"Prompt '{prompt_name}' is a {actual} prompt, not a {expected} prompt. "
                    f"Use get_{actual}_prompt() instead."
                )
            else:
                message = f"Prompt '{prompt_name}' is not a {expected} prompt (it is a {actual})."
        super().__init__(message, prompt_name=prompt_name)


class PromptRequestError(PromptError, ValueError):
    """The arguments of a lookup are invalid (both ``version`` and ``label`` for Langfuse, an empty name ...)."""


class PromptBackendError(PromptConfigurationError, ValueError):
    """``PromptManagerFactory.create`` was given a backend name it does not know.

    Args:
        message: Overrides the message built from the fields.
        backend: The backend name.
        available: The backend names that are known.
    """

    def __init__(self, message: str = "", *, backend: str | None = None, available: Iterable[str] = ()) -> None:
        self.backend = backend
        self.available = list(available)
        if not message and backend is not None:
            message = f"Unknown prompt backend: '{backend}'. Available: {', '.join(self.available)}"
        super().__init__(message)


class PromptBackendUnavailableError(PromptBackendError, ImportError):
    """A known backend cannot be used because a package it needs is not installed."""


__all__ = [
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
