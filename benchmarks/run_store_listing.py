"""How fast the run store lists runs when it holds many: the latest page of 100,000 runs, filtered or not.

Usage::

    python benchmarks/run_store_listing.py [--runs 100000] [--limit 50] [--repeat 21] [--url sqlite:///path]

Builds a store (a fresh SQLite file in a temporary folder unless ``--url`` names another; a PostgreSQL URL should
point at an empty database or schema) holding ``--runs`` runs of 20 workflows spread over 30 days, with the status
mix of a busy installation: mostly completed, some failed, a few paused, canceled, running and crashed (running
runs whose heartbeat expired). Then times ``list_runs`` for each query below, on a freshly opened store (``cold_ms``:
the first call) and then ``--repeat`` times (``median_ms``, ``p95_ms``). One JSON object per line; the first one
describes the store. Target: every ``median_ms`` under 50 on SQLite.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graflow.runs import RunRecord, RunStore, WriteBatch, open_run_store

NOW = time.time()
STATUS_MIX = [("completed", 0.83), ("failed", 0.1), ("paused", 0.02), ("canceled", 0.02), ("terminated", 0.01),
              ("running", 0.01), ("dead", 0.01)]
WORKFLOWS = [f"workflow_{i:02d}" for i in range(20)]


def make_runs(count: int, seed: int = 7) -> list[RunRecord]:
    """``count`` runs over the last 30 days, the newest last."""
    rng = random.Random(seed)
    statuses, weights = zip(*STATUS_MIX, strict=True)
    runs = []
    for i in range(count):
        created = NOW - 30 * 86_400 * (1 - i / count)
        status = rng.choices(statuses, weights)[0]
        run = RunRecord(f"run-{i:07d}-{rng.getrandbits(32):08x}", rng.choice(WORKFLOWS), "running",
                        created_at=created, started_at=created, parameters={"n": i, "source": "bench"},
                        history=[["created", created], ["running", created]])
        if status in ("running", "dead"):
            run.heartbeat_at = NOW - (5 if status == "running" else 3600)
            run.expires_at = run.heartbeat_at + 30
        else:
            run.transition(status, created + rng.uniform(0.1, 600))
            run.ended_at = run.updated_at
            run.result_preview = repr({"rows": i})
            if status == "failed":
                run.error_type, run.error_message = "TaskFailedError", f"Task 'load' failed: ValueError: row {i}"
        runs.append(run)
    return runs


def fill(store: RunStore, runs: list[RunRecord], chunk: int = 5000) -> float:
    start = time.perf_counter()
    for i in range(0, len(runs), chunk):
        store.apply(WriteBatch(runs=runs[i: i + chunk]))
    return time.perf_counter() - start


def queries(store: RunStore, limit: int) -> dict[str, dict[str, Any]]:
    """Name -> list_runs arguments. The cursors come from the store as it is."""
    page = store.list_runs(limit=limit)
    deep_cursor = None
    for _ in range(20):  # the 21st page: 1,000 runs down with the default limit
        deep_cursor = store.list_runs(limit=limit, cursor=deep_cursor).next_cursor
    failed_page = store.list_runs(status="failed", limit=limit)
    return {
        "latest": {},
        "latest_page_2": {"cursor": page.next_cursor},
        "latest_page_21": {"cursor": deep_cursor},
        "status_failed": {"status": "failed"},
        "status_failed_page_2": {"status": "failed", "cursor": failed_page.next_cursor},
        "status_paused": {"status": "paused"},
        "status_running": {"status": "running"},
        "status_crashed": {"status": "crashed"},
        "status_failed_or_canceled": {"status": ["failed", "canceled"]},
        "workflow": {"workflow": WORKFLOWS[3]},
        "workflow_and_status_failed": {"workflow": WORKFLOWS[3], "status": "failed"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--url", help="store to fill (default: a new SQLite file in a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="graflow-run-listing-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'runs.db'}"
        store = open_run_store(url)
        fill_s = fill(store, make_runs(args.runs))
        store.close()
        size = (Path(tmp) / "runs.db").stat().st_size if args.url is None else None
        print(json.dumps({"benchmark": "run_store_listing", "workload": "setup", "store": url.split(":")[0],
                          "runs": args.runs, "limit": args.limit, "fill_s": round(fill_s, 3), "db_bytes": size,
                          "python": sys.version.split()[0]}), flush=True)
        store = open_run_store(url)
        try:
            for name, kwargs in queries(store, args.limit).items():
                store.close()
                store = open_run_store(url)  # cold: a new connection, nothing prepared
                start = time.perf_counter()
                page = store.list_runs(limit=args.limit, **kwargs)
                cold = time.perf_counter() - start
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    store.list_runs(limit=args.limit, **kwargs)
                    times.append(time.perf_counter() - start)
                times.sort()
                print(json.dumps({
                    "benchmark": "run_store_listing",
                    "query": name,
                    "filters": {k: v for k, v in kwargs.items() if k != "cursor"},
                    "paged": "cursor" in kwargs,
                    "returned": len(page.runs),
                    "cold_ms": round(cold * 1e3, 3),
                    "median_ms": round(statistics.median(times) * 1e3, 3),
                    "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1e3, 3),
                    "under_50ms": statistics.median(times) < 0.05,
                }), flush=True)
        finally:
            store.close()


if __name__ == "__main__":
    main()
