"""Engine cost per task in CPU instructions (valgrind callgrind), for one or more source trees side by side.

Wall-clock timings on a shared machine move by tens of percent; instruction counts do not: the same tree, inputs
and interpreter give the same count whatever else the machine is doing. Each workload runs twice in a fresh
interpreter under callgrind, once with ``--runs LOW`` and once with ``--runs HIGH`` repetitions, and the difference
divided by the extra tasks is the per-task cost without import and start-up.

Usage::

    python benchmarks/engine_instructions.py                       # this checkout
    python benchmarks/engine_instructions.py /path/to/old/tree .   # compare trees (each holds a graflow/ package)

Output: one JSON object per line: ``{"tree", "workload", "instructions_per_task"}`` and, when several trees are
given, ``"over_first"`` (this tree's count over the first tree's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOADS = {
    # a chain of plain tasks: the engine's own cost per task
    "linear": '''
import sys
from graflow import workflow
from graflow.core.task import TaskWrapper
with workflow("linear") as wf:
    tasks = [TaskWrapper(f"t{i}", lambda: None) for i in range(1000)]
    for a, b in zip(tasks, tasks[1:]):
        a >> b
for _ in range(int(sys.argv[1])):
    wf.execute("t0")
''',
    # one task that iterates with next_iteration: dynamic nodes, context injection
    "selfloop": '''
import sys
from graflow import task, workflow
with workflow("loop") as wf:
    @task(inject_context=True)
    def spin(ctx, data=None):
        if ctx.cycle_count < 1000:
            ctx.next_iteration()
for _ in range(int(sys.argv[1])):
    ctx = wf.create_context("spin", max_steps=10**6)
    ctx.cycle_controller.default_max_cycles = 1005
    ctx.execute()
''',
    # tasks whose parameter is filled from the channel by name (keyword resolution, D11)
    "keywords": '''
import sys
from graflow import task, workflow
with workflow("kw") as wf:
    @task(id="t0")
    def first():
        return 1
    prev = first
    for i in range(1, 1000):
        def make(i):
            @task(id=f"t{i}")
            def step(limit):
                return i + limit
            return step
        node = make(i)
        prev >> node
        prev = node
for _ in range(int(sys.argv[1])):
    wf.execute("t0", limit=5)
''',
}
TASKS_PER_RUN = 1000
REFS = re.compile(r"refs:\s+([\d,]+)")


def instructions(tree: Path, script: Path, runs: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, str(script), str(runs)],
        capture_output=True, text=True, env=env, check=True, cwd=tempfile.gettempdir(),
    )
    match = REFS.search(proc.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{proc.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", default=[str(Path(__file__).resolve().parents[1])],
                        help="source trees, each holding a graflow/ package (default: this checkout)")
    parser.add_argument("--low", type=int, default=1, help="runs of the short measurement")
    parser.add_argument("--high", type=int, default=4, help="runs of the long measurement")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print(json.dumps({"status": "skipped", "reason": "valgrind is not installed (apt-get install valgrind)"}))
        return 0
    first: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            script = Path(tmp) / f"{name}.py"
            script.write_text(WORKLOADS[name], encoding="utf-8")
            for tree in args.trees:
                low, high = instructions(Path(tree), script, args.low), instructions(Path(tree), script, args.high)
                per_task = (high - low) / ((args.high - args.low) * TASKS_PER_RUN)
                line = {"tree": tree, "workload": name, "instructions_per_task": round(per_task)}
                if name in first:
                    line["over_first"] = round(per_task / first[name], 4)
                else:
                    first[name] = per_task
                print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
