"""The ``graflow`` console command. Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; this module only assembles them and holds no logic of its own."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Subcommand modules, in the order ``--help`` lists them. A module that fails to import (a missing optional
#: extra) is listed with the install hint instead of breaking the whole command.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "graflow.cli.worker",
    "graflow.cli.checkpoints",
    "graflow.cli.hitl",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="graflow", description="Graflow workflow engine")
    from graflow import __version__

    parser.add_argument("--version", action="version", version=f"graflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # subcommand not part of this build
            missing = exc.name
            stub = subparsers.add_parser(name.rsplit(".", 1)[1], help=f"(unavailable: needs {missing})")
            stub.set_defaults(_missing=missing)
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graflow`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(f"graflow: this command needs the optional package '{args._missing}'", file=sys.stderr)
        return 2
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
