"""Run one task attempt in this process: ``python -m graflow.handlers.runner <task directory>``.

The directory holds ``payload.pkl`` and ``meta.json`` written by the run (see :mod:`graflow.handlers.protocol`).
The runner writes ``outcome.pkl`` next to them (atomically) and exits 0, also when the task raised: the task's
exception is part of the outcome. A payload that cannot be loaded (a module that is not importable here, another
Python version) is reported the same way, as the task's error. Any other exit status means this process died
before it could report, and the run says so with the exit status and the last lines of stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from graflow.core import serialization
from graflow.handlers.child import dump_outcome, run_payload, with_child_traceback
from graflow.handlers.protocol import META_FILE, OUTCOME_FILE, PAYLOAD_FILE, TaskOutcome, TaskPayload


def read_meta(workdir: Path) -> dict[str, Any]:
    """``meta.json`` of ``workdir`` (empty when missing or unreadable)."""
    try:
        meta = json.loads((workdir / META_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def load_payload(workdir: Path, meta: dict[str, Any]) -> TaskPayload:
    """Unpickle the payload; on failure the error says what this process would need to load it."""
    try:
        payload = serialization.loads((workdir / PAYLOAD_FILE).read_bytes())
        if not isinstance(payload, TaskPayload):
            raise TypeError(f"{PAYLOAD_FILE} holds a {type(payload).__name__}, not a TaskPayload")
    except Exception as exc:
        import graflow

        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        note = (
            f"while loading task '{meta.get('task_id', '?')}' in its own process: the task's module and the types "
            "of its inputs and channel values must be importable there"
        )
        if meta.get("python") not in (None, here):
            note += f"; the run uses Python {meta['python']}, this process Python {here}"
        if meta.get("graflow") not in (None, graflow.__version__):
            note += f"; the run uses graflow {meta['graflow']}, this process graflow {graflow.__version__}"
        exc.add_note(note)
        raise
    return payload


def run_directory(workdir: Path) -> None:
    """Run the attempt in ``workdir`` and write its outcome there."""
    meta = read_meta(workdir)
    try:
        payload = load_payload(workdir, meta)
    except Exception as exc:
        outcome = TaskOutcome(error=with_child_traceback(exc))
    else:
        outcome = run_payload(payload)
    data = dump_outcome(outcome, str(meta.get("task_id", "?")))
    partial = workdir / f"{OUTCOME_FILE}.partial"
    partial.write_bytes(data)
    os.replace(partial, workdir / OUTCOME_FILE)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m graflow.handlers.runner <task directory>", file=sys.stderr)
        return 2
    run_directory(Path(args[0]))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
