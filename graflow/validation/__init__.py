"""Find what would fail when a workflow runs, before it runs.

``validate_workflow(wf)`` returns one :class:`Finding` per problem, located at the task function's definition:

- ``start_node``: no start node, or several and none chosen (D4);
- ``handler``: a task names a handler the workflow does not register (D15);
- ``cycle``: a loop of the static graph on which no task takes its context, so none can end it;
- ``parameter``: a required parameter no upstream task, run parameter or default can fill (D11);
- ``output_reference``: ``x.outputs[...]`` whose task does not run first, or a key its result never has;
- ``group_policy``: a parallel-group policy that fails whatever the members do;
- ``pickle`` (distributed runs only): a task or handler that cannot travel to a worker;
- ``load``: the definition itself raises (:func:`load_failure`).

The checks read the definition only: no task runs, nothing is imported beyond what the workflow imports.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from graflow.exceptions import GraflowError
from graflow.validation.findings import KINDS, Finding, Location, display_path
from graflow.validation.graph_checks import (
    check_cycles,
    check_group_policies,
    check_handlers,
    check_output_references,
    check_pickling,
    check_start_node,
)
from graflow.validation.load_errors import load_failure
from graflow.validation.parameters import check_parameters
from graflow.validation.view import WorkflowView


class UnknownStartTaskError(GraflowError):
    """The start task given for validation is not a task of the workflow.

    Args:
        task_id: The id that was given.
        known: The workflow's task ids.
    """

    def __init__(self, task_id: str, known: list[str]) -> None:
        self.task_id = task_id
        self.known = known
        close = difflib.get_close_matches(task_id, known, n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"no task named '{task_id}' in the workflow{hint}")


def validate_workflow(
    workflow: Any,
    *,
    parameters: Mapping[str, Any] | None = None,
    start: str | None = None,
    distributed: bool = False,
    source: str | None = None,
) -> list[Finding]:
    """Every finding for ``workflow``, ordered by file and line.

    Args:
        workflow: A ``WorkflowContext``.
        parameters: Run parameters (channel keys set before the run, ``-p key=value``).
        start: The task the run starts from, when it is chosen rather than detected.
        distributed: Also check what a run on Redis workers needs (pickling).
        source: The workflow's file; findings without a task function point there.

    Raises:
        UnknownStartTaskError: ``start`` is not a task of the workflow.
    """
    view = WorkflowView.of(workflow, Location(source or "", 1 if source else 0))
    if start is not None and start not in view.tasks:
        raise UnknownStartTaskError(start, list(view.tasks))
    # What the run reaches from its start; with no single start, from every candidate (each is reported).
    starts = [start] if start is not None else [str(s) for s in view.graph.get_start_nodes()]
    runs = view.reachable(starts) if starts else None
    findings = [
        *check_start_node(view, start),
        *check_handlers(view),
        *check_cycles(view, runs),
        *check_parameters(view, parameters or {}, runs),
        *check_output_references(view),
        *check_group_policies(view),
    ]
    if distributed:
        findings += check_pickling(view)
    return sorted(findings, key=lambda f: (f.location.file, f.location.line, KINDS.index(f.kind)))


__all__ = [
    "KINDS",
    "Finding",
    "Location",
    "UnknownStartTaskError",
    "display_path",
    "load_failure",
    "validate_workflow",
]
