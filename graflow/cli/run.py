"""``graflow run`` and ``graflow retry``: run a workflow from a file or module, show its progress, record it.

The engine does the work; this module wires a run together: load the workflow (:mod:`graflow.cli._loading`), make
its context, add the progress display, the profiler and the run store's recorder as hooks, run it, and turn how it
ended into an exit code. See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from graflow import defaults
from graflow.cli._loading import check_start, load_workflow, parse_parameters, resolve_spec
from graflow.cli._progress import (
    RunDisplay,
    cancel_on_signals,
    configure_run_logging,
    current_workflow,
    first_line,
    profile_lines,
    render_value,
)
from graflow.cli.runs import CommandError, find_run, opened_store, reports_errors, store_option

#: Exit codes of ``graflow run`` and ``graflow retry``.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PAUSED, EXIT_MAX_STEPS, EXIT_CANCELED = range(6)
#: How a run's status maps to the exit code.
STATUS_EXIT = {"completed": EXIT_OK, "terminated": EXIT_OK, "failed": EXIT_FAILED, "paused": EXIT_PAUSED,
               "max_steps_reached": EXIT_MAX_STEPS, "canceled": EXIT_CANCELED}

EXIT_CODES_HELP = """\b
Exit codes:
  0  completed (or a task terminated the workflow)
  1  failed
  2  usage: bad file, unknown workflow or task, bad option or parameter
  3  paused, waiting for feedback (resumes from its checkpoint)
  4  stopped at --max-steps with tasks still queued
  5  cancelled (graflow cancel, Ctrl-C, SIGTERM)
"""


@dataclass
class Launch:
    """How to start a run: what ``graflow retry`` needs to start it again is recorded with it (``invocation``)."""

    spec: str
    parameters: dict[str, Any] = field(default_factory=dict)
    start: str | None = None
    max_steps: int | None = None
    checkpoint_every: str | None = None
    checkpoint_dir: str | None = None
    retry_of: str | None = None

    def invocation(self) -> dict[str, Any]:
        """What the run record keeps as ``invocation``."""
        return {"parameters": self.parameters, "start": self.start, "max_steps": self.max_steps,
                "checkpoint_every": self.checkpoint_every, "checkpoint_dir": self.checkpoint_dir, "cwd": os.getcwd()}


@dataclass
class Output:
    """What a run shows and records: display mode, ``--profile``, and the run store (None: not recorded)."""

    mode: str
    profile: bool
    store_url: str | None
    command: str = "run"


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The display and recording options ``run`` and ``retry`` share."""
    for option in reversed([
        click.option("--plain", is_flag=True, help="One line per task event, also on a terminal."),
        click.option("--quiet", "-q", is_flag=True, help="Print only the result (problems still go to stderr)."),
        click.option("--profile", is_flag=True,
                     help="Measure each task (wall time, CPU time, peak memory allocated, calls), print the table "
                          "after the run and store it with the run."),
        click.option("--no-record", is_flag=True, help="Do not record the run in the run store."),
        store_option,
    ]):
        func = option(func)
    return func


def _output(command: str, plain: bool, quiet: bool, profile: bool, no_record: bool, store_url: str | None) -> Output:
    from graflow.runs import default_store_url

    terminal = sys.stdout.isatty()
    mode = "quiet" if quiet else "plain" if plain or not terminal else "live"
    if no_record:
        os.environ.pop("GRAFLOW_RUN_STORE", None)  # the workflow's own run_store= still records
        return Output(mode, profile, None, command)
    return Output(mode, profile, store_url or default_store_url(), command)


def _checkpoint_every(text: str | None) -> Any:
    """``--checkpoint-every``: N steps, or a duration (``30s``, ``5m``)."""
    if text is None:
        return None
    from graflow.runs import RunStoreError, age_seconds

    if text.strip().isdigit():
        steps = int(text)
        if steps < 1:
            raise CommandError("--checkpoint-every must be at least 1 step")
        return steps
    try:
        seconds = age_seconds(text)
    except RunStoreError:
        raise CommandError(f"--checkpoint-every takes a number of steps or a duration such as 30s or 5m, "
                           f"not {text!r}") from None
    if seconds <= 0:
        raise CommandError("--checkpoint-every must be longer than 0s")
    return {"seconds": seconds}


