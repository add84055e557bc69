"""``graflow runs``, ``graflow runs prune``, ``graflow show`` and ``graflow cancel``: the run store, read and acted on.

Every command reads the store named by ``--store URL``, else ``GRAFLOW_RUN_STORE``, else the embedded SQLite file
``$GRAFLOW_HOME/runs.db`` (where ``graflow run`` records). A run is named by its id or by a prefix of it that only
one run has. See ``docs/cli.md``.
"""

from __future__ import annotations

import getpass
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import wraps
from typing import Any, TypeVar

import click

from graflow.cli._loading import ParameterError, WorkflowLoadError
from graflow.cli._progress import (
    format_seconds,
    format_time,
    profile_lines,
    table_lines,
)
from graflow.exceptions import GraflowError

#: Exit codes shared by the run commands (``graflow run`` adds 3, 4 and 5).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Statuses of a run that is still going (a cancel request reaches it through its recorder).
LIVE_STATUSES = frozenset({"created", "running"})

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(GraflowError):
    """A problem a command reports in one line on stderr before it exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def reports_errors(name: str) -> Callable[[F], F]:
    """Turn the errors a command expects into one line on stderr and an exit code, without a traceback."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except CommandError as exc:
                code, message = exc.exit_code, exc.message
            except (WorkflowLoadError, ParameterError) as exc:
                code, message = EXIT_USAGE, str(exc)
            except ImportError as exc:  # an optional package the command needs
                code, message = EXIT_USAGE, str(exc)
            except GraflowError as exc:  # the store is down, a checkpoint is refused ...
                code, message = EXIT_FAILED, str(exc)
            click.echo(f"graflow {name}: {message.splitlines()[0] if message else 'failed'}", err=True)
            raise click.exceptions.Exit(code)

        return wrapper  # type: ignore[return-value]

    return decorate


def store_option(func: F) -> F:
    """The ``--store URL`` option."""
    return click.option(
        "--store", "store_url", metavar="URL", default=None,
        help="Run store URL (default: GRAFLOW_RUN_STORE, else sqlite:///$GRAFLOW_HOME/runs.db).",
    )(func)


def safe_url(url: str) -> str:
    """A store URL without its password."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", url)


@contextmanager
def opened_store(url: str | None) -> Iterator[Any]:
    """The run store ``url`` names (None: the default), closed afterwards."""
    from graflow.runs import open_run_store

    store = open_run_store(url)
    try:
        yield store
    finally:
        store.close()


def find_run(store: Any, run_ref: str) -> Any:
    """The run whose id is ``run_ref``, or the one run whose id starts with it.

    Raises:
        CommandError: No such run, or several runs start with the prefix (they are named).
    """
    run = store.get_run(run_ref)
    if run is not None:
        return run
    matches = store.find_run_ids(run_ref, limit=6) if run_ref else []
    if len(matches) == 1:
        return store.get_run(matches[0])
    if not matches:
        raise CommandError(f"no run {run_ref!r} in the run store")
    listed = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
    raise CommandError(f"run id prefix {run_ref!r} is ambiguous: {listed}")


def _duration(run: Any, now: float) -> float | None:
    if run.started_at is None:
        return None
    return float((run.ended_at or now) - run.started_at)


def _status_style(status: str) -> str:
    colour = {"completed": "green", "terminated": "green", "failed": "red", "crashed": "red", "running": "cyan",
              "canceled": "yellow", "paused": "magenta", "max_steps_reached": "yellow"}.get(status)
    return click.style(status, fg=colour) if colour else status


# -- graflow runs -------------------------------------------------------------------------------------------------
RUNS_HELP = """List recorded runs, newest first.

\b
Examples:
  graflow runs
  graflow runs --status failed --status crashed --limit 50
  graflow runs --workflow nightly_etl --json
  graflow runs prune --older-than 30d --yes

