"""What ``graflow run`` shows while a run goes on, and the text helpers the run commands share.

Three modes:

- ``live`` (stdout is a terminal): a rich display redrawn a few times a second: a spinner, tasks done of the tasks
  in the graph, the tasks running now, retries and failed attempts, elapsed time. Failed attempts and retries are
  also printed as lines above it, so they stay on screen.
- ``plain`` (stdout is not a terminal, or ``--plain``): one line per task event, written as it happens.
- ``quiet``: nothing until the result.

The engine reports events through :class:`ProgressHook`; the display reads its counters when it redraws, so an
event costs a dictionary update, never a redraw.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from graflow.core.hooks import EngineHook
from graflow.exceptions import RunPausedError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext

#: Display modes of :class:`RunDisplay`.
MODES = ("live", "plain", "quiet")


class ProgressHook(EngineHook):
    """Counts the task events of one run for a :class:`RunDisplay`; thread-safe (parallel members report too)."""

    def __init__(self, display: RunDisplay) -> None:
        self._display = display
        self._lock = threading.Lock()
        self.done: set[str] = set()
        self.running: dict[tuple[int, str], float] = {}
        self.retries = 0
        self.failed = 0

    def on_task_start(self, *, task: Any, context: ExecutionContext) -> None:
        task_id = _task_id(task)
        with self._lock:
            self.running[(id(context), task_id)] = time.monotonic()
        self._display.event("start", task_id)

    def on_task_timed(self, task: Any, context: ExecutionContext, duration: float,
                      error: BaseException | None = None) -> None:
        task_id = _task_id(task)
        with self._lock:
            self.running.pop((id(context), task_id), None)
            if error is None:
                self.done.add(task_id)
            elif not isinstance(error, RunPausedError):
                self.failed += 1
        if error is None:
            self._display.event("done", task_id, f"{duration:.3f}s")
        elif isinstance(error, RunPausedError):
            self._display.event("paused", task_id, str(error), keep=True)
        else:
            self._display.event("failed", task_id, f"{type(error).__name__}: {first_line(error)}", keep=True)

    def on_task_retry(self, *, task: Any, context: ExecutionContext, attempt: int, delay: float,
                      error: BaseException) -> None:
        with self._lock:
            self.retries += 1
        self._display.event("retry", _task_id(task), f"attempt {attempt + 1} in {delay:.2f}s", keep=True)

    def running_now(self) -> list[str]:
        """Ids of the tasks running now, oldest first."""
        with self._lock:
            ordered = sorted(self.running.items(), key=lambda item: item[1])
        return [task_id for (_, task_id), _ in ordered]


class RunDisplay:
    """Shows one run: live on a terminal, as plain lines elsewhere, or not at all.

    Args:
        mode: One of :data:`MODES`.
        title: The workflow's name.
    """

    def __init__(self, mode: str, title: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown display mode {mode!r}")
        self.mode = mode
        self.title = title
        self.hook = ProgressHook(self)
        self.status: str | None = None
        #: What the run is doing when there are no task events to show (a run on the workers).
        self.phase: str | None = None
        self._context: ExecutionContext | None = None
        self._started = time.monotonic()
        self._ended: float | None = None
        self._lock = threading.RLock()  # reentrant: a signal handler may print while the main thread prints
        self._live: Any = None
        self._spinner: Any = None

    # -- lifetime ---------------------------------------------------------------------------------------------------
    def start(self, context: ExecutionContext | None = None) -> None:
        """Start showing (``context``: the run, whose graph gives the number of tasks)."""
        self._context = context
        self._started = time.monotonic()
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live
            from rich.spinner import Spinner

            self._spinner = Spinner("dots", style="cyan")
            self._live = Live(_Renderable(self), console=Console(file=sys.stdout), refresh_per_second=8,
                              transient=False, redirect_stdout=True, redirect_stderr=True)
            self._live.start()

    def stop(self, status: str) -> None:
        """Stop showing; the live display is drawn a last time with ``status``."""
        self.status = status
        self._ended = time.monotonic()
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    @property
    def elapsed(self) -> float:
        """Seconds from :meth:`start` to :meth:`stop` (or to now)."""
        return (self._ended or time.monotonic()) - self._started

    # -- output -----------------------------------------------------------------------------------------------------
    def event(self, kind: str, task_id: str, detail: str = "", *, keep: bool = False) -> None:
        """A task event: a line in plain mode; in live mode a line above the display when ``keep``."""
        if self.mode == "plain":
            self.line(f"{self.elapsed:8.3f}s  {kind:<7} {task_id}{'  ' + detail if detail else ''}")
        elif self.mode == "live" and keep and self._live is not None:
            style = {"failed": "red", "retry": "yellow", "paused": "magenta"}.get(kind, "")
            self._live.console.print(f"[{style}]{kind:<7}[/] {_escape(task_id)}  {_escape(detail)}",
                                     highlight=False)

    def line(self, text: str) -> None:
        """A line on stdout (above the live display, if any); nothing in quiet mode."""
        if self.mode == "quiet":
            return
        if self._live is not None:
            self._live.console.print(_escape(text), highlight=False)
            return
        with self._lock:
            click.echo(text)
            sys.stdout.flush()

    # -- live rendering ---------------------------------------------------------------------------------------------
    def render(self) -> Any:
        """The live display as a rich renderable."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        hook = self.hook
        done = len(hook.done)
        total = max(done, len(self._context.graph) if self._context is not None else 0)
        head: Any
        if self.status is None:
            head = self._spinner
        else:
            ok = self.status in ("completed", "terminated")
            head = Text("✓" if ok else "✗", style="green" if ok else "red")
        grid = Table.grid(padding=(0, 1))
        cells = [head, Text(self.title, style="bold")]
        if self._context is not None:
            cells += [ProgressBar(total=total or 1, completed=done, width=30), Text(f"{done}/{total} tasks")]
        grid.add_row(*cells, Text(format_seconds(self.elapsed), style="dim"))
        running = hook.running_now()
        lines: list[Any] = [grid]
        if self.status is not None:
            lines.append(Text(f"  {self.status}", style="bold"))
        elif self.phase is not None:
            lines.append(Text(f"  {self.phase}"))
        elif running:
            shown = ", ".join(running[:5]) + (f" (+{len(running) - 5})" if len(running) > 5 else "")
            lines.append(Text(f"  running: {shown}"))
        if hook.retries or hook.failed:
            lines.append(Text(f"  retries: {hook.retries}  failed attempts: {hook.failed}", style="yellow"))
        return Group(*lines)


