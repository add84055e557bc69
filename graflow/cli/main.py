"""The ``graflow`` console command: one click group that assembles the commands of this package.

Two kinds of command modules, both listed here in the order ``graflow --help`` shows them:

- click modules expose ``commands``, a list of ``click.Command`` objects;
- the commands that predate click (``worker``, ``checkpoints``, ``resume``, ``hitl``) keep their argparse parsers,
  and so every flag they had: each becomes a click command that hands its arguments to its parser unchanged.

A module that fails to import because an optional package is missing is listed with the install hint instead of
breaking the whole command. This module holds no logic of its own. Shell completion comes with click:
``eval "$(_GRAFLOW_COMPLETE=bash_source graflow)"`` (``zsh_source``, ``fish_source`` for other shells).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

try:
    import click
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by a test in a venv without click
    if exc.name != "click":
        raise
    print("graflow: the command line needs the 'cli' extra: pip install 'graflow[cli]'", file=sys.stderr)
    raise SystemExit(2) from None

#: click command modules, each exposing ``commands``.
CLICK_MODULES: tuple[str, ...] = (
    "graflow.cli.run",
    "graflow.cli.runs",
    "graflow.cli.graph",
    "graflow.cli.validate",
    "graflow.cli.dlq",
    "graflow.cli.prompts",
    "graflow.cli.server",
)
#: argparse command modules, each exposing ``register(subparsers)``.
ARGPARSE_MODULES: tuple[str, ...] = (
    "graflow.cli.worker",
    "graflow.cli.checkpoints",
    "graflow.cli.hitl",
)
#: Exit code of a usage error (bad option, unknown command, missing optional package).
EXIT_USAGE = 2


def _version() -> str:
    from graflow import __version__

    return str(__version__)


HELP = """Graflow workflow engine: run, inspect and operate workflows.

Every command has --help with examples. Exit codes: 0 success, 1 the command's work failed, 2 usage error;
`graflow run` documents its own (paused, max_steps, cancelled).
"""


def build_cli() -> click.Group:
    """The ``graflow`` group with every available command."""

    @click.group(name="graflow", help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(version=_version(), prog_name="graflow", message="%(prog)s %(version)s")
    def cli() -> None:
        pass

    _add_click_commands(cli)
    _add_argparse_commands(cli)
    return cli


def _missing_command(name: str, missing: str) -> click.Command:
    @click.command(name=name, help=f"(unavailable: needs the optional package '{missing}')",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.pass_context
    def unavailable(ctx: click.Context) -> None:
        click.echo(f"graflow: this command needs the optional package '{missing}'", err=True)
        ctx.exit(EXIT_USAGE)

    return unavailable


def _argparse_command(name: str, parser: argparse.ArgumentParser, summary: str | None) -> click.Command:
    """A click command that passes its arguments, ``--help`` included, to an argparse parser."""

    @click.command(name=name, help=summary or parser.description, add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                     "allow_interspersed_args": False})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def forward(ctx: click.Context, args: tuple[str, ...]) -> None:
        try:
            namespace = parser.parse_args(list(args))
        except SystemExit as exc:  # --help, or a usage error argparse has printed
            ctx.exit(int(exc.code or 0))
        if getattr(namespace, "_missing", None):
            click.echo(f"graflow: this command needs the optional package '{namespace._missing}'", err=True)
            ctx.exit(EXIT_USAGE)
        handler = getattr(namespace, "handler", None)
        if handler is None:
            parser.print_help()
            ctx.exit(EXIT_USAGE)
        ctx.exit(int(handler(namespace) or 0))

    return forward


def build_parser(missing: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """The argparse parser of the commands that keep their argparse flags (``worker``, ``checkpoints``,
    ``resume``, ``hitl``): ``build_parser().parse_args(["hitl", "list"])`` parses as ``graflow hitl list`` does.

    Args:
        missing: Filled with ``{command: package}`` for modules whose optional package is not installed.
    """
    root = argparse.ArgumentParser(prog="graflow")
    subparsers = root.add_subparsers(dest="command", metavar="COMMAND")
    for name in ARGPARSE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and missing is not None:
                missing[name.rsplit(".", 1)[1]] = str(exc.name)
            continue
        module.register(subparsers)
    return root


def _add_argparse_commands(group: click.Group) -> None:
    missing: dict[str, str] = {}
    root = build_parser(missing)
    for command_name, package in missing.items():
        group.add_command(_missing_command(command_name, package))
    subparsers = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {action.dest: action.help for action in subparsers._choices_actions}
    for command_name, parser in subparsers.choices.items():
        parser.prog = f"graflow {command_name}"
        group.add_command(_argparse_command(command_name, parser, summaries.get(command_name)))


def _add_click_commands(group: click.Group) -> None:
    for name in CLICK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not part of this build
            group.add_command(_missing_command(name.rsplit(".", 1)[1], str(exc.name)))
            continue
        for command in module.commands:
            group.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graflow`` command; returns the process exit code."""
    try:
        result: Any = build_cli().main(args=list(argv) if argv is not None else None, prog_name="graflow",
                                       standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