\b
Exit codes: 0 listed, 1 the run store cannot be read, 2 usage (an unknown status).
"""


@click.group("runs", invoke_without_command=True, help=RUNS_HELP, short_help="List recorded runs.")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="Only runs in this status (repeat for several): created, running, completed, failed, canceled, "
                   "terminated, max_steps_reached, paused, crashed.")
@click.option("--workflow", default=None, metavar="NAME", help="Only runs of this workflow.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1, max=10_000), metavar="N",
              help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run and line.")
@store_option
@click.pass_context
@reports_errors("runs")
def runs_command(ctx: click.Context, statuses: tuple[str, ...], workflow: str | None, limit: int, as_json: bool,
                 store_url: str | None) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from graflow.runs import RUN_STATUSES

    unknown = [s for s in statuses if s not in RUN_STATUSES]
    if unknown:
        raise CommandError(f"unknown status {unknown[0]!r}; known: {', '.join(RUN_STATUSES)}")
    with opened_store(store_url) as store:
        page = store.list_runs(status=list(statuses) or None, workflow=workflow, limit=limit)
    if as_json:
        for run in page.runs:
            click.echo(json.dumps(asdict(run), default=repr))
        return
    if not page.runs:
        click.echo("No runs recorded" + (" that match" if statuses or workflow else "") + ".")
        return
    now = time.time()
    rows = [[run.run_id, run.workflow, run.status, format_time(run.started_at or run.created_at),
             format_seconds(_duration(run, now)), run.retry_of or "-"] for run in page.runs]
    lines = table_lines(["RUN", "WORKFLOW", "STATUS", "STARTED", "DURATION", "RETRY OF"], rows)
    click.echo(lines[0])
    for line, run in zip(lines[1:], page.runs, strict=True):
        click.echo(line.replace(run.status, _status_style(run.status), 1))
    if page.next_cursor:
        click.echo(f"(more runs: raise --limit above {limit})")


PRUNE_HELP = """Delete the runs that ended more than AGE ago, with their task attempts.

Running runs are never deleted. Asks for confirmation unless --yes.

\b
Examples:
  graflow runs prune --older-than 30d
  graflow runs prune --older-than 12h --yes

\b
Exit codes: 0 pruned, 1 declined at the prompt or the store failed, 2 a bad AGE.
"""


@runs_command.command("prune", help=PRUNE_HELP, short_help="Delete old runs.")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="An age: 90s, 15m, 12h, 7d or 2w.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_option
@click.pass_context
@reports_errors("runs prune")
def prune_command(ctx: click.Context, older_than: str, yes: bool, store_url: str | None) -> None:
    from graflow.runs import RunStoreError, age_seconds, default_store_url

    store_url = store_url or (ctx.parent.params.get("store_url") if ctx.parent else None)
    try:
        age_seconds(older_than)
    except RunStoreError as exc:
        raise CommandError(f"bad --older-than: {exc}") from exc
    shown = safe_url(store_url or default_store_url())
    if not yes:
        click.confirm(f"Delete the runs that ended more than {older_than} ago from {shown}?", abort=True)
    with opened_store(store_url) as store:
        deleted = store.prune(older_than)
    click.echo(f"Deleted {deleted} run(s) that ended more than {older_than} ago.")


# -- graflow show -------------------------------------------------------------------------------------------------
SHOW_HELP = """Show one run: its status and history, parameters, result, task attempts with durations, the error with
its traceback, the checkpoint to resume from, and the --profile table.

RUN is a run id or a prefix only one run has.

\b
Examples:
  graflow show 5c1f0c2d
  graflow show 5c1f0c2d --json