# -- graflow run --------------------------------------------------------------------------------------------------
RUN_HELP = f"""Run a workflow and record it in the run store.

FILE[:WORKFLOW] is a Python file (path/to/flow.py) or module (package.module), with the name of a workflow in it
or of a function that takes no arguments and returns one. Without :WORKFLOW the file must define exactly one
workflow at its top level. The file is imported under its own name, not as __main__: code under
`if __name__ == "__main__":` does not run (an unguarded wf.execute() at the top level would).

Parameters seed the channel before the first task: -p day=2025-01-31 -p n=3 -p 'ids=[1, 2]' (a value is read as
JSON when it is JSON, else kept as a string). Progress is live on a terminal, one line per task event otherwise.

\b
Examples:
  graflow run flow.py
  graflow run flow.py:nightly -p day=2025-01-31 --profile
  graflow run pipelines.etl:build_workflow --start extract --max-steps 500 --plain
  graflow run flow.py --redis-url redis://localhost:6379/0 -q

{EXIT_CODES_HELP}"""


@click.command("run", help=RUN_HELP, short_help="Run a workflow from a file or module.")
@click.argument("spec", metavar="FILE[:WORKFLOW]")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter (repeatable).")
@click.option("--start", default=None, metavar="TASK", help="Start at this task (default: the one without "
                                                             "predecessors).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, metavar="N",
              help=f"Stop after N tasks (default {defaults.MAX_STEPS}); exit 4 when tasks were still queued.")
@click.option("--checkpoint-every", default=None, metavar="N|DURATION",
              help="Checkpoint every N tasks, or every DURATION (30s, 5m); graflow retry resumes from the last.")
@click.option("--checkpoint-dir", default=None, metavar="DIR",
              help="Where checkpoints go (default $GRAFLOW_HOME/checkpoints).")
@click.option("--redis-url", default=None, metavar="URL",
              help="Run on the Redis workers of this server instead of in this process.")
@click.option("--redis-key-prefix", default=defaults.REDIS_KEY_PREFIX, show_default=True, metavar="PREFIX",
              help="With --redis-url: the workers' key prefix.")
@output_options
@reports_errors("run")
def run_command(spec: str, params: tuple[str, ...], start: str | None, max_steps: int | None,
                checkpoint_every: str | None, checkpoint_dir: str | None, redis_url: str | None,
                redis_key_prefix: str, plain: bool, quiet: bool, profile: bool, no_record: bool,
                store_url: str | None) -> None:
    out = _output("run", plain, quiet, profile, no_record, store_url)
    parameters = parse_parameters(params)
    every = _checkpoint_every(checkpoint_every)
    if redis_url and (max_steps or checkpoint_every or profile):
        raise CommandError("--max-steps, --checkpoint-every and --profile apply to local runs, not with --redis-url")
    wf = load_workflow(spec)
    check_start(wf, start)
    launch = Launch(resolve_spec(spec), parameters, start, max_steps, checkpoint_every,
                    str(Path(checkpoint_dir or _default_checkpoint_dir()).expanduser().resolve()))
    if redis_url:
        raise click.exceptions.Exit(run_distributed(wf, launch, out, redis_url, redis_key_prefix))
    ctx = wf.create_context(start, max_steps or defaults.MAX_STEPS, initial_channel=parameters,
                            checkpoint_every=every, checkpoint_dir=launch.checkpoint_dir)
    raise click.exceptions.Exit(run_local(wf, ctx, launch, out))


def _default_checkpoint_dir() -> Path:
    from graflow.runs.settings import graflow_home

    return graflow_home() / "checkpoints"


# -- running one context ------------------------------------------------------------------------------------------
def run_local(wf: Any, ctx: Any, launch: Launch, out: Output, note: str | None = None) -> int:
    """Run ``ctx`` (a new context of ``wf`` or a resumed one) here, shown and recorded as ``out`` says.

    Returns:
        The exit code of how the run ended (:data:`STATUS_EXIT`).
    """
    from graflow.core.engine import WorkflowEngine

    configure_run_logging()
    recorder = None
    if out.store_url is not None:
        from graflow.runs import recorder_for

        recorder = recorder_for(out.store_url)
        recorder.annotate(ctx.session_id, spec=launch.spec, retry_of=launch.retry_of,
                          invocation=launch.invocation())
    display = RunDisplay(out.mode, wf.name)
    profiler = None
    if out.profile:
        from graflow.runs import TaskProfiler

        profiler = TaskProfiler().start()
    for hook in (display.hook if out.mode != "quiet" else None, profiler, recorder):
        if hook is not None:
            ctx.add_hook(hook)
    display.line(note or f"Running {wf.name} as run {ctx.session_id}")
    display.start(ctx)
    result: Any = None
    error: BaseException | None = None
    try:
        def stop(name: str) -> None:
            ctx.run.request_cancel(f"interrupted ({name})")
            display.line(f"{name}: stopping at the next task boundary ({name} again to abort)")

        with cancel_on_signals(stop), current_workflow(wf):
            try:
                result = WorkflowEngine().execute(ctx)
            except Exception as exc:  # how the run ended is read from ctx.status below
                error = exc
    finally:
        display.stop(str(ctx.status))
        if profiler is not None:
            profiler.stop()
        if recorder is not None and not recorder.flush(timeout=10):
            error_text = recorder.stats().get("last_error") or "the run store did not answer in time"
            _problem(out, f"the run was not recorded: {error_text.splitlines()[0]}")
    if profiler is not None:
        _report_profile(out, display, profiler.rows(), recorder, ctx.session_id)
    return _report(out, display, ctx, result, error)


