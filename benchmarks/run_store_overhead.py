"""What recording runs costs the engine: a chain of trivial tasks with the run recorder on and off, side by side.

Usage::

    python benchmarks/run_store_overhead.py [--n 1000] [--runs 41] [--repeat 3] [--clock wall|cpu]
                                            [--stores sqlite,memory] [--modes isolated,back_to_back]
                                            [--postgres-url URL]

Each configuration is measured in fresh interpreters (``--worker``) started by this script, ``--repeat`` times.
A worker builds the chain twice, once without hooks (``off``) and once with the configuration's hook (``on``),
warms both up, then runs them in alternation ``--runs`` times, timing each ``execute()``; its ratio is the median
``on`` time over the median ``off`` time, so both sides share the same process and the same moments of a busy
machine. Configurations:

``empty_hook``
    a hook whose ``on_task_timed`` does nothing: the engine's own cost of calling any per-task hook (the floor);
``<store>/isolated``
    the run recorder writing to ``<store>`` (sqlite, memory, postgresql), flushed after every ``on`` run outside
    the timing, so the writer thread never runs during a timed run: the engine-side cost of recording;
``<store>/back_to_back``
    the recorder without flushes: its writer writes one run while the next runs and competes with it for the
    interpreter lock, the steady state of a process that runs workflows in a loop.

Recording lines also give ``write_ms`` (isolated: how long the writer took to make one run durable after it
ended), ``final_flush_ms`` (what was left to write after the last run), and the recorder's drop and error
counters. One JSON object per line; the first line describes the setup.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from graflow.core.hooks import EngineHook


def trivial() -> None:
    """The task body: as cheap as a task can be, so that the engine and the recorder dominate."""


def build(n: int, hooks: list[Any]) -> Any:
    from graflow.core.task import TaskWrapper
    from graflow.core.workflow import workflow

    with workflow("chain", hooks=hooks) as wf:
        tasks = [TaskWrapper(f"t{i}", trivial) for i in range(n)]
        for a, b in itertools.pairwise(tasks):
            a >> b
    return wf


class EmptyTimedHook(EngineHook):
    """Listens to ``on_task_timed`` and does nothing: what the engine's per-task dispatch to any hook costs."""

    def on_task_timed(self, task: Any, context: Any, duration: float, error: Any = None) -> None:
        return None


def worker(config: str, n: int, runs: int, url: str | None, clock_name: str) -> dict[str, Any]:
    """Time ``runs`` executions of the chain under ``config`` and, interleaved, without any hook (``off``)."""
    recorder = None
    if config == "empty_hook":
        hook: Any = EmptyTimedHook()
    else:
        from graflow.runs import RunRecorder

        hook = recorder = RunRecorder(url)
    workflows = {"off": build(n, []), "on": build(n, [hook])}
    isolated = not config.endswith("/back_to_back")
    for _ in range(3):  # warm-up: imports, first-call paths, the store's connection and schema
        for wf in workflows.values():
            wf.execute("t0", max_steps=n + 10)
    if recorder is not None:
        recorder.flush(60)
    clock = time.thread_time if clock_name == "cpu" else time.perf_counter
    times: dict[str, list[float]] = {"off": [], "on": []}
    writes = []
    for _ in range(runs):
        for side, wf in workflows.items():
            gc.collect()
            start = clock()
            wf.execute("t0", max_steps=n + 10)
            times[side].append(clock() - start)
            if side == "on" and recorder is not None and isolated:
                ended = time.perf_counter()
                recorder.flush(60)
                writes.append(time.perf_counter() - ended)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    out: dict[str, Any] = {"off_s": off, "on_s": on, "best_off_s": min(times["off"]),
                           "best_on_s": min(times["on"]), "ratio": on / off}
    if recorder is not None:
        drain_start = time.perf_counter()
        out["flushed"] = recorder.flush(300)
        out["final_flush_ms"] = round((time.perf_counter() - drain_start) * 1e3, 3)
        out["stats"] = recorder.stats()
        if writes:
            out["write_ms"] = round(statistics.median(writes) * 1e3, 3)
        recorder.close()
    return out


def store_url(store: str, tmp: Path, postgres_url: str | None, config: str) -> str | None:
    if store == "memory":
        return "memory://bench"
    if store == "sqlite":
        return f"sqlite:///{tmp / (config.replace('/', '-') + '.db')}"
    if store == "postgresql":
        return postgres_url
    raise SystemExit(f"unknown store {store!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="tasks in the chain")
    parser.add_argument("--runs", type=int, default=41, help="timed executions per worker")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of fresh workers")
    parser.add_argument("--stores", default="sqlite,memory", help="comma-separated: sqlite, memory, postgresql")
    parser.add_argument("--modes", default="isolated,back_to_back", help="comma-separated recording modes")
    parser.add_argument("--postgres-url", default=os.environ.get("GRAFLOW_TEST_POSTGRES_URL"),
                        help="PostgreSQL for --stores postgresql (a dedicated database or schema)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock, or the CPU time of the thread that runs the chain")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.runs, args.url, args.clock)))
        return

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    configs = ["empty_hook", *(f"{store}/{mode}" for store in stores for mode in modes)]
    print(json.dumps({"benchmark": "run_store_overhead", "workload": "setup", "n": args.n, "runs": args.runs,
                      "repeat": args.repeat, "configs": configs, "clock": args.clock,
                      "python": sys.version.split()[0], "cpus": os.cpu_count()}), flush=True)
    samples: dict[str, list[dict[str, Any]]] = {config: [] for config in configs}
    with tempfile.TemporaryDirectory(prefix="graflow-run-store-bench-") as tmp:
        for round_ in range(args.repeat):
            for config in configs:
                command = [sys.executable, __file__, "--worker", config, "--n", str(args.n), "--runs",
                           str(args.runs), "--clock", args.clock]
                if config != "empty_hook":
                    url = store_url(config.split("/")[0], Path(tmp), args.postgres_url, f"{config}-{round_}")
                    if url is None:
                        raise SystemExit("--stores postgresql needs --postgres-url")
                    command += ["--url", url]
                done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp,
                                      env={**os.environ, "GRAFLOW_RUN_STORE": ""})
                if done.returncode != 0:
                    raise SystemExit(f"worker {config} failed:\n{done.stderr}")
                samples[config].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for config in configs:
        runs = samples[config]
        line: dict[str, Any] = {
            "benchmark": "run_store_overhead",
            "workload": "linear",
            "config": config,
            "n": args.n,
            "clock": args.clock,
            "off_us_per_task": round(statistics.median(r["off_s"] for r in runs) / args.n * 1e6, 3),
            "on_us_per_task": round(statistics.median(r["on_s"] for r in runs) / args.n * 1e6, 3),
            "ratio": round(statistics.median(r["ratio"] for r in runs), 3),
            "ratios": [round(r["ratio"], 3) for r in runs],
            "best_ratio": round(statistics.median(r["best_on_s"] / r["best_off_s"] for r in runs), 3),
        }
        if "stats" in runs[0]:
            if any("write_ms" in r for r in runs):
                line["write_ms"] = round(statistics.median(r["write_ms"] for r in runs if "write_ms" in r), 3)
            line["final_flush_ms"] = round(statistics.median(r["final_flush_ms"] for r in runs), 3)
            line["dropped"] = sum(r["stats"]["dropped_events"] + r["stats"]["dropped_records"] for r in runs)
            line["store_errors"] = sum(r["stats"]["store_errors"] for r in runs)
            line["flushed"] = all(r["flushed"] for r in runs)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
