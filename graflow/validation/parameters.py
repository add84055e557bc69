"""Task parameters that keyword resolution (D11) cannot fill when the workflow runs.

When a task runs, each of its parameters without a default is filled, in this order, from the result of a task of
the same name, the channel key of that name (a run parameter, ``-p name=value``, or a key an earlier task set), or
the result of a triggering task when that result is a mapping holding the name. A parameter none of these can fill
fails the task with ``TypeError``. The check here finds such parameters before the run, assuming the best where the
definition does not say (see :mod:`graflow.validation.annotations`), so that what it reports does fail.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from graflow.validation.annotations import may_write_channel_key, result_shape
from graflow.validation.findings import Finding
from graflow.validation.view import WorkflowView


def required_parameters(task: Any) -> list[str] | None:
    """Parameters of a function task that keyword resolution must fill (no default, not bound); None for other
    nodes. Injected parameters (context, LLM client and agent) are not among them."""
    if getattr(task, "func", None) is None or not callable(getattr(task, "_signature", None)):
        return None
    try:
        # The engine's own analysis of the signature, so the check and the run agree on what is resolved.
        resolvable: tuple[tuple[str, bool], ...] = task._signature()[0]
    except Exception:  # a callable without a signature: nothing to say about it
        return None
    bound = getattr(task, "_bound_kwargs", None) or {}
    return [name for name, has_default in resolvable if not has_default and name not in bound]


def check_parameters(view: WorkflowView, given: Mapping[str, Any], runs: set[str] | None = None) -> list[Finding]:
    """One finding per required task parameter that no upstream task, given parameter or default can fill.

    Args:
        view: The workflow.
        given: The run's parameters (channel keys set before the run starts).
        runs: The tasks the run reaches from its start (default: all). A task only a running task adds or binds
            (``ctx.next_task(t(task_id=..., x=...))``) is not reached, and may get its values then.
    """
    findings: list[Finding] = []
    for task_id, task in view.tasks.items():
        if runs is not None and task_id not in runs:
            continue
        required = required_parameters(task)
        if not required:
            continue
        if not getattr(task, "resolve_keyword_args", True):
            findings += [
                view.finding(
                    "parameter",
                    f"parameter '{name}' gets no value: keyword resolution is off (resolve_keyword_args=False) and "
                    f"it is not bound; bind it ({task_id}(..., {name}=...)) or give it a default",
                    task_id,
                )
                for name in required
            ]
            continue
        upstream = view.ancestors(task_id)
        triggers = view.triggers(task_id)
        for name in required:
            if not _resolvable(view, name, given, upstream, triggers):
                findings.append(view.finding("parameter", _message(view, name, given, upstream), task_id))
    return findings


def _resolvable(
    view: WorkflowView, name: str, given: Mapping[str, Any], upstream: set[str], triggers: list[str]
) -> bool:
    if name in given or name in upstream:
        return True
    if any(result_shape(view.tasks.get(t)).may_hold(name) for t in triggers):
        return True
    return any(may_write_channel_key(view.tasks.get(t), name) for t in upstream)


def _message(view: WorkflowView, name: str, given: Iterable[str], upstream: set[str]) -> str:
    message = (
        f"parameter '{name}' gets no value: no upstream task is named '{name}' or returns it, it has no default, "
        f"and no run parameter sets it (-p {name}=VALUE)"
    )
    candidates = sorted({*upstream, *given, *view.tasks} - {name})
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if close:
        message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return message


__all__ = ["check_parameters", "required_parameters"]