def _report_profile(out: Output, display: RunDisplay, rows: list[dict[str, Any]], recorder: Any, run_id: str) -> None:
    for line in ["", "Profile (slowest first)", *profile_lines(rows), ""]:
        display.line(line)
    if recorder is None:
        return
    try:
        store = recorder.store
        if store is not None:
            store.update_run(run_id, profile=rows)
    except Exception as exc:  # the run itself is recorded; only its profile is missing
        click.echo(f"graflow {out.command}: the profile was not stored: {exc}", err=True)


def _report(out: Output, display: RunDisplay, ctx: Any, result: Any, error: BaseException | None) -> int:
    recorded = out.store_url is not None
    status = str(ctx.status)
    run_id = ctx.session_id
    took = f"{display.elapsed:.3f}s"
    if status in ("completed", "terminated"):
        tasks = max(len(display.hook.done), len(set(ctx.execution_log)))  # parallel members count too
        where = f"; graflow show {run_id}" if recorded else ""
        display.line(f"{status.capitalize()} in {took}: {tasks} task(s), run {run_id}{where}")
        if result is not None:
            click.echo(render_value(result))
        return EXIT_OK
    if status == "paused":
        waiting = ", ".join(sorted(set(ctx.feedback_ids.values()))) or "-"
        _problem(out, f"run {run_id} paused, waiting for feedback ({waiting}); checkpoint: {ctx.last_checkpoint_path}")
        return EXIT_PAUSED
    if status == "max_steps_reached":
        queued = ", ".join(map(str, ctx.scheduler.pending_ids()[:10]))
        _problem(out, f"run {run_id} stopped after max_steps={ctx.max_steps} with tasks still queued ({queued})")
        return EXIT_MAX_STEPS
    if status == "canceled":
        reason = ctx.run.cancel_reason or getattr(error, "reason", None) or "canceled"
        _problem(out, f"run {run_id} canceled: {reason}")
        return EXIT_CANCELED
    _problem(out, f"run {run_id} failed: {first_line(error) if error is not None else status}")
    if recorded:
        _problem(out, f"the traceback: graflow show {run_id}")
    elif error is not None:
        cause = getattr(error, "cause", None) or error
        click.echo("".join(traceback.format_exception(cause)).rstrip(), err=True)
    return STATUS_EXIT.get(status, EXIT_FAILED)


def _problem(out: Output, message: str) -> None:
    click.echo(f"graflow {out.command}: {message}", err=True)


# -- on the Redis workers ----------------------------------------------------------------------------------------
def run_distributed(wf: Any, launch: Launch, out: Output, redis_url: str, key_prefix: str) -> int:
    """Submit the run to the workers of ``redis_url`` and wait for it, recording it from here (the producer).

    Parameters are written to the run's Redis channel before it is queued. While waiting, this process writes the
    run's heartbeats and watches for a cancel request; on one it stops waiting and records the run as canceled
    (a worker that records runs stops it at its next task boundary; otherwise the workers run it to its end).
    """
    import redis

    from graflow.channels.redis_channel import RedisChannel
    from graflow.distributed.submit import WorkflowRunTimeoutError, submit_workflow
    from graflow.exceptions import GraflowError
    from graflow.runs.settings import heartbeat_seconds
    from graflow.utils.redis_utils import redis_from_url, safe_redis_url

    where = safe_redis_url(redis_url)
    try:
        client = redis_from_url(redis_url)
        client.ping()
    except (ValueError, redis.RedisError) as exc:
        raise CommandError(f"cannot reach Redis at {where}: {exc}", EXIT_FAILED) from exc
    session = uuid.uuid4().hex
    channel = RedisChannel(session, redis_client=client, key_prefix=key_prefix)
    for key, value in launch.parameters.items():
        channel.set(key, value)
    display = RunDisplay(out.mode, wf.name)
    display.line(f"Submitting {wf.name} as run {session} to the workers on {where} (key prefix {key_prefix})")
    with _producer_record(out, wf, launch, session) as record:
        handle = submit_workflow(wf, launch.start, redis_client=client, key_prefix=key_prefix, wait=False,
                                 session_id=session, no_worker_warning_after=None)
        display.phase = "waiting for a worker"
        display.start(None)
        interrupted: list[str] = []
        status, result = "running", None
        error: BaseException | None = None
        try:
            with cancel_on_signals(interrupted.append):
                while status == "running":
                    try:
                        result, status = handle.result(timeout=min(1.0, heartbeat_seconds())), "completed"
                    except WorkflowRunTimeoutError:
                        if display.phase != "running on a worker" and handle.taken():
                            display.phase = "running on a worker"
                        request = record.beat() if record is not None else None
                        reason = request.reason if request else (f"interrupted ({interrupted[0]})"
                                                                 if interrupted else None)
                        if reason:
                            status, error = "canceled", CommandError(reason, EXIT_CANCELED)
                    except GraflowError as exc:
                        status, error = "failed", exc
        finally:
            display.stop(status)
            if record is not None:
                record.end(status, result, error)
    if status == "completed":
        display.line(f"Completed in {display.elapsed:.3f}s on the workers, run {session}")
        if result is not None:
            click.echo(render_value(result))
        return EXIT_OK
    _problem(out, f"run {session} {status}: {first_line(error) if error else status}")
    if status == "canceled":
        _problem(out, "the workers run it to its end unless they record runs (a recorder stops it at a task boundary)")
    return STATUS_EXIT.get(status, EXIT_FAILED)


