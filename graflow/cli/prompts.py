"""``graflow prompts list|show|render|check``: a YAML prompts folder from the shell (graflow.prompts.cli_support)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
from graflow.prompts.exceptions import PromptError, PromptRequestError, PromptSchemaError

#: Exit codes: done, the prompts are malformed or the lookup/rendering failed, usage error.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])

HELP = """Look at a folder of YAML prompt files: list, show, render and check them.

The folder is --dir, else GRAFLOW_PROMPTS_DIR, else ./prompts. Exit status: 0 done, 1 malformed files, unknown
prompt or failed rendering, 2 usage error (no such folder, bad variable).

\b
Examples:
  graflow prompts list --dir prompts
  graflow prompts show support/reply --label staging
  graflow prompts render greeting name=Ada
  graflow prompts render support/reply product=Graflow question=Hi 'history:=[]'
  graflow prompts check --dir prompts
"""


def _folder_option(func: F) -> F:
    decorated: F = click.option(
        "--dir", "folder", metavar="DIR", default=None,
        help="the prompts folder (default: GRAFLOW_PROMPTS_DIR, else ./prompts)",
    )(func)
    return decorated


@click.group("prompts", help=HELP, short_help="list, show, render and check YAML prompt files")
def prompts() -> None:
    pass


@prompts.command("list", help="List every prompt and label of the folder, with its version and file.")
@_folder_option
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def list_command(ctx: click.Context, folder: str | None, as_json: bool) -> None:
    root = _existing_folder(ctx, folder)
    rows = _call(ctx, list_prompts, root)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        click.echo(format_prompt_table(rows, root))


@prompts.command("show", help="Show a prompt as a task gets it: fields, variables and content.")
@click.argument("name")
@_folder_option
@click.option("--label", default=None, help="the label to look up (default: production, else the only one)")
@click.option("--version", type=int, default=None, help="the version to look up")
@click.pass_context
def show_command(ctx: click.Context, name: str, folder: str | None, label: str | None, version: int | None) -> None:
    root = _existing_folder(ctx, folder)
    prompt = _call(ctx, show_prompt, name, folder=root, label=label, version=version)
    click.echo(format_prompt(prompt))


@prompts.command(
    "render",
    help="Render a prompt with variables given as KEY=VALUE (a string) or KEY:=JSON (any JSON value).",
)
@click.argument("name")
@click.argument("variables", nargs=-1, metavar="[KEY=VALUE | KEY:=JSON]...")
@_folder_option
@click.option("--label", default=None, help="the label to look up")
@click.option("--version", type=int, default=None, help="the version to look up")
@click.pass_context
def render_command(
    ctx: click.Context, name: str, variables: tuple[str, ...], folder: str | None, label: str | None,
    version: int | None,
) -> None:
    try:
        values = parse_variables(variables)
    except PromptRequestError as exc:
        _fail(ctx, str(exc), EXIT_USAGE)
    root = _existing_folder(ctx, folder)
    result = _call(ctx, render_prompt, name, values, folder=root, label=label, version=version)
    click.echo(format_rendered(result))


@prompts.command("check", help="Check every prompt file (YAML, schema, duplicates, templates); exit 1 on problems.")
@_folder_option
@click.option("--json", "as_json", is_flag=True, help="print the problems as JSON")
@click.pass_context
def check_command(ctx: click.Context, folder: str | None, as_json: bool) -> None:
    root = _existing_folder(ctx, folder)
    issues = _call(ctx, check_prompts, root)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(issue) for issue in issues], indent=2))
    else:
        click.echo(format_issues(issues))
    ctx.exit(EXIT_FAILED if issues else EXIT_OK)


def _existing_folder(ctx: click.Context, folder: str | None) -> Path:
    root = prompts_folder(folder)
    if not root.is_dir():
        where = "--dir" if folder is not None else "GRAFLOW_PROMPTS_DIR or ./prompts"
        _fail(ctx, f"no prompts folder at {root} (from {where})", EXIT_USAGE)
    return root


def _call(ctx: click.Context, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a cli_support function; a prompt error becomes one line on stderr and exit status 1."""
    try:
        return function(*args, **kwargs)
    except PromptSchemaError as exc:
        first = exc.issues[0] if exc.issues else exc
        more = f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        _fail(ctx, f"invalid prompt file: {first}{more}; run `graflow prompts check` for every problem", EXIT_FAILED)
    except PromptError as exc:
        _fail(ctx, " ".join(str(exc).split()), EXIT_FAILED)


def _fail(ctx: click.Context, problem: str, code: int) -> Any:
    click.echo(f"graflow prompts: {problem}", err=True)
    ctx.exit(code)


commands: list[click.Command] = [prompts]
