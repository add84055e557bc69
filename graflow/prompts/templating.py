"""Rendering prompt templates with Jinja2 (extra ``prompts``).

Templates are rendered in a sandboxed Jinja2 environment with ``StrictUndefined``: a variable the template uses but
the caller did not give is an error, never an empty string. The sandbox matters because prompt text may come from a
server (Langfuse) rather than from the repository: a template can read the variables it is given, but cannot reach
into Python internals through them. Compiled templates are cached by their source text.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

try:
    from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
    from jinja2.sandbox import SandboxedEnvironment
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("Rendering prompts needs Jinja2: pip install 'graflow[prompts]'") from exc

from graflow.prompts.exceptions import PromptCompilationError

#: How many distinct template sources stay compiled.
TEMPLATE_CACHE_SIZE = 1024

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _compile(source: str) -> tuple[Template, frozenset[str]]:
    """The compiled template and the names it reads from its variables (Jinja globals such as ``range`` excluded)."""
    ast = _ENV.parse(source)
    names = frozenset(meta.find_undeclared_variables(ast)) - frozenset(_ENV.globals)
    return _ENV.from_string(ast), names


def template_variables(source: str) -> list[str]:
    """The variable names ``source`` refers to, sorted.

    Raises:
        PromptCompilationError: The template has a syntax error.
    """
    return sorted(_compiled("<template>", source)[1])


def render_template(prompt_name: str, source: str, variables: Mapping[str, Any]) -> str:
    """Render one template.

    Args:
        prompt_name: Name of the prompt, for error messages.
        source: The template text.
        variables: Values for the template's variables.

    Returns:
        The rendered text.

    Raises:
        PromptCompilationError: A variable is missing, the syntax is wrong, or an expression raised.
    """
    template, names = _compiled(prompt_name, source)
    try:
        return template.render(dict(variables))
    except Exception as exc:  # noqa: BLE001 - any failure inside a template is a compilation error of the prompt
        missing = sorted(n for n in names if n not in variables) if isinstance(exc, UndefinedError) else []
        raise PromptCompilationError(
            prompt_name=prompt_name, detail=_describe(exc), missing_variables=missing, cause=exc
        ) from exc


def _compiled(prompt_name: str, source: str) -> tuple[Template, frozenset[str]]:
    try:
        return _compile(source)
    except TemplateSyntaxError as exc:
        detail = f"template syntax error on line {exc.lineno}: {exc.message}"
        raise PromptCompilationError(prompt_name=prompt_name, detail=detail, cause=exc) from exc


def _describe(exc: Exception) -> str:
    text = str(exc)
    if type(exc).__module__.startswith("jinja2"):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["TEMPLATE_CACHE_SIZE", "render_template", "template_variables"]