@contextmanager
def _producer_record(out: Output, wf: Any, launch: Launch, session: str) -> Iterator[Any]:
    """The run's record kept here (None when not recording)."""
    if out.store_url is None:
        yield None
        return
    from graflow.runs.producer import ProducerRecord

    with ProducerRecord.open(out.store_url, session, wf.name, parameters=launch.parameters, spec=launch.spec,
                             retry_of=launch.retry_of, invocation={**launch.invocation(), "distributed": True}) as rec:
        yield rec


# -- graflow retry ------------------------------------------------------------------------------------------------
RETRY_HELP = f"""Run a recorded run again, as a new run linked to it (its "retry of").

It resumes from the run's last checkpoint when it has one (the tasks as the checkpoint holds them), else starts
the workflow again from its recorded spec with the recorded parameters. --from-start always starts again, with
the workflow's current code. Only runs started with `graflow run` can be retried: they record their spec.

\b
Examples:
  graflow retry 5c1f0c2d
  graflow retry 5c1f0c2d --from-start --plain

{EXIT_CODES_HELP}"""


@click.command("retry", help=RETRY_HELP, short_help="Run a recorded run again.")
@click.argument("run_ref", metavar="RUN")
@click.option("--from-start", is_flag=True, help="Start again instead of resuming from the last checkpoint.")
@output_options
@reports_errors("retry")
def retry_command(run_ref: str, from_start: bool, plain: bool, quiet: bool, profile: bool, no_record: bool,
                  store_url: str | None) -> None:
    with opened_store(store_url) as store:
        original = find_run(store, run_ref)
    if not original.spec:
        raise CommandError(f"run {original.run_id} was not started by graflow run: no workflow spec is recorded")
    if original.status in ("created", "running"):
        raise CommandError(f"run {original.run_id} is still running; cancel it first (graflow cancel)")
    out = _output("retry", plain, quiet, profile, no_record, store_url)
    invocation = original.invocation or {}
    launch = Launch(original.spec, dict(invocation.get("parameters", original.parameters)), invocation.get("start"),
                    invocation.get("max_steps"), invocation.get("checkpoint_every"),
                    invocation.get("checkpoint_dir") or str(_default_checkpoint_dir()), retry_of=original.run_id)
    folder = invocation.get("cwd")
    if folder and folder not in sys.path:  # a MODULE:NAME spec is found from the folder it was started in
        sys.path.append(folder)
    wf = load_workflow(original.spec)
    checkpoint = None if from_start or not original.checkpoints else original.checkpoints[-1]
    if checkpoint is None:
        check_start(wf, launch.start)
        ctx = wf.create_context(launch.start, launch.max_steps or defaults.MAX_STEPS,
                                initial_channel=launch.parameters,
                                checkpoint_every=_checkpoint_every(launch.checkpoint_every),
                                checkpoint_dir=launch.checkpoint_dir)
        how = "from the start"
    else:
        from graflow.core.checkpoint import CheckpointManager

        ctx, metadata = CheckpointManager.resume_from_checkpoint(checkpoint)
        ctx.session_id = uuid.uuid4().hex  # a new run: its record and checkpoints are its own
        how = f"from checkpoint {checkpoint} (step {metadata.steps})"
    note = f"Retrying run {original.run_id} as run {ctx.session_id}, {how}"
    raise click.exceptions.Exit(run_local(wf, ctx, launch, out, note=note))


commands: list[click.Command] = [run_command, retry_command]

__all__ = ["EXIT_CODES_HELP", "STATUS_EXIT", "Launch", "Output", "commands", "run_local"]
