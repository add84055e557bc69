"""Engine overhead of this repository's graflow against graflow 0.2.0, side by side.

Every measurement runs ``overhead_worker.py`` in a fresh interpreter, so each peak RSS belongs to one workload:
ours with the current interpreter and this repository first on ``PYTHONPATH``, theirs with the interpreter of a
virtualenv where ``graflow==0.2.0`` is installed (``--ref-python``). Repeats alternate ours/theirs so that noise from
a shared machine hits both alike, and every ratio compares figures taken in this one invocation.

Usage::

    python benchmarks/local_overhead.py                 # full comparison (several minutes)
    python benchmarks/local_overhead.py --quick         # small sizes, a smoke run of every code path
    python benchmarks/local_overhead.py --only ours     # skip the reference

Output: one JSON object per line (see benchmarks/README.md for the fields).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "overhead_worker.py"

#: Environment variable naming the interpreter of a virtualenv with graflow==0.2.0 (see docs/development.md).
REF_PYTHON_VAR = "GRAFLOW_REF_PYTHON"
DEFAULT_REPEAT = 3
# Seconds one worker subprocess may take. 0.2.0 needs minutes for a 100,000-task chain (its per-task cost grows
# with n); past this cap the run is reported as "status": "timeout" with a lower bound instead of waited for.
DEFAULT_TIMEOUT_S = 120.0
# Timed runs inside one worker for the small workloads (a single run lasts a few milliseconds).
SMALL_WORKLOAD_RUNS = 5
IMPORT_REPEATS = 5

FULL_SIZES = {"linear": [1_000, 10_000, 100_000], "selfloop": [1_000], "fanout": [100]}
QUICK_SIZES = {"linear": [100, 1_000], "selfloop": [100], "fanout": [10]}
ALL_WORKLOADS = ["import", "linear", "selfloop", "fanout"]

IMPORT_SNIPPET = "import time; t=time.perf_counter(); import graflow; print(time.perf_counter()-t)"
EMPTY_RSS_SNIPPET = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def emit(obj: dict[str, Any]) -> None:
    """Print one result line."""
    print(json.dumps(obj), flush=True)


class Impl:
    """One side of the comparison: an interpreter plus the environment that selects its graflow."""

    def __init__(self, name: str, python: str, pythonpath: str | None) -> None:
        self.name = name
        self.python = python
        env = dict(os.environ)
        # Never let one side see the other's graflow: the reference gets no PYTHONPATH at all.
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONSTARTUP", None)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        self.env = env

    def run(self, args: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run the interpreter with args; raises subprocess.TimeoutExpired after killing the child."""
        return subprocess.run(
            [self.python, *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def check(self, cwd: str) -> str | None:
        """Return why this side cannot run, or None when ``graflow.core.workflow.workflow`` imports."""
        if not self.python:
            return f"{REF_PYTHON_VAR} is not set (or pass --ref-python)"
        if not Path(self.python).exists():
            return f"interpreter {self.python} not found"
        probe = "import graflow.core.workflow, graflow.core.task, graflow.core.decorators; print(graflow.__file__)"
        try:
            proc = self.run(["-c", probe], cwd, timeout=60)
        except subprocess.TimeoutExpired:
            return "importing graflow took more than 60 s"
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()
            return tail[-1] if tail else f"exit code {proc.returncode}"
        return None


def parse_worker(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The worker's JSON line, or an error record built from its exit code and stderr."""
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    tail = proc.stderr.strip().splitlines()
    return {"status": "error", "error": f"worker exit code {proc.returncode}", "traceback_tail": tail[-12:]}


def run_worker(impl: Impl, workload: str, n: int, runs: int, cwd: str, timeout: float) -> dict[str, Any]:
    """One fresh-subprocess measurement."""
    try:
        proc = impl.run([str(WORKER), workload, str(n), "--runs", str(runs)], cwd, timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout}
    return parse_worker(proc)


def best_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine repeats: the fastest timings and the smallest memory figures (the least disturbed run)."""
    failed = [s for s in samples if s.get("status") != "ok"]
    if failed:
        return failed[0]
    best = dict(samples[0])
    for key in ("build_s", "exec_s", "floor_s", "per_run_s", "shared_s", "baseline_rss_kb", "peak_rss_kb"):
        if key in best:
            best[key] = min(s[key] for s in samples)
    best["repeats"] = len(samples)
    return best


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b rounded, or None when either side is missing."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 4)


def summarize(workload: str, impl: str, n: int, s: dict[str, Any], empty_rss: int | None) -> dict[str, Any]:
    """Turn a worker sample into the published line."""
    line: dict[str, Any] = {"workload": workload, "impl": impl, "n": n, "status": s.get("status")}
    if s.get("status") == "timeout":
        line["timeout_s"] = s["timeout_s"]
        line["us_per_task_at_least"] = round(s["timeout_s"] / n * 1e6, 3)
        return line
    if s.get("status") != "ok":
        line.update(error=s.get("error"), traceback_tail=s.get("traceback_tail"))
        return line
    us = s["exec_s"] / n * 1e6
    floor_us = s["floor_s"] / n * 1e6
    line.update(
        us_per_task=round(us, 3),
        build_us_per_task=round(s["build_s"] / n * 1e6, 3),
        floor_us_per_call=round(floor_us, 4),
        floor_ratio=round(us / floor_us, 1) if floor_us else None,
        peak_rss_kb=s["peak_rss_kb"],
        baseline_rss_kb=s["baseline_rss_kb"],
        kb_per_task=round(max(0, s["peak_rss_kb"] - s["baseline_rss_kb"]) / n, 3),
        kb_per_task_vs_empty=round((s["peak_rss_kb"] - empty_rss) / n, 3) if empty_rss else None,
        repeats=s.get("repeats"),
        graflow_file=s.get("graflow_file"),
    )
    return line


def compare(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> None:
    """Add ours/theirs ratios to our line (upper bounds when the reference timed out)."""
    if ours is None or theirs is None or ours.get("status") != "ok":
        return
    if theirs.get("status") == "ok":
        ours["ours_over_theirs"] = ratio(ours["us_per_task"], theirs["us_per_task"])
        ours["build_ours_over_theirs"] = ratio(ours["build_us_per_task"], theirs["build_us_per_task"])
        ours["kb_per_task_ours_over_theirs"] = ratio(ours["kb_per_task"], theirs["kb_per_task"])
    elif theirs.get("status") == "timeout":
        ours["ours_over_theirs_at_most"] = ratio(ours["us_per_task"], theirs["us_per_task_at_least"])


def measure_imports(impls: list[Impl], cwd: str) -> None:
    """Best of IMPORT_REPEATS fresh-interpreter ``import graflow`` timings per side."""
    lines: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[float]] = {i.name: [] for i in impls}
    errors: dict[str, str] = {}
    for _ in range(IMPORT_REPEATS):
        for impl in impls:
            if impl.name in errors:
                continue
            proc = impl.run(["-c", IMPORT_SNIPPET], cwd, timeout=60)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()
                errors[impl.name] = tail[-1] if tail else f"exit code {proc.returncode}"
                continue
            samples[impl.name].append(float(proc.stdout.strip().splitlines()[-1]))
    for impl in impls:
        if impl.name in errors:
            lines[impl.name] = {"workload": "import", "impl": impl.name, "status": "error", "error": errors[impl.name]}
        else:
            best = min(samples[impl.name])
            lines[impl.name] = {
                "workload": "import",
                "impl": impl.name,
                "status": "ok",
                "import_s": round(best, 4),
                "repeats": IMPORT_REPEATS,
            }
    ours, theirs = lines.get("ours"), lines.get("theirs")
    if ours and theirs and ours["status"] == theirs["status"] == "ok":
        ours["ours_over_theirs"] = ratio(ours["import_s"], theirs["import_s"])
    for line in lines.values():
        emit(line)


def empty_rss_kb(impl: Impl, cwd: str) -> int | None:
    """Peak RSS of a bare interpreter of this side (nothing imported)."""
    proc = impl.run(["-c", EMPTY_RSS_SNIPPET], cwd, timeout=60)
    return int(proc.stdout.strip()) if proc.returncode == 0 else None


def measure_workload(
    workload: str, n: int, impls: list[Impl], cwd: str, args: argparse.Namespace, empty: dict[str, int | None]
) -> dict[str, dict[str, Any]]:
    """Alternate the sides for ``repeat`` rounds; stop repeating a side after its first failure or timeout."""
    runs = 1 if workload == "linear" else SMALL_WORKLOAD_RUNS
    samples: dict[str, list[dict[str, Any]]] = {i.name: [] for i in impls}
    for _ in range(args.repeat):
        for impl in impls:
            done = samples[impl.name]
            if done and done[-1].get("status") != "ok":
                continue
            done.append(run_worker(impl, workload, n, runs, cwd, args.timeout))
    lines = {name: summarize(workload, name, n, best_of(s), empty.get(name)) for name, s in samples.items()}
    compare(lines.get("ours"), lines.get("theirs"))
    return lines


def measure_fanout_pool(n: int, cwd: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The bare ThreadPoolExecutor doing the same n calls, with the current interpreter."""
    local = Impl("threadpool", sys.executable, None)
    s = best_of(
        [run_worker(local, "threadpool", n, SMALL_WORKLOAD_RUNS, cwd, args.timeout) for _ in range(args.repeat)]
    )
    out: dict[str, dict[str, Any]] = {}
    for impl, key in (("threadpool_per_run", "per_run_s"), ("threadpool_shared", "shared_s")):
        line: dict[str, Any] = {"workload": "fanout", "impl": impl, "n": n, "status": s.get("status")}
        if s.get("status") == "ok":
            line.update(
                us_per_task=round(s[key] / n * 1e6, 3),
                max_workers=s["max_workers"],
                floor_ratio=round(s[key] / s["floor_s"], 1),
                repeats=s.get("repeats"),
            )
        else:
            line.update(error=s.get("error"))
        out[impl] = line
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Engine overhead: this graflow vs graflow 0.2.0, side by side.")
    parser.add_argument(
        "--ref-python",
        default=os.environ.get(REF_PYTHON_VAR) or "",
        help=f"interpreter with graflow==0.2.0 installed (default: {REF_PYTHON_VAR})",
    )
    parser.add_argument("--only", choices=["ours", "theirs"], help="measure one side only")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every code path")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="fresh subprocesses per figure (best of)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per worker subprocess")
    parser.add_argument(
        "--workloads", default=",".join(ALL_WORKLOADS), help=f"comma-separated subset of {','.join(ALL_WORKLOADS)}"
    )
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(wanted) - set(ALL_WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads: {', '.join(unknown)}")
    sizes = QUICK_SIZES if args.quick else FULL_SIZES

    candidates = []
    if args.only != "theirs":
        candidates.append(Impl("ours", sys.executable, str(REPO)))
    if args.only != "ours":
        candidates.append(Impl("theirs", args.ref_python, None))

    # Upstream writes ./feedback_data on every run; keep that out of the caller's directory.
    with tempfile.TemporaryDirectory(prefix="graflow-bench-") as cwd:
        impls: list[Impl] = []
        for impl in candidates:
            reason = impl.check(cwd)
            if reason is None:
                impls.append(impl)
            else:
                status = "skipped" if impl.name == "theirs" else "error"
                emit(
                    {"workload": "setup", "impl": impl.name, "status": status, "python": impl.python, "reason": reason}
                )
        empty = {impl.name: empty_rss_kb(impl, cwd) for impl in impls}
        emit(
            {
                "workload": "setup",
                "impl": "all",
                "status": "ok",
                "measured": [i.name for i in impls],
                "quick": args.quick,
                "repeat": args.repeat,
                "timeout_s": args.timeout,
                "cpus": os.cpu_count(),
                "empty_rss_kb": empty,
                "pythons": {i.name: i.python for i in impls},
            }
        )
        if not impls:
            return 1
        if "import" in wanted:
            measure_imports(impls, cwd)
        for workload in ("linear", "selfloop", "fanout"):
            if workload not in wanted:
                continue
            for n in sizes[workload]:
                lines = measure_workload(workload, n, impls, cwd, args, empty)
                if workload == "fanout":
                    pool = measure_fanout_pool(n, cwd, args)
                    for line in lines.values():
                        if line.get("status") == "ok":
                            line["over_threadpool_per_run"] = ratio(
                                line["us_per_task"], pool["threadpool_per_run"].get("us_per_task")
                            )
                            line["over_threadpool_shared"] = ratio(
                                line["us_per_task"], pool["threadpool_shared"].get("us_per_task")
                            )
                    lines.update(pool)
                for line in lines.values():
                    emit(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
