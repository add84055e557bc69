"""A workflow whose definition raises while it is loaded, as a finding at the line of the user's code that raised.

A group policy that can never pass, a task id used twice, a bad task option: Graflow rejects these while the
workflow is being defined, so loading the file fails. That is a defect of the workflow, like the findings of the
checks, and it is reported the same way, at the innermost line of the user's own code.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from graflow.validation.findings import Finding, Location

#: Graflow's own package folder: frames there are not the user's code.
_GRAFLOW_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def load_failure(error: BaseException, workflow_file: str | None = None) -> Finding | None:
    """The finding for a workflow that failed to load because its code raised; None when nothing was run.

    Args:
        error: The load error; its ``__cause__`` is what the user's code raised (no cause: the file or workflow
            was not found, which is a usage error and no finding).
        workflow_file: The workflow's file, preferred when the traceback passes through it.
    """
    cause = error.__cause__
    if cause is None:
        return None
    problem = str(getattr(error, "problem", "") or error)
    if isinstance(cause, ModuleNotFoundError) and problem.startswith("no such"):
        return None
    text = str(cause).splitlines()[0] if str(cause) else ""
    if isinstance(cause, SyntaxError):
        text = str(cause.msg)
    raised = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
    return Finding("load", f"cannot be loaded: {raised}", _where(cause, workflow_file))


def _where(cause: BaseException, workflow_file: str | None) -> Location:
    """The innermost frame in ``workflow_file``, else in code outside Graflow, else the workflow file itself."""
    if isinstance(cause, SyntaxError) and cause.filename:
        return Location(str(Path(cause.filename).resolve()), int(cause.lineno or 0))
    wanted = str(Path(workflow_file).resolve()) if workflow_file else None
    frames = traceback.extract_tb(cause.__traceback__)
    own = [f for f in frames if wanted is not None and _resolved(f.filename) == wanted]
    outside = [f for f in frames
               if not f.filename.startswith("<") and not _resolved(f.filename).startswith(_GRAFLOW_DIR)]
    for candidates in (own, outside):
        if candidates:
            frame = candidates[-1]
            return Location(_resolved(frame.filename), int(frame.lineno or 0))
    return Location(wanted or "", 1 if wanted else 0)


def _resolved(filename: str) -> str:
    try:
        return str(Path(filename).resolve())
    except OSError:
        return filename


__all__ = ["load_failure"]
