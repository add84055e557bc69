"""``graflow validate``: report what would fail when a workflow runs, before it runs (checks: graflow.validation)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from graflow.cli._loading import ParameterError, WorkflowLoadError, load_workflow, parse_parameters, split_spec

#: Exit codes: clean, findings, usage error (bad spec or option).
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

HELP = """Check a workflow for what would fail when it runs, without running it.

\b
Reports, one line each as FILE:LINE: task 'x': message (LINE is the task function's definition):
  - no start node, or several when none is chosen (--start)
  - a handler name no handler is registered for
  - a loop on which no task takes inject_context=True (it runs until max_steps)
  - a parameter no upstream task, run parameter (-p) or default can fill
  - an output reference (x.outputs[...]) to a task that does not run first
  - a parallel-group policy that can never pass
  - with --distributed: tasks and handlers that cannot be pickled for a worker
  - a workflow whose definition raises while it is loaded

Exit status: 0 no findings, 1 findings, 2 usage error (no such file or workflow, bad -p).

\b
Examples:
  graflow validate etl.py
  graflow validate etl.py:nightly -p day=2025-01-31 --distributed
  graflow validate pipelines.sales:build --json
"""


@click.command("validate", help=HELP, short_help="check a workflow for what would fail when it runs")
@click.argument("spec", metavar="FILE[:WORKFLOW]")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="a run parameter (a channel key set before the run); the value is JSON when it parses. Repeatable.")
@click.option("--start", metavar="TASK", help="the task the run starts from (default: the one without predecessor)")
@click.option("--distributed", is_flag=True, help="also check what Redis workers need (tasks and handlers pickle)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (for CI) instead of lines")
@click.pass_context
def validate(
    ctx: click.Context, spec: str, params: tuple[str, ...], start: str | None, distributed: bool, as_json: bool
) -> None:
    from graflow.validation import UnknownStartTaskError, load_failure, validate_workflow

    try:
        parameters = parse_parameters(params)
    except ParameterError as exc:
        _usage(ctx, str(exc))
    source = _source_file(spec)
    try:
        # What the workflow's code prints while it is loaded must not mix with the report (--json reads stdout).
        with contextlib.redirect_stdout(sys.stderr):
            workflow = load_workflow(spec)
    except WorkflowLoadError as exc:
        finding = load_failure(exc, source)
        if finding is None:
            _usage(ctx, exc.problem)
        _report(ctx, [finding], None, source, as_json, checked=0)
    if source is None:  # a module spec: findings without a task function point at the module's file
        module = sys.modules.get(split_spec(spec)[0])
        source = getattr(module, "__file__", None)
    try:
        findings = validate_workflow(
            workflow, parameters=parameters, start=start, distributed=distributed, source=source
        )
    except UnknownStartTaskError as exc:
        _usage(ctx, f"--start: {exc}")
    except Exception as exc:  # a workflow object the checks cannot read: one line, not a traceback
        click.echo(f"graflow validate: could not check the workflow: {type(exc).__name__}: {exc}", err=True)
        ctx.exit(EXIT_FINDINGS)
    _report(ctx, findings, workflow.name, source, as_json, checked=len(workflow.graph))


def _source_file(spec: str) -> str | None:
    """The workflow's file: the spec's file, or the module's file when the spec names an importable module."""
    target, _name = split_spec(spec)
    path = Path(target).expanduser()
    if path.suffix == ".py" or path.is_file():
        return str(path.resolve())
    return None


def _report(
    ctx: click.Context, findings: list[Any], name: str | None, source: str | None, as_json: bool, checked: int
) -> None:
    if as_json:
        document = {
            "workflow": name,
            "file": _shown(source),
            "ok": not findings,
            "tasks_checked": checked,
            "findings": [f.to_dict() for f in findings],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        for finding in findings:
            click.echo(finding.format())
        if findings:
            noun = "finding" if len(findings) == 1 else "findings"
            click.echo(f"{len(findings)} {noun}" + (f" in workflow '{name}'" if name else ""), err=True)
        else:
            click.echo(f"workflow '{name}': no findings ({checked} tasks checked)", err=True)
    ctx.exit(EXIT_FINDINGS if findings else EXIT_CLEAN)


def _shown(source: str | None) -> str | None:
    if source is None:
        return None
    from graflow.validation import display_path

    return display_path(source)


def _usage(ctx: click.Context, problem: str) -> Any:
    click.echo(f"graflow validate: {problem}", err=True)
    ctx.exit(EXIT_USAGE)


commands: list[click.Command] = [validate]