class _Renderable:
    def __init__(self, display: RunDisplay) -> None:
        self._display = display

    def __rich__(self) -> Any:
        return self._display.render()


# -- the process around a run --------------------------------------------------------------------------------------
def configure_run_logging() -> None:
    """Log to stderr at ``GRAFLOW_LOG_LEVEL`` when it is set. Otherwise Python's default (warnings and errors on
    stderr) stays, without the engine's warnings on a paused run or a spent step budget, nor the recorder's on a
    store that refuses the run: the command reports those itself."""
    from graflow import config

    if config.env("GRAFLOW_LOG_LEVEL"):
        from graflow.observability.logging import configure_logging

        configure_logging(stream=_Stderr())  # type: ignore[arg-type]
        return
    logging.getLogger("graflow.core.engine").setLevel(logging.ERROR)
    logging.getLogger("graflow.runs.writer").setLevel(logging.ERROR)  # a store that refuses the run is reported


class _Stderr:
    """Writes to whatever ``sys.stderr`` is now (the live display redirects it while it runs)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextmanager
def current_workflow(wf: Any) -> Iterator[None]:
    """While the run goes on, ``wf`` is the current workflow (as during ``wf.execute()``)."""
    from graflow.core.workflow import get_current_workflow_context, set_current_workflow_context

    previous = get_current_workflow_context()
    set_current_workflow_context(wf)
    try:
        yield
    finally:
        set_current_workflow_context(previous)


@contextmanager
def cancel_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """The first Ctrl-C or SIGTERM calls ``stop`` with the signal's name (``Ctrl-C``, ``SIGTERM``); a second one
    raises KeyboardInterrupt. Only in the main thread (elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        stop("Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- text helpers -------------------------------------------------------------------------------------------------
def _task_id(task: Any) -> str:
    return str(getattr(task, "task_id", None) or task)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def first_line(error: BaseException) -> str:
    """The first line of an error's message."""
    text = str(error)
    return text.splitlines()[0] if text else ""


def render_value(value: Any) -> str:
    """How a result is printed: a string as it is, JSON when it is JSON, else its ``repr``."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def format_seconds(seconds: float | None) -> str:
    """``0.012s``, ``4.2s``, ``3m05s``, ``1h02m``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f}s" if seconds < 1 else f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(count: int | None) -> str:
    """``512 B``, ``1.5 KiB``, ``20.0 MiB``; ``-`` for None."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop returns


def format_time(epoch: float | None) -> str:
    """A local time ``YYYY-MM-DD HH:MM:SS``; ``-`` for None."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows under headers in columns two spaces apart; the last column is not padded."""
    everything = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(line[i]) for line in everything) for i in range(len(headers) - 1)]
    out = []
    for line in everything:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    return out


def profile_lines(profile: Sequence[dict[str, Any]]) -> list[str]:
    """The ``--profile`` table: one row per task, in the order given (slowest first)."""
    rows = [[str(p.get("task_id")), format_seconds(p.get("wall")), format_seconds(p.get("cpu")),
             format_bytes(p.get("peak_bytes")), str(p.get("calls"))] for p in profile]
    return table_lines(["TASK", "WALL", "CPU", "PEAK MEMORY", "CALLS"], rows)


__all__ = [
    "MODES",
    "ProgressHook",
    "RunDisplay",
    "cancel_on_signals",
    "configure_run_logging",
    "current_workflow",
    "first_line",
    "format_bytes",
    "format_seconds",
    "format_time",
    "profile_lines",
    "render_value",
    "table_lines",
]
