"""What a command line needs for ``graflow prompts list|show|render|check``, as plain functions.

Each function takes the prompts folder (``None``: ``GRAFLOW_PROMPTS_DIR``, else ``./prompts``) and returns data; the
``format_*`` functions turn that data into the text to print. Errors are the usual prompt errors
(:class:`~graflow.prompts.exceptions.PromptError` subclasses), whose messages are written for a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from graflow.config import env
from graflow.prompts.base import PromptManager
from graflow.prompts.exceptions import PromptRequestError, SchemaIssue
from graflow.prompts.models import ChatPrompt, PromptVersion
from graflow.prompts.yaml_manager import DEFAULT_PROMPTS_DIR, YAMLPromptManager
from graflow.prompts.yaml_schema import PromptInfo, check_prompt_folder


def prompts_folder(folder: str | Path | None = None) -> Path:
    """The folder a command works on: ``folder``, else ``GRAFLOW_PROMPTS_DIR``, else ``./prompts`` (absolute)."""
    chosen = folder if folder is not None else env("GRAFLOW_PROMPTS_DIR") or DEFAULT_PROMPTS_DIR
    return Path(chosen).expanduser().resolve()


def list_prompts(folder: str | Path | None = None) -> list[PromptInfo]:
    """One row per (prompt, label) under the folder, sub-folders included, sorted by name, label and version.

    Raises:
        PromptSchemaError: A file is malformed (run :func:`check_prompts` for every problem at once).
    """
    return YAMLPromptManager(prompts_folder(folder), cache_ttl=-1).list_prompts()


def show_prompt(
    name: str,
    *,
    folder: str | Path | None = None,
    label: str | None = None,
    version: int | None = None,
    manager: PromptManager | None = None,
) -> PromptVersion:
    """The prompt a task would get with ``get_prompt(name, label=..., version=...)``.

    Args:
        name: Prompt name.
        folder: Prompts folder of the YAML backend (ignored when ``manager`` is given).
        label: Label to look up.
        version: Version to look up.
        manager: Another manager to ask (a Langfuse one, say).
    """
    pm = manager if manager is not None else YAMLPromptManager(prompts_folder(folder), cache_ttl=-1)
    return pm.get_prompt(name, label=label, version=version)


def render_prompt(
    name: str,
    variables: Mapping[str, Any],
    *,
    folder: str | Path | None = None,
    label: str | None = None,
    version: int | None = None,
    manager: PromptManager | None = None,
) -> str | list[dict[str, Any]]:
    """Look a prompt up like :func:`show_prompt` and render it with ``variables``.

    Raises:
        PromptCompilationError: A variable is missing or the template is invalid.
    """
    prompt = show_prompt(name, folder=folder, label=label, version=version, manager=manager)
    result: str | list[dict[str, Any]] = prompt.render(**variables)
    return result


def check_prompts(folder: str | Path | None = None) -> list[SchemaIssue]:
    """Every problem in the folder's prompt files (YAML syntax, schema, duplicates, template syntax).

    An empty list means the folder is valid. A missing folder is reported as one issue.
    """
    return check_prompt_folder(prompts_folder(folder))


def parse_variables(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn command line arguments into template variables.

    ``key=value`` gives the string ``value``; ``key:=json`` gives the parsed JSON value (numbers, lists, objects,
    e.g. ``history:='[{"role": "user", "content": "hi"}]'``). A later key replaces an earlier one.

    Raises:
        PromptRequestError: An argument has neither form, or its JSON is invalid.
    """
    variables: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or key == ":":
            raise PromptRequestError(f"expected KEY=VALUE or KEY:=JSON, got {pair!r}")
        if key.endswith(":"):
            key = key[:-1]
            try:
                variables[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise PromptRequestError(f"invalid JSON for variable '{key}': {exc.msg}") from exc
        else:
            variables[key] = value
    return variables


# -- text output -----------------------------------------------------------------------------------------------------
def format_prompt_table(rows: Sequence[PromptInfo], folder: str | Path | None = None) -> str:
    """A fixed-width table of :func:`list_prompts` rows; file paths are relative to ``folder`` when under it."""
    if not rows:
        return "No prompts found."
    root = prompts_folder(folder)
    header = ("NAME", "TYPE", "LABEL", "VERSION", "CREATED", "FILE")
    table = [header] + [
        (r.name, r.type, r.label, str(r.version), r.created_at or "-", f"{_relative(r.path, root)}:{r.line}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in table
    )


def format_prompt(prompt: PromptVersion) -> str:
    """A prompt's fields, variables and content, for reading in a terminal."""
    lines = [
        f"name:       {prompt.name}",
        f"type:       {prompt.prompt_type or type(prompt).__name__}",
        f"label:      {prompt.label if prompt.label is not None else '-'}",
        f"version:    {prompt.version if prompt.version is not None else '-'}",
        f"created_at: {prompt.created_at or '-'}",
        f"variables:  {', '.join(prompt.variables) or '-'}",
    ]
    if prompt.metadata:
        lines.append(f"metadata:   {json.dumps(prompt.metadata, ensure_ascii=False, default=str)}")
    lines.append("---")
    if isinstance(prompt, ChatPrompt):
        lines.extend(_format_message(message) for message in prompt.content)
    else:
        lines.append(str(getattr(prompt, "content", "")))
    return "\n".join(lines)


def format_rendered(result: str | list[dict[str, Any]]) -> str:
    """A rendered text prompt as is; a rendered chat prompt as indented JSON (ready to paste into an API call)."""
    if isinstance(result, str):
        return result
    return json.dumps(result, indent=2, ensure_ascii=False, default=str)


def format_issues(issues: Sequence[SchemaIssue]) -> str:
    """One ``path:line: message`` line per issue, then a count; ``"No problems found."`` when there are none."""
    if not issues:
        return "No problems found."
    noun = "problem" if len(issues) == 1 else "problems"
    return "\n".join([*(str(issue) for issue in issues), f"{len(issues)} {noun} found."])


def _format_message(message: dict[str, Any]) -> str:
    if message.get("type") == "placeholder":
        return f"[placeholder: {message.get('name')}]"
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
    return f"[{message.get('role')}] {text}"


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


__all__ = [
    "check_prompts",
    "format_issues",
    "format_prompt",
    "format_prompt_table",
    "format_rendered",
    "list_prompts",
    "parse_variables",
    "prompts_folder",
    "render_prompt",
    "show_prompt",
]
