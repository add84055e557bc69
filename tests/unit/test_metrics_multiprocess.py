"""Forked worker processes aggregate into one /metrics view in prometheus-client multi-process mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

# prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first imported, so the scenario runs in a fresh
# interpreter: it forks two children that each run real workflows, then the parent aggregates their files.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys

    from graflow.core.decorators import task
    from graflow.core.workflow import workflow
    from graflow.observability.metrics import MetricsHook
    from graflow.observability.prometheus import exposition_registry, mark_process_dead, multiprocess_enabled
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    RUNS = {0: 3, 1: 5}

    def child(index):
        hook = MetricsHook()
        for _ in range(RUNS[index]):
            with workflow("forked", hooks=[hook]) as wf:
                @task
                def first():
                    return 1
                @task
                def second():
                    return 2
                first >> second
                wf.execute()
        hook.on_queue_depth(queue="jobs", depth=10 + index)

    pids = []
    for index in (0, 1):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(index)
            except BaseException:
                import traceback; traceback.print_exc()
                code = 1
            os._exit(code)
        pids.append(pid)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
        mark_process_dead(pid)
    text = generate_latest(exposition_registry()).decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + json.dumps(dict(sorted(s.labels.items())))
            values[key] = values.get(key, 0) + s.value
    print(json.dumps({"multiprocess": multiprocess_enabled(), "codes": codes, "values": values,
                      "pids": pids}))
    """
)


def test_two_forked_processes_are_summed(tmp_path: Path) -> None:
    # given an empty multi-process directory
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    # when two forked children run 3 and 5 workflows of two tasks each
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    values = report["values"]

    def get(name: str, **labels: str) -> float:
        return float(values.get(name + json.dumps(dict(sorted(labels.items()))), 0.0))

    # then the aggregate counts both processes' work
    assert report["multiprocess"] is True
    assert report["codes"] == [0, 0]
    assert get("graflow_tasks_total", status="success", task="first", workflow="forked") == 8
    assert get("graflow_tasks_total", status="success", task="second", workflow="forked") == 8
    assert get("graflow_workflow_runs_total", status="success", workflow="forked") == 8
    assert get("graflow_task_duration_seconds_count", task="first", workflow="forked") == 8
    # build info is one series, not one per process
    build = [k for k in values if k.startswith("graflow_build_info")]
    assert len(build) == 1 and values[build[0]] == 1
    # live gauges of exited processes are dropped once they are marked dead
    assert not [k for k in values if k.startswith("graflow_queue_depth")]
    assert get("graflow_tasks_in_flight", workflow="forked") == 0
    # each child wrote its own files
    assert len(list(mp_dir.glob("counter_*.db"))) >= 2
