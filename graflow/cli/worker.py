"""``graflow worker``: run a worker; the same flags and behaviour as ``python -m graflow.worker.main``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``worker`` subcommand."""
    from graflow.worker.main import add_worker_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker",
        help="run a worker that executes distributed tasks from Redis",
        description="Run a Graflow worker until SIGTERM/SIGINT.",
    )
    add_worker_arguments(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from graflow.worker.main import run_worker

    return run_worker(args)
