"""``graflow hitl resumer``: resume the runs paused on feedback requests once they are answered.

It runs :class:`graflow.hitl.resumer.FeedbackResumer` on the store the flags name, in this process, until SIGINT or
SIGTERM (or, with ``--once``, until the runs waiting now have been resumed). Several resumers, and API servers
that resume, may watch one store: each run is resumed by exactly one of them. Resumed runs execute here, so their
tasks' modules must be importable (the current directory is on the import path, as with ``python -m``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from graflow.cli.hitl_common import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    HitlCommandError,
    add_store_arguments,
    open_manager,
)
from graflow.exceptions import ConfigError

DESCRIPTION = """\
Resume the runs paused on feedback requests once the requests are answered, in this process, until SIGINT or
SIGTERM (with --once: resume the runs waiting now, wait for them, and exit).

Several resumers, and API servers that resume, may watch one store: each run is resumed by one of them, and a
run whose resumer died is taken over when its claim's lease lapses. The resumed runs execute here, so their
tasks' modules must be importable (the current directory is on the import path, as with python -m)."""

#: Seconds a stopping resumer waits for the runs it is resuming before it exits anyway (their claims then lapse and
#: another resumer takes them over).
STOP_GRACE = 30.0


def register_resumer(commands: Any) -> None:
    """Add ``resumer`` to the ``hitl`` subcommands."""
    from graflow.hitl import resumer as defaults

    parser: argparse.ArgumentParser = commands.add_parser(
        "resumer",
        help="resume paused runs when their questions are answered",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--once", action="store_true", help="resume the runs waiting now, wait for them, and exit (1 if one failed)"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=defaults.DEFAULT_POLL_INTERVAL,
        help=f"seconds between reads of the store (default: {defaults.DEFAULT_POLL_INTERVAL:g})",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=defaults.DEFAULT_LEASE,
        help="seconds a claim on a run lasts without renewal; after that another resumer may take "
        f"it over (default: {defaults.DEFAULT_LEASE:g})",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=defaults.DEFAULT_MAX_CONCURRENT,
        help=f"runs resumed at once (default: {defaults.DEFAULT_MAX_CONCURRENT})",
    )
    parser.add_argument("--name", default=None, help="this resumer's name in the records (default: host:pid:random)")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default: INFO)"
    )
    add_store_arguments(parser)
    parser.set_defaults(handler=run_resumer)


def run_resumer(args: argparse.Namespace) -> int:
    """Run the resumer; returns the exit code."""
    from graflow.hitl import resume_state as rs
    from graflow.hitl.resumer import FeedbackResumer

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        manager = open_manager(args)
        resumer = FeedbackResumer(
            manager,
            poll_interval=args.poll_interval,
            lease=args.lease,
            max_concurrent=args.max_concurrent,
            name=args.name,
        )
    except HitlCommandError as exc:
        print(f"graflow hitl resumer: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConfigError as exc:
        print(f"graflow hitl resumer: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = args.data_dir if args.backend == "filesystem" else f"redis, key prefix {args.key_prefix!r}"
    if args.once:
        finished = resumer.run_once()
        for request in finished:
            state = request.metadata.get(rs.RESUME_STATE)
            detail = request.metadata.get(rs.ERROR) or f"run {request.metadata.get(rs.RUN_STATUS)}"
            print(f"{request.feedback_id}: {state} ({detail}), session {request.session_id}")
        if not finished:
            print(f"No paused run waits for resuming in {store}")
        failed = any(r.metadata.get(rs.RESUME_STATE) == rs.FAILED for r in finished)
        return EXIT_REFUSED if failed else EXIT_OK
    print(f"graflow hitl resumer {resumer.name}: watching {store} (Ctrl+C to stop)", file=sys.stderr)
    _serve(resumer)
    return EXIT_OK


def _serve(resumer: Any) -> None:
    """Run ``resumer`` until SIGINT or SIGTERM; a second signal stops waiting for the runs being resumed."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(EXIT_REFUSED)  # asked twice: leave the runs to another resumer (their claims lapse)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        resumer.start()
        stop.wait()
        running = resumer.active()
        if running:
            print(f"Stopping: waiting up to {STOP_GRACE:g}s for {len(running)} resumed run(s)", file=sys.stderr)
        resumer.stop(timeout=STOP_GRACE)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["STOP_GRACE", "register_resumer", "run_resumer"]