\b
Exit codes: 0 shown, 1 the run store cannot be read, 2 no such run (or an ambiguous prefix).
"""


@click.command("show", help=SHOW_HELP, short_help="Show one run.")
@click.argument("run_ref", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help='Print {"run": ..., "tasks": [...]} as JSON.')
@store_option
@reports_errors("show")
def show_command(run_ref: str, as_json: bool, store_url: str | None) -> None:
    with opened_store(store_url) as store:
        run = find_run(store, run_ref)
        tasks = store.list_tasks(run.run_id)
    if as_json:
        click.echo(json.dumps({"run": asdict(run), "tasks": [asdict(t) for t in tasks]}, default=repr, indent=2))
        return
    for line in _show_lines(run, tasks):
        click.echo(line)


def _show_lines(run: Any, tasks: list[Any]) -> Iterator[str]:
    now = time.time()
    history = " → ".join(str(status) for status, _ in run.history)
    fields = [
        ("Run", run.run_id),
        ("Workflow", run.workflow),
        ("Status", f"{_status_style(run.status)}" + (f"  ({history})" if history else "")),
        ("Spec", run.spec or "-"),
        ("Retry of", run.retry_of or "-"),
        ("Started", format_time(run.started_at or run.created_at)),
        ("Ended", format_time(run.ended_at)),
        ("Duration", format_seconds(_duration(run, now))),
        ("Host", f"{run.host or '-'} (pid {run.pid or '-'})" + (f", worker {run.worker_id}" if run.worker_id else "")),
        ("Parameters", json.dumps(run.parameters, default=repr) if run.parameters else "-"),
        ("Result", run.result_preview if run.result_preview is not None else "-"),
    ]
    if run.feedback:
        waiting = ", ".join(f"{f.get('feedback_id')} ({f.get('task_id')}, {f.get('status')})" for f in run.feedback)
        fields.append(("Feedback", waiting))
    checkpoint = run.checkpoints[-1] if run.checkpoints else None
    fields.append(("Checkpoint", f"{checkpoint}  (graflow retry {run.run_id[:12]} resumes from it)"
                   if checkpoint else "-"))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        yield f"{name.ljust(width)}  {value}"
    yield ""
    yield f"Tasks ({len(tasks)} attempt(s))"
    if tasks:
        start = run.started_at or run.created_at
        rows = [[t.task_id, str(t.attempt), t.status, f"+{format_seconds(max(0.0, t.started_at - start))}",
                 format_seconds(t.duration),
                 f"{t.error_type}: {t.error_message}" if t.error_type else "-"] for t in tasks]
        for line in table_lines(["TASK", "ATTEMPT", "STATUS", "STARTED", "DURATION", "ERROR"], rows):
            yield "  " + line
    if run.error_type or run.traceback:
        yield ""
        yield "Error"
        yield f"  {run.error_type}: {run.error_message}"
        if run.traceback:
            yield ""
            yield from ("  " + line for line in run.traceback.rstrip().splitlines())
    if run.profile:
        yield ""
        yield "Profile (slowest first)"
        yield from ("  " + line for line in profile_lines(run.profile))


# -- graflow cancel -----------------------------------------------------------------------------------------------
CANCEL_HELP = """Cancel a run.

A run going on in a `graflow run` process (or any process that records it) stops at its next task boundary, as
canceled: the running task finishes, nothing after it starts; that process exits with 5. A paused or crashed run is
marked canceled at once.

\b
Examples:
  graflow cancel 5c1f0c2d
  graflow cancel 5c1f0c2d --wait --timeout 60

\b
Exit codes: 0 requested (with --wait: the run stopped) or canceled already, 1 the run has ended or --wait timed
out, 2 no such run (or an ambiguous prefix).
"""


@click.command("cancel", help=CANCEL_HELP, short_help="Cancel a run.")
@click.argument("run_ref", metavar="RUN")
@click.option("--wait", is_flag=True, help="Wait until the run has stopped.")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --wait: give up after this many seconds (exit 1).")
@store_option
@reports_errors("cancel")
def cancel_command(run_ref: str, wait: bool, timeout: float, store_url: str | None) -> None:
    reason = f"canceled with graflow cancel by {_who()}"
    with opened_store(store_url) as store:
        run = find_run(store, run_ref)
        if run.status == "canceled":
            click.echo(f"Run {run.run_id} is canceled already.")
            return
        if run.status not in LIVE_STATUSES and run.status not in ("paused", "crashed"):
            raise CommandError(f"run {run.run_id} has ended ({run.status}); there is nothing to cancel", EXIT_FAILED)
        store.request_cancel(run.run_id, reason)
        if run.status not in LIVE_STATUSES:  # nothing runs it: record the outcome here
            store.update_run(run.run_id, status="canceled", ended_at=time.time(), expires_at=None,
                             error_type="Canceled", error_message=reason)
            click.echo(f"Run {run.run_id} ({run.status}) is canceled.")
            return
        click.echo(f"Cancel requested: run {run.run_id} stops at its next task boundary.")
        if wait:
            final = _wait_for_end(store, run.run_id, timeout)
            if final is None:
                raise CommandError(f"run {run.run_id} was still running after {timeout:g}s", EXIT_FAILED)
            click.echo(f"Run {run.run_id} ended: {final}.")


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _wait_for_end(store: Any, run_id: str, timeout: float) -> str | None:
    """The run's status once it is no longer live, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        run = store.get_run(run_id)
        if run is None or run.status not in LIVE_STATUSES:
            return None if run is None else str(run.status)
        if time.monotonic() >= deadline:
            return None
        pause.wait(0.2)


commands: list[click.Command] = [runs_command, show_command, cancel_command]

__all__ = ["CommandError", "commands", "find_run", "opened_store", "reports_errors", "safe_url", "store_option"]
