"""One measurement of one workload, run in a fresh interpreter by ``local_overhead.py``.

Usage::

    python benchmarks/overhead_worker.py WORKLOAD N [--runs R]

``WORKLOAD`` is ``linear``, ``selfloop``, ``fanout`` or ``threadpool``. The script prints exactly one JSON object
on its last stdout line and exits 0 on success; on failure it prints a JSON object with ``"status": "error"``, the
exception and the tail of its traceback, and exits 1.

It must run unchanged on this repository's graflow and on graflow 0.2.0, so it only uses the public API the two
share: ``task``, ``workflow``, ``TaskWrapper``, ``>>``, ``|``, ``inject_context=True`` and ``next_iteration()``. It
imports nothing outside the standard library except ``graflow`` (and not even that for ``threadpool``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import gc
import itertools
import json
import operator
import resource
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

# Calls are counted with itertools.count: next() on it is a single C call, atomic under the GIL, so the count
# stays exact when the fan-out members run on several threads.
_counter = itertools.count()

# How many plain-Python floor loops to time (best of), and the size of the warm-up workload that loads every lazily
# imported module and code path before the memory baseline is taken.
FLOOR_REPEATS = 5
WARMUP_N = 3


def trivial() -> None:
    """The trivial task body shared by every workload and by the plain-Python floor."""
    next(_counter)


def _reset_calls() -> None:
    global _counter
    _counter = itertools.count()


def _calls() -> int:
    # next() returns how many values were drawn before, i.e. the number of calls made so far.
    return next(_counter)


def _peak_rss_kb() -> int:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _floor_seconds(n: int) -> float:
    """Best time of a plain loop calling ``trivial`` n times."""
    best = float("inf")
    for _ in range(FLOOR_REPEATS):
        t0 = time.perf_counter()
        for _ in range(n):
            trivial()
        best = min(best, time.perf_counter() - t0)
    _reset_calls()
    return best


# --- workloads: each returns (build_seconds, execute_seconds, calls_expected) ---------------------------------------


def run_linear(n: int, name: str) -> tuple[float, float, int]:
    """A chain t0 >> t1 >> ... >> t{n-1} of trivial tasks, connected pairwise.

    Pairwise ``>>`` rather than ``chain(*tasks)``: 0.2.0's chain() copies the growing task list on every step,
    which is quadratic in n and would measure list copying instead of the engine.
    """
    from graflow.core.task import TaskWrapper
    from graflow.core.workflow import workflow

    with workflow(name) as wf:
        t0 = time.perf_counter()
        tasks = [TaskWrapper(f"t{i}", trivial) for i in range(n)]
        for a, b in itertools.pairwise(tasks):
            a >> b
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        wf.execute("t0", max_steps=n + 10)
        execute = time.perf_counter() - t1
    return build, execute, n


def run_selfloop(n: int, name: str) -> tuple[float, float, int]:
    """One task that asks for n-1 further iterations of itself via ``next_iteration()``."""
    from graflow.core.decorators import task
    from graflow.core.workflow import workflow

    state = {"runs": 0}

    with workflow(name) as wf:
        t0 = time.perf_counter()

        @task("loop", inject_context=True, max_cycles=n + 1)
        def loop(ctx: Any, data: Any = None) -> None:
            trivial()
            state["runs"] += 1
            if state["runs"] < n:
                ctx.next_iteration()

        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        wf.execute("loop", max_steps=n + 10)
        execute = time.perf_counter() - t1
    return build, execute, n


def run_fanout(n: int, name: str) -> tuple[float, float, int]:
    """``src >> (m0 | m1 | ... | m{n-1}) >> sink`` with trivial members."""
    from graflow.core.task import TaskWrapper
    from graflow.core.workflow import workflow

    with workflow(name) as wf:
        t0 = time.perf_counter()
        src = TaskWrapper("src", trivial)
        members = [TaskWrapper(f"m{i}", trivial) for i in range(n)]
        sink = TaskWrapper("sink", trivial)
        src >> functools.reduce(operator.or_, members) >> sink
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        wf.execute("src", max_steps=n + 10)
        execute = time.perf_counter() - t1
    return build, execute, n + 2


WORKLOADS: dict[str, Callable[[int, str], tuple[float, float, int]]] = {
    "linear": run_linear,
    "selfloop": run_selfloop,
    "fanout": run_fanout,
}


def measure_graflow(workload: str, n: int, runs: int) -> dict[str, Any]:
    """Warm up, take the memory baseline, then time ``runs`` fresh builds and executions of the workload."""
    import graflow

    fn = WORKLOADS[workload]
    floor = _floor_seconds(n)
    fn(WARMUP_N, f"{workload}_warmup")
    _reset_calls()
    gc.collect()
    baseline = _peak_rss_kb()
    best_build = best_exec = float("inf")
    for r in range(runs):
        build, execute, expected = fn(n, f"{workload}_{r}")
        calls = _calls()
        _reset_calls()
        if calls != expected:
            raise AssertionError(f"{workload} n={n}: the task body ran {calls} times, expected {expected}")
        best_build = min(best_build, build)
        best_exec = min(best_exec, execute)
    return {
        "graflow_file": getattr(graflow, "__file__", None),
        "graflow_version": getattr(graflow, "__version__", None),
        "build_s": best_build,
        "exec_s": best_exec,
        "floor_s": floor,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": _peak_rss_kb(),
    }


def measure_threadpool(n: int, runs: int) -> dict[str, Any]:
    """The same n trivial calls on a bare ThreadPoolExecutor, created per run and pre-created."""
    floor = _floor_seconds(n)
    baseline = _peak_rss_kb()

    def fan_out(pool: concurrent.futures.ThreadPoolExecutor) -> None:
        futures = [pool.submit(trivial) for _ in range(n)]
        for f in futures:
            f.result()

    best_per_run = best_shared = float("inf")
    with concurrent.futures.ThreadPoolExecutor() as shared:
        fan_out(shared)  # start every worker thread before timing the shared pool
        max_workers = shared._max_workers
        for _ in range(runs):
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor() as pool:
                fan_out(pool)
            best_per_run = min(best_per_run, time.perf_counter() - t0)
            t1 = time.perf_counter()
            fan_out(shared)
            best_shared = min(best_shared, time.perf_counter() - t1)
    return {
        "per_run_s": best_per_run,
        "shared_s": best_shared,
        "max_workers": max_workers,
        "floor_s": floor,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": _peak_rss_kb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=[*WORKLOADS, "threadpool"])
    parser.add_argument("n", type=int)
    parser.add_argument("--runs", type=int, default=1, help="timed runs inside this process (best is kept)")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"workload": args.workload, "n": args.n, "python": sys.version.split()[0]}
    try:
        if args.workload == "threadpool":
            out.update(measure_threadpool(args.n, args.runs))
        else:
            out.update(measure_graflow(args.workload, args.n, args.runs))
    except BaseException as exc:  # report anything, including SystemExit from a broken import, as data
        tb = traceback.format_exc().strip().splitlines()
        out.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback_tail=tb[-12:])
        print(json.dumps(out), flush=True)
        return 1
    out["status"] = "ok"
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
