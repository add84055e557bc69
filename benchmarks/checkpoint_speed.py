"""Time to write, verify and resume a checkpoint of a 10,000-task run; one JSON object per line.

Scenarios:

* ``chain``: a chain of N tasks stopped half way (N/2 completed, N/2 results in the channel, all N nodes in the
  graph);
* ``fanout``: one root task with N successors, stopped right after the root (N tasks ready in the queue).

Each runs twice: ``functions=shared`` (every task wraps one function, as generated fan-outs do; it is pickled
once) and ``functions=distinct`` (every task wraps its own closure, each pickled by value: the worst case).

Usage::

    python benchmarks/checkpoint_speed.py [--tasks 10000] [--repeat 5] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from graflow import task, workflow
from graflow.core.checkpoint import CheckpointManager


def _noop(i: int) -> Callable[[], int]:
    def body() -> int:
        return i

    return body


def _shared() -> int:
    return 0


def build(shape: str, n: int, functions: str) -> Any:
    with workflow(f"bench-{shape}") as wf:
        for i in range(n):
            task(f"t{i}")(_noop(i) if functions == "distinct" else _shared)
        graph = wf.graph
        if shape == "chain":
            for i in range(n - 1):
                graph.add_edge(f"t{i}", f"t{i + 1}")
        else:
            for i in range(1, n):
                graph.add_edge("t0", f"t{i}")
    return wf


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return times, value


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def run(shape: str, n: int, repeat: int, location: str, store: str, functions: str) -> None:
    wf = build(shape, n, functions)
    stop_at = n // 2 if shape == "chain" else 1
    _, ctx = wf.execute(ret_context=True, max_steps=stop_at)
    pending = len(ctx.scheduler.pending_ids())
    common = {"scenario": f"{shape}_{n}", "functions": functions, "store": store, "tasks": n,
              "completed": len(ctx.completed_tasks),
              "pending": pending, "repeat": repeat}  # fmt: skip

    write_times, (pkl_path, _meta) = _timed(lambda: CheckpointManager.create_checkpoint(ctx, path=location), repeat)
    sizes = {}
    if store == "filesystem":
        base = location
        sizes = {s: os.path.getsize(base + s) for s in (".pkl", ".state.json", ".meta.json")}
    emit(benchmark="checkpoint_write", **common, seconds_median=statistics.median(write_times),
         seconds_min=min(write_times), pkl_bytes=sizes.get(".pkl"), state_bytes=sizes.get(".state.json"),
         meta_bytes=sizes.get(".meta.json"))  # fmt: skip

    verify_times, _ = _timed(lambda: CheckpointManager.verify_checkpoint(pkl_path), repeat)
    emit(benchmark="checkpoint_verify", **common, seconds_median=statistics.median(verify_times),
         seconds_min=min(verify_times))  # fmt: skip

    resume_times, (resumed, _) = _timed(lambda: CheckpointManager.resume_from_checkpoint(pkl_path), repeat)
    emit(benchmark="checkpoint_resume", **common, seconds_median=statistics.median(resume_times),
         seconds_min=min(resume_times))  # fmt: skip

    resumed.max_steps = n + 1
    start = time.perf_counter()
    resumed.execute()
    finish = time.perf_counter() - start
    if len(resumed.completed_tasks) != n:
        raise SystemExit(f"resumed run completed {len(resumed.completed_tasks)} of {n} tasks")
    emit(benchmark="resumed_run_to_completion", **common, seconds=finish, completed_after=len(resumed.completed_tasks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--redis", default=None, help="also measure the Redis store at this URL (redis://host:port/db)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for functions in ("shared", "distinct"):
            for shape in ("chain", "fanout"):
                run(shape, args.tasks, args.repeat, os.path.join(tmp, shape), "filesystem", functions)
                if args.redis:
                    prefix = f"graflow-bench-{uuid.uuid4().hex[:8]}"
                    location = f"{args.redis.rstrip('/')}/bench/{shape}?prefix={prefix}"
                    try:
                        run(shape, args.tasks, args.repeat, location, "redis", functions)
                    finally:
                        from graflow.checkpoints.base import open_store

                        store_, base = open_store(location)
                        store_.delete(base)


if __name__ == "__main__":
    main()
