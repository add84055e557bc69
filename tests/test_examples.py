"""Every example runs and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=path.parent)


def test_showcase_prints_graph_order_and_results() -> None:
    proc = _run(EXAMPLES / "showcase.py")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "=== Workflow 'order_pipeline' Information ===" in out
    assert "╔═════════╗" in out and "graph TD;" in out
    assert "status:            completed" in out
    assert " 2. analyse (in parallel: total_revenue, units_per_sku, exchange_rate)" in out
    assert "'revenue_usd': 415.25" in out
    assert "approved after 3 rounds" in out
    assert "exchange rate:     1.1 after 3 attempts [0, 1, 2]" in out


LOCAL_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.py") if p.name != "showcase.py" and "distributed" not in p.name
                        and "redis" not in p.name)


@pytest.mark.parametrize("path", LOCAL_EXAMPLES, ids=[p.name for p in LOCAL_EXAMPLES])
def test_local_example_runs(path: Path) -> None:
    proc = _run(path)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("worker_processes", ["0", "2"], ids=["in-process-workers", "worker-processes"])
def test_distributed_example_runs_against_redis(redis_url: str, worker_processes: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAFLOW_REDIS_URL": redis_url}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "distributed_workflow.py"), "--worker-processes", worker_processes],
        capture_output=True, text=True, timeout=300, env=env, cwd=EXAMPLES,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "Total aggregated: 3300 records" in proc.stdout
