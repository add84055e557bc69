"""``graflow resume <checkpoint>`` and ``graflow checkpoints <dir>``: thin wrappers over CheckpointManager."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: Exit codes of ``graflow resume``.
EXIT_OK = 0
EXIT_WORKFLOW_FAILED = 1
EXIT_REFUSED = 2

_META_WIDTH = 60
#: Keys every task checkpoint adds to the metadata; the table shows only what the user added (``--json`` shows all).
_ENRICHED_KEYS = frozenset({"task_id", "cycle_count", "elapsed_time", "mode"})


def register(subparsers: Any) -> None:
    """Add the ``resume`` and ``checkpoints`` subcommands."""
    resume = subparsers.add_parser(
        "resume",
        help="resume a workflow from a checkpoint and run it to completion",
        description="Verify a checkpoint (checksums, signature, graph hash), resume it and run it to completion. "
        "The result is printed on stdout. Exit status: 0 done, 1 the workflow failed, 2 the checkpoint was refused.",
    )
    resume.add_argument("checkpoint", help="checkpoint .pkl path or base path (or redis://host:port/db/<base>)")
    resume.add_argument("--restore-channel", action="store_true",
                        help="put back the Redis channel snapshot stored with the checkpoint")
    resume.add_argument("--json", action="store_true", help="print a JSON object instead of the bare result")
    resume.set_defaults(handler=run_resume)

    listing = subparsers.add_parser(
        "checkpoints",
        help="list the checkpoints in a directory",
        description="List committed checkpoints at or below a directory (or redis://host:port/db/<dir>): "
        "id, time, steps, next task and user metadata, oldest first.",
    )
    listing.add_argument("directory", nargs="?", default="checkpoints", help="directory to scan (default: checkpoints)")
    listing.add_argument("--json", action="store_true", help="print JSON lines, one checkpoint per line")
    listing.add_argument("--verify", action="store_true", help="also verify checksums and signatures of each")
    listing.set_defaults(handler=run_list)


def _render(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def run_resume(args: argparse.Namespace) -> int:
    """Resume and run; returns the exit code."""
    from graflow.core.checkpoint import CheckpointError, CheckpointManager
    from graflow.exceptions import GraflowError

    try:
        context, metadata = CheckpointManager.resume_from_checkpoint(
            args.checkpoint, restore_channel=args.restore_channel
        )
    except (CheckpointError, NotImplementedError) as exc:
        print(f"graflow resume: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    resumed_at = context.steps
    done_before = len(context.execution_log)
    print(f"Resuming session {metadata.session_id} from step {resumed_at} ({args.checkpoint})", file=sys.stderr)
    try:
        result = context.execute()
    except GraflowError as exc:
        print(f"graflow resume: the workflow failed: {exc}", file=sys.stderr)
        return EXIT_WORKFLOW_FAILED
    if args.json:
        print(json.dumps({
            "result": result,
            "session_id": context.session_id,
            "status": getattr(context, "status", None),
            "resumed_at_step": resumed_at,
            "steps": context.steps,
            "ran": context.execution_log[done_before:],
        }, default=repr))
    else:
        print(_render(result))
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """Print the listing; returns the exit code (2 when the location cannot be read)."""
    from graflow.core.checkpoint import CheckpointError, CheckpointManager

    try:
        rows = CheckpointManager.list_checkpoints(args.directory, verify=args.verify)
    except (CheckpointError, NotImplementedError) as exc:
        print(f"graflow checkpoints: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict(), default=repr))
        return EXIT_OK
    if not rows:
        print(f"No checkpoints in {args.directory}")
        return EXIT_OK
    table = [("ID", "TIME", "STEPS", "NEXT TASK", "METADATA", "LOCATION")]
    for row in rows:
        shown = {k: v for k, v in row.user_metadata.items() if k not in _ENRICHED_KEYS}
        meta = json.dumps(shown, default=repr, sort_keys=True) if shown else "-"
        if len(meta) > _META_WIDTH:
            meta = meta[: _META_WIDTH - 3] + "..."
        if row.error:
            meta = f"INVALID ({row.error})"
        table.append((row.checkpoint_id, row.created_at[:19].replace("T", " "), str(row.steps),
                      row.next_task or "-", meta, row.location))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]))
    return EXIT_OK


__all__ = ["register", "run_list", "run_resume"]
