"""``TaskProfiler``: an engine hook that measures every task attempt of a run (``graflow run --profile``).

Per task it adds up the attempts' wall time and CPU time and keeps the highest peak of memory allocated during an
attempt, as ``tracemalloc`` sees it, above what was allocated when the attempt started. The profiler exists only
when asked for: ``tracemalloc`` slows allocations down noticeably, and the two per-task events cost the engine two
hook calls per task.

What the numbers mean:

- wall: from the attempt's start event to its end event (the task, its handler, resolving its inputs);
- CPU: CPU time of the thread that ran the attempt (threads the task starts, and a task run in another process by
  its handler, are not counted);
- peak memory: the process's peak of traced allocations during the attempt minus its traced allocations at the
  start. Attempts running at once in parallel threads see each other's allocations: each peak is then an upper
  bound.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from graflow.core.hooks import EngineHook

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext


@dataclass
class TaskProfile:
    """The measurements of one task, over all its attempts.

    Attributes:
        task_id: The task's node id.
        calls: How many attempts ran.
        wall: Their wall time, in seconds.
        cpu: Their CPU time, in seconds.
        peak_bytes: The highest peak of memory allocated during one attempt, in bytes (0 when memory was not traced).
    """

    task_id: str
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    peak_bytes: int = 0


class _Open:
    """An attempt that started and has not ended."""

    __slots__ = ("base", "cpu", "peak", "wall")

    def __init__(self, wall: float, cpu: float, base: int) -> None:
        self.wall = wall
        self.cpu = cpu
        self.base = base
        self.peak = base


class TaskProfiler(EngineHook):
    """Measures wall time, CPU time, peak memory and calls per task.

    Args:
        trace_memory: Trace allocations with ``tracemalloc`` (started by :meth:`start` unless already tracing,
            stopped by :meth:`stop` if it was started here).
    """

    def __init__(self, *, trace_memory: bool = True) -> None:
        self.trace_memory = trace_memory
        self._lock = threading.Lock()
        self._open: dict[tuple[int, int, str], _Open] = {}
        self._tasks: dict[str, TaskProfile] = {}
        self._started_tracing = False

    # -- lifetime ---------------------------------------------------------------------------------------------------
    def start(self) -> TaskProfiler:
        """Begin tracing memory (when asked for and not traced already); returns the profiler."""
        if self.trace_memory and not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started_tracing = True
        return self

    def stop(self) -> None:
        """Stop tracing memory if :meth:`start` began it."""
        if self._started_tracing:
            tracemalloc.stop()
            self._started_tracing = False

    # -- events -----------------------------------------------------------------------------------------------------
    def on_task_start(self, *, task: Any, context: ExecutionContext) -> None:
        key = (threading.get_ident(), id(context), _task_id(task))
        with self._lock:
            base = 0
            if tracemalloc.is_tracing():
                current, peak = tracemalloc.get_traced_memory()
                for other in self._open.values():  # the peak is about to be reset: hand it to attempts still open
                    other.peak = max(other.peak, peak)
                tracemalloc.reset_peak()
                base = current
            self._open[key] = _Open(time.perf_counter(), time.thread_time(), base)

    def on_task_end(self, *, task: Any, context: ExecutionContext, result: Any = None,
                    error: BaseException | None = None) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        task_id = _task_id(task)
        with self._lock:
            started = self._open.pop((threading.get_ident(), id(context), task_id), None)
            if started is None:  # the profiler was added while the attempt ran
                return
            peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else started.base
            profile = self._tasks.get(task_id)
            if profile is None:
                profile = self._tasks[task_id] = TaskProfile(task_id)
            profile.calls += 1
            profile.wall += wall - started.wall
            profile.cpu += max(0.0, cpu - started.cpu)
            profile.peak_bytes = max(profile.peak_bytes, max(peak, started.peak) - started.base)

    # -- results ----------------------------------------------------------------------------------------------------
    def profiles(self) -> list[TaskProfile]:
        """One :class:`TaskProfile` per task that ran, slowest (wall time) first."""
        with self._lock:
            found = [TaskProfile(**asdict(p)) for p in self._tasks.values()]
        return sorted(found, key=lambda p: (-p.wall, p.task_id))

    def rows(self) -> list[dict[str, Any]]:
        """:meth:`profiles` as plain mappings (what a run record keeps as its ``profile``)."""
        return [asdict(profile) for profile in self.profiles()]


def _task_id(task: Any) -> str:
    return str(getattr(task, "task_id", None) or task)


__all__ = ["TaskProfile", "TaskProfiler"]
