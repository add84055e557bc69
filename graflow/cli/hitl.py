"""``graflow hitl``: list, show, answer and cancel feedback requests, and resume the runs paused on them.

Every subcommand reads the store given by ``--backend`` (``filesystem``, the default, in ``--data-dir``; or
``redis`` at ``--redis-url`` under ``--key-prefix``), the same store the workflows and the API server use. Exit
status: 0 done, 1 refused (the request is unknown, already answered or cancelled, or the store cannot be reached),
2 the command line is wrong (an answer that does not fit the request's type or options, bad JSON). Each problem is
reported on one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from graflow.cli.hitl_common import (
    EXIT_OK,
    EXIT_USAGE,
    HitlCommandError,
    OneLineParser,
    add_store_arguments,
    answer_text,
    command,
    find_request,
    open_manager,
)

if TYPE_CHECKING:
    from graflow.hitl.types import FeedbackRequest

_PROMPT_WIDTH = 48

DESCRIPTION = """\
List, show, answer and cancel human-in-the-loop feedback requests, and resume the runs paused on them.

Every subcommand reads the store given by --backend (filesystem, the default, in --data-dir; or redis at
--redis-url under --key-prefix): the store the workflows and the API server use.

exit status: 0 done, 1 refused (unknown request, already answered or cancelled, store unreachable),
2 bad command line (an answer that does not fit the request's type or options, bad JSON)."""


def register(subparsers: Any) -> None:
    """Add the ``hitl`` command and its subcommands."""
    from graflow.cli.hitl_answer import run_answer
    from graflow.cli.hitl_resumer import register_resumer

    hitl: argparse.ArgumentParser = subparsers.add_parser(
        "hitl",
        help="list, show, answer and cancel feedback requests; resume paused runs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hitl.set_defaults(handler=lambda _args: _usage(hitl))
    commands = hitl.add_subparsers(dest="hitl_command", metavar="SUBCOMMAND", parser_class=OneLineParser)

    listing = commands.add_parser(
        "list",
        help="list feedback requests (open ones unless --all)",
        description="List feedback requests, newest first: the open ones (pending or "
        "timed out, i.e. waiting for an answer) unless --all is given.",
    )
    listing.add_argument("--all", action="store_true", help="every status, answered and cancelled ones too")
    listing.add_argument("--session", default=None, help="only the requests of this run (session id)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    listing.add_argument("--json", action="store_true", help="print JSON lines, one request per line")
    add_store_arguments(listing)
    listing.set_defaults(handler=run_list)

    show = commands.add_parser(
        "show",
        help="show a request, its answer and its run's resumption",
        description="Show a feedback request, its answer and its run's resumption.",
    )
    show.add_argument("feedback_id", metavar="ID")
    show.add_argument("--json", action="store_true", help='print {"request": ..., "response": ...}')
    add_store_arguments(show)
    show.set_defaults(handler=run_show)

    answer = commands.add_parser(
        "answer",
        help="answer a request",
        description="Answer a pending or timed-out request with the kind of answer it asks for. A run that paused "
        "on it is resumed by a resumer (graflow hitl resumer, or the API server).",
    )
    answer.add_argument("feedback_id", metavar="ID")
    kind = answer.add_mutually_exclusive_group(required=True)
    kind.add_argument("--approve", action="store_true", help="approve (approval requests)")
    kind.add_argument("--reject", action="store_true", help="reject (approval requests)")
    kind.add_argument("--text", help="the answer (text requests)")
    kind.add_argument("--select", metavar="OPTION", help="one of the options (selection requests)")
    kind.add_argument(
        "--select-multiple",
        metavar="OPTION",
        action="append",
        help="one of the options; repeat for each (multi-selection requests)",
    )
    kind.add_argument("--custom", metavar="JSON", help="a JSON object (custom requests)")
    answer.add_argument("--reason", help="why (with --approve or --reject)")
    answer.add_argument("--by", default=None, help="who answers (recorded as responded_by)")
    add_store_arguments(answer)
    answer.set_defaults(handler=run_answer)

    cancel = commands.add_parser(
        "cancel",
        help="cancel a request (its waiting task fails at once)",
        description="Cancel a pending or timed-out request: a task waiting for it fails "
        "at once, and it never accepts an answer.",
    )
    cancel.add_argument("feedback_id", metavar="ID")
    add_store_arguments(cancel)
    cancel.set_defaults(handler=run_cancel)

    register_resumer(commands)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


@command
def run_list(args: argparse.Namespace) -> int:
    """Print the requests; returns the exit code."""
    from graflow.hitl.types import OPEN_STATUSES

    manager = open_manager(args)
    requests = manager.list_requests(args.session, max(args.limit, 0) if args.all else sys.maxsize)
    if not args.all:
        requests = [r for r in requests if r.status in OPEN_STATUSES][: max(args.limit, 0)]
    if args.json:
        for request in requests:
            print(json.dumps(request.to_dict(), default=str, ensure_ascii=False))
        return EXIT_OK
    if not requests:
        print("No feedback requests" if args.all else "No open feedback requests (--all lists every status)")
        return EXIT_OK
    table = [("ID", "STATUS", "TYPE", "TASK", "CREATED", "RUN", "PROMPT")]
    for r in requests:
        prompt = " ".join(r.prompt.split())
        if len(prompt) > _PROMPT_WIDTH:
            prompt = prompt[: _PROMPT_WIDTH - 3] + "..."
        table.append(
            (
                r.feedback_id,
                r.status,
                r.feedback_type.value,
                r.task_id,
                r.created_at[:19].replace("T", " "),
                _run_state(r),
                prompt,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))
    return EXIT_OK


def _run_state(request: FeedbackRequest) -> str:
    """What became of the request's run: ``-`` (not paused), ``paused``, or the resumption's state."""
    from graflow.hitl import resume_state as rs

    if rs.paused_checkpoint(request) is None:
        return "-"
    state = request.metadata.get(rs.RESUME_STATE)
    if state == rs.DONE:
        return f"resumed: {request.metadata.get(rs.RUN_STATUS)}"
    return f"resume {state}" if state else "paused"


@command
def run_show(args: argparse.Namespace) -> int:
    """Print one request and its answer; returns the exit code."""
    manager = open_manager(args)
    request = find_request(manager, args.feedback_id)
    response = manager.get_response(request.feedback_id)
    if args.json:
        print(
            json.dumps(
                {"request": request.to_dict(), "response": response.to_dict() if response else None},
                default=str,
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    rows: list[tuple[str, Any]] = [
        ("id", request.feedback_id), ("status", request.status), ("type", request.feedback_type.value),
        ("prompt", request.prompt), ("options", ", ".join(request.options) if request.options else None),
        ("task", request.task_id), ("session", request.session_id), ("created", request.created_at),
        ("timeout", f"{request.timeout:g}s"), ("channel key", request.channel_key), ("run", _run_state(request)),
    ]  # fmt: skip
    rows += [(f"metadata.{key}", value) for key, value in request.metadata.items()]
    if response is not None:
        rows += [
            ("answer", answer_text(response)),
            ("reason", response.reason),
            ("answered at", response.responded_at),
            ("answered by", response.responded_by),
        ]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        if value is not None:
            shown = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
            print(f"{key.ljust(width)}  {shown}")
    return EXIT_OK


@command
def run_cancel(args: argparse.Namespace) -> int:
    """Cancel a request; returns the exit code."""
    from graflow.hitl.types import CANCELLED, COMPLETED

    manager = open_manager(args)
    request = find_request(manager, args.feedback_id)
    if request.status == COMPLETED:
        raise HitlCommandError(f"feedback {request.feedback_id} was already answered; it cannot be cancelled")
    if request.status == CANCELLED:
        print(f"Feedback {request.feedback_id} was already cancelled")
        return EXIT_OK
    if not manager.cancel(request.feedback_id):
        raise HitlCommandError(f"feedback {request.feedback_id} was answered meanwhile; it cannot be cancelled")
    print(f"Cancelled {request.feedback_id}")
    return EXIT_OK


__all__ = ["DESCRIPTION", "register", "run_cancel", "run_list", "run_show"]
